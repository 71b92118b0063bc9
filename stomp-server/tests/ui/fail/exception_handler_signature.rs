#![allow(unused_variables, dead_code)]

use stomp_server::message_exception_handler;

#[message_exception_handler]
pub fn no_error() {}

pub struct NotAnError;

#[message_exception_handler]
pub fn not_an_error(e: NotAnError) {}

fn main() {}
