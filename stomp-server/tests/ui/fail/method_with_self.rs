#![allow(unused_variables, dead_code)]

use stomp_server::message_mapping;

pub struct Chat;

impl Chat {
    #[message_mapping("/chat/<room>")]
    pub fn post(&self, room: String) {}
}

fn main() {}
