#![allow(unused_variables, dead_code)]

use stomp_server::message_mapping;

#[message_mapping("/chat/<room>")]
mod chat {
    use stomp_server::message_mapping;

    #[message_mapping("/<room>")]
    pub fn post(room: String) {}
}

#[message_mapping("/bad/<")]
mod bad {}

fn main() {}
