#![allow(unused_variables, dead_code)]

use stomp_server::message_mapping;

#[message_mapping("/files")]
pub fn upload(file: std::fs::File) {}

fn main() {}
