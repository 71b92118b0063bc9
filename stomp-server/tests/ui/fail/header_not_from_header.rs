#![allow(unused_variables, dead_code)]

use stomp_server::message_mapping;

#[message_mapping("/upload")]
pub fn upload(#[header("x-file")] file: std::fs::File) {}

fn main() {}
