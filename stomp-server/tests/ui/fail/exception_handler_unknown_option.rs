#![allow(unused_variables, dead_code)]

use stomp_server::message_exception_handler;

#[message_exception_handler(globl)]
pub fn misspelled(e: std::io::Error) {}

#[message_exception_handler(global = true)]
pub fn with_value(e: std::io::Error) {}

fn main() {}
