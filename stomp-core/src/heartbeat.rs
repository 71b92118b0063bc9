//! The `heart-beat` header and its negotiation. (API fixed; body being written.)

use std::time::Duration;

/// One side's `heart-beat` header: `outgoing,incoming` in milliseconds, 0 meaning none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeartBeat {
    /// The smallest interval at which this side can send heart-beats (0: cannot).
    pub outgoing_ms: u32,
    /// The interval at which this side wants to receive heart-beats (0: does not want any).
    pub incoming_ms: u32,
}

/// The outcome of negotiation, seen from the local side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NegotiatedHeartBeat {
    /// How often the local side must send something (`None`: never).
    pub send_every: Option<Duration>,
    /// How often the remote side promised to send something (`None`: no promise).
    pub expect_every: Option<Duration>,
}

impl HeartBeat {
    /// Parses `"cx,cy"`; `None` when malformed.
    pub fn parse(text: &str) -> Option<HeartBeat> {
        let _ = text;
        todo!()
    }

    /// Negotiates per the spec: the local side sends every `max(local.outgoing,
    /// remote.incoming)` when both are non-zero, and expects the remote every
    /// `max(remote.outgoing, local.incoming)` when both are non-zero.
    pub fn negotiate(local: HeartBeat, remote: HeartBeat) -> NegotiatedHeartBeat {
        let _ = (local, remote);
        todo!()
    }
}

impl std::fmt::Display for HeartBeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{}", self.outgoing_ms, self.incoming_ms)
    }
}
