#![allow(unused_variables, dead_code)]

use stomp_server::{message_mapping, send_to, send_to_user};

#[message_mapping("/chat/<room>")]
#[send_to("/topic/chat/<rom>", "/topic/<user>")]
pub fn post(room: String) {}

#[message_mapping("/chat/<room>")]
#[send_to_user("/queue/<roomm>")]
pub fn reply(room: String) {}

#[message_mapping("/chat/<room>")]
#[send_to("/topic/*", "/topic/<room")]
pub fn bad_destinations(room: String) {}

#[message_mapping("/chat")]
#[send_to]
pub fn empty() {}

fn main() {}
