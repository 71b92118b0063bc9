#![allow(unused_variables, dead_code)]

use stomp_server::{message_mapping, Principal};

#[message_mapping("/chat/<room>")]
pub fn no_param(user: Principal) {}

#[message_mapping("/chat/<room>/<user_id>")]
pub fn misspelled(rooom: String, userId: String) {}

fn main() {}
