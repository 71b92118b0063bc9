#![allow(unused_variables, dead_code)]

use stomp_server::{send_to, send_to_user};

#[send_to("/topic/a")]
pub fn alone() {}

#[send_to_user]
pub struct NotAFunction;

fn main() {}
