//! [`Transactions`]: the open transactions of a session and the `SEND`, `ACK` and `NACK`
//! frames they hold until `COMMIT`, bounded in bytes by `max_transaction_bytes`.

use std::collections::HashMap;

use bytes::Bytes;
use stomp_core::Frame;

use super::error::CommandError;

/// What an open transaction costs besides its frames.
pub(super) const TRANSACTION_OVERHEAD: usize = 64;

/// The open transactions of a session and what they hold, bounded in bytes.
#[derive(Debug)]
pub(in crate::session) struct Transactions {
    /// Held frames by transaction name.
    open: HashMap<String, Vec<Frame>>,
    /// What the open transactions hold, in bytes.
    bytes: usize,
    /// `max_transaction_bytes`.
    limit: usize,
}

impl Transactions {
    /// No transaction open; together they may hold at most `limit` bytes.
    pub(in crate::session) fn new(limit: usize) -> Transactions {
        Transactions {
            open: HashMap::new(),
            bytes: 0,
            limit,
        }
    }

    /// True when `name` is open.
    pub(super) fn is_open(&self, name: &str) -> bool {
        self.open.contains_key(name)
    }

    /// Opens `name`.
    pub(super) fn begin(&mut self, name: &str) -> Result<(), CommandError> {
        if self.is_open(name) {
            return Err(CommandError::DuplicateTransaction(name.to_owned()));
        }
        self.reserve(TRANSACTION_OVERHEAD + name.len())?;
        self.open.insert(name.to_owned(), Vec::new());
        Ok(())
    }

    /// Holds `frame` in the open transaction `name`, with a body of its own.
    pub(super) fn hold(&mut self, name: &str, frame: Frame) -> Result<(), CommandError> {
        if !self.is_open(name) {
            return Err(CommandError::UnknownTransaction(name.to_owned()));
        }
        self.reserve(held_size(&frame))?;
        if let Some(held) = self.open.get_mut(name) {
            held.push(detached(frame));
        }
        Ok(())
    }

    /// Closes `name` and returns what it held, in the order it was held.
    pub(super) fn finish(&mut self, name: &str) -> Result<Vec<Frame>, CommandError> {
        let held = self
            .open
            .remove(name)
            .ok_or_else(|| CommandError::UnknownTransaction(name.to_owned()))?;
        let size = TRANSACTION_OVERHEAD + name.len() + held.iter().map(held_size).sum::<usize>();
        self.bytes = self.bytes.saturating_sub(size);
        Ok(held)
    }

    /// Counts `size` more bytes; refused past the limit.
    fn reserve(&mut self, size: usize) -> Result<(), CommandError> {
        if self.bytes + size > self.limit {
            return Err(CommandError::TransactionBytes(self.limit));
        }
        self.bytes += size;
        Ok(())
    }
}

/// `frame` with a body of its own. A decoded body is a slice of the session's receive
/// buffer and would keep that whole buffer (up to two maximum-size messages) alive, so a
/// frame held for a while owns a copy and counts for what it really holds.
fn detached(mut frame: Frame) -> Frame {
    frame.body = Bytes::copy_from_slice(&frame.body);
    frame
}

/// The bytes a held frame counts for: its body and headers, plus a little bookkeeping.
pub(super) fn held_size(frame: &Frame) -> usize {
    32 + frame.body.len()
        + frame
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use stomp_core::{names, Command, Frame};

    use super::{held_size, Transactions, TRANSACTION_OVERHEAD};

    fn send(body: &'static [u8]) -> Frame {
        let mut frame = Frame::new(Command::Send).header(names::DESTINATION, "/queue/a");
        frame.body = body.into();
        frame
    }

    #[test]
    fn a_second_begin_of_an_open_transaction_is_refused() {
        let mut transactions = Transactions::new(1024);
        transactions.begin("tx").unwrap();
        let error = transactions.begin("tx").unwrap_err();
        assert_eq!(error.to_string(), "transaction `tx` is already open");
    }

    #[test]
    fn an_unknown_transaction_is_refused_on_hold_commit_and_abort() {
        let mut transactions = Transactions::new(1024);
        let error = transactions.finish("nope").unwrap_err();
        assert_eq!(error.to_string(), "unknown transaction `nope`");
        let error = transactions.hold("nope", send(b"x")).unwrap_err();
        assert_eq!(error.to_string(), "unknown transaction `nope`");
    }

    #[test]
    fn what_a_transaction_held_comes_back_in_order() {
        let mut transactions = Transactions::new(1024);
        transactions.begin("tx").unwrap();
        transactions.hold("tx", send(b"one")).unwrap();
        transactions.hold("tx", send(b"two")).unwrap();
        let held = transactions.finish("tx").unwrap();
        let bodies: Vec<&[u8]> = held.iter().map(|f| &f.body[..]).collect();
        assert_eq!(bodies, [&b"one"[..], &b"two"[..]]);
        assert_eq!(transactions.bytes, 0);
        assert!(
            transactions.finish("tx").is_err(),
            "a finished transaction is closed"
        );
    }

    #[test]
    fn held_bytes_are_bounded_and_given_back_when_a_transaction_ends() {
        let limit = TRANSACTION_OVERHEAD + 2 + held_size(&send(b"0123456789"));
        let mut transactions = Transactions::new(limit);
        transactions.begin("tx").unwrap();
        transactions.hold("tx", send(b"0123456789")).unwrap();
        let error = transactions.hold("tx", send(b"x")).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("open transactions would hold more than {limit} bytes (max_transaction_bytes)")
        );
        transactions.finish("tx").unwrap();
        transactions.begin("tx").unwrap();
        transactions.hold("tx", send(b"0123456789")).unwrap();
    }
}
