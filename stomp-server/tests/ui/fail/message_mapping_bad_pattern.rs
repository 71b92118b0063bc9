#![allow(unused_variables, dead_code)]

use stomp_server::message_mapping;

#[message_mapping("/chat/<room")]
pub fn unclosed(room: String) {}

#[message_mapping("/chat/room-<id>")]
pub fn partial(id: String) {}

#[message_mapping("/a/**/b")]
pub fn tail_not_last() {}

#[message_mapping]
pub fn missing() {}

#[message_mapping("/a", "/b")]
pub fn two() {}

#[message_mapping(path = "/a")]
pub fn named() {}

fn main() {}
