//! The `heart-beat` header and its negotiation.

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
    ///
    /// Blanks around either number are tolerated (`" 10000 , 0 "`); anything else, such as a
    /// missing or third number or a sign, is malformed.
    pub fn parse(text: &str) -> Option<HeartBeat> {
        let (outgoing, incoming) = text.split_once(',')?;
        Some(HeartBeat {
            outgoing_ms: parse_ms(outgoing)?,
            incoming_ms: parse_ms(incoming)?,
        })
    }

    /// Negotiates per the spec: the local side sends every `max(local.outgoing,
    /// remote.incoming)` when both are non-zero, and expects the remote every
    /// `max(remote.outgoing, local.incoming)` when both are non-zero.
    pub fn negotiate(local: HeartBeat, remote: HeartBeat) -> NegotiatedHeartBeat {
        NegotiatedHeartBeat {
            send_every: interval(local.outgoing_ms, remote.incoming_ms),
            expect_every: interval(remote.outgoing_ms, local.incoming_ms),
        }
    }
}

fn parse_ms(text: &str) -> Option<u32> {
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `max(can, wants)` when both sides agree to heart-beats in that direction.
fn interval(can_send_ms: u32, wants_ms: u32) -> Option<Duration> {
    if can_send_ms == 0 || wants_ms == 0 {
        return None;
    }
    Some(Duration::from_millis(u64::from(can_send_ms.max(wants_ms))))
}

impl std::fmt::Display for HeartBeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{}", self.outgoing_ms, self.incoming_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(outgoing_ms: u32, incoming_ms: u32) -> HeartBeat {
        HeartBeat {
            outgoing_ms,
            incoming_ms,
        }
    }

    #[test]
    fn parses_the_header_and_tolerates_blanks() {
        assert_eq!(HeartBeat::parse("0,0"), Some(hb(0, 0)));
        assert_eq!(HeartBeat::parse("10000,20000"), Some(hb(10000, 20000)));
        assert_eq!(HeartBeat::parse(" 100 ,\t200 "), Some(hb(100, 200)));
        assert_eq!(HeartBeat::parse(&hb(5, 6).to_string()), Some(hb(5, 6)));
    }

    #[test]
    fn rejects_malformed_headers() {
        for bad in [
            "",
            "100",
            "1,2,3",
            ",1",
            "1,",
            "-1,0",
            "+1,0",
            "a,b",
            "99999999999,0",
        ] {
            assert_eq!(HeartBeat::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn negotiates_each_direction_independently() {
        // Client: can send every 4s, wants every 6s. Server: can send every 5s, wants 8s.
        let client = hb(4000, 6000);
        let server = hb(5000, 8000);
        let at_client = HeartBeat::negotiate(client, server);
        assert_eq!(at_client.send_every, Some(Duration::from_millis(8000)));
        assert_eq!(at_client.expect_every, Some(Duration::from_millis(6000)));
        let at_server = HeartBeat::negotiate(server, client);
        assert_eq!(at_server.send_every, at_client.expect_every);
        assert_eq!(at_server.expect_every, at_client.send_every);
    }

    #[test]
    fn a_zero_on_either_side_turns_a_direction_off() {
        let none = NegotiatedHeartBeat::default();
        assert_eq!(HeartBeat::negotiate(hb(0, 0), hb(1000, 1000)), none);
        let one_way = HeartBeat::negotiate(hb(1000, 0), hb(0, 3000));
        assert_eq!(one_way.send_every, Some(Duration::from_millis(3000)));
        assert_eq!(one_way.expect_every, None);
    }
}
