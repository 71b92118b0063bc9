// The root of `stomp_server` is curated: the code-generation plumbing is only in the hidden
// `__private` module, and settings and the SPI live in named modules (the compiler names
// them).
use stomp_server::{HandlerDescriptor, HandlerThunk, Limits, Outcome, SimpleBroker};

fn main() {}
