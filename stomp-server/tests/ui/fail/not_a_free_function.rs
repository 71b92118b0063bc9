#![allow(unused_variables, dead_code)]

use stomp_server::{message_mapping, subscribe_mapping};

#[message_mapping("/a")]
pub fn generic<T: Send>(x: T) {}

#[message_mapping("/b")]
pub const fn constant() {}

#[message_mapping("/c")]
pub unsafe extern "C" fn raw() {}

#[message_mapping("/d")]
pub fn impl_trait(x: impl Send) {}

#[message_mapping("/e")]
pub struct NotAFunction;

#[subscribe_mapping("/f")]
pub mod subscribe_prefix {}

fn main() {}
