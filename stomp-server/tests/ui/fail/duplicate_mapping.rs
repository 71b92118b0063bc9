#![allow(unused_variables, dead_code)]

use stomp_server::{
    message_exception_handler, message_mapping, send_to, send_to_user, subscribe_mapping,
};

#[message_mapping("/a")]
#[message_mapping("/b")]
pub fn twice() {}

#[message_mapping("/a")]
#[subscribe_mapping("/a")]
pub fn both_kinds() {}

#[message_exception_handler]
#[message_mapping("/a")]
pub fn handler_and_mapping(e: std::io::Error) {}

#[message_mapping("/a")]
#[send_to("/topic/a")]
#[send_to("/topic/b")]
#[send_to_user]
#[send_to_user]
pub fn routing_twice() {}

#[send_to("/topic/a")]
#[send_to("/topic/b")]
#[message_mapping("/a")]
pub fn routing_twice_above() {}

fn main() {}
