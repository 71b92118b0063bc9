#![allow(unused_variables, dead_code)]

use stomp_server::message_mapping;

pub struct RoomId(pub String);

#[message_mapping("/chat/<room>")]
pub fn post(room: RoomId) {}

fn main() {}
