#![allow(unused_variables, dead_code)]

use stomp_server::message_mapping;

#[message_mapping("/a/<id>")]
pub fn headers(
    #[header] id: String,
    #[header(42)] number: String,
    #[header] (a, b): (String, String),
    #[header("x-a")]
    #[header("x-b")]
    twice: String,
) {
}

fn main() {}
