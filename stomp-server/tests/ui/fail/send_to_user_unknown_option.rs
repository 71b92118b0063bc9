#![allow(unused_variables, dead_code)]

use stomp_server::{message_mapping, send_to_user};

#[message_mapping("/a")]
#[send_to_user("/queue/reply", broadcst = false)]
pub fn misspelled() {}

#[message_mapping("/b")]
#[send_to_user(broadcast = "no")]
pub fn not_a_bool() {}

#[message_mapping("/c")]
#[send_to_user(broadcast)]
pub fn no_value() {}

fn main() {}
