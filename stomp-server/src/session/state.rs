//! [`SessionState`]: what the commands of one connected session share, and the one place
//! where a refused command becomes an `ERROR` frame.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use stomp_core::{names, Command, DecodeError, Frame};

use super::close::decode_status;
use super::command::error::CommandError;
use super::command::held::Transactions;
use super::context::SessionContext;
use super::end::End;
use crate::peer::error_frame;
use crate::peer::CloseStatus;
use crate::peer::SessionHandle;

/// Per-session state the command units share.
pub(super) struct SessionState<'a> {
    pub(super) context: &'a Arc<SessionContext>,
    pub(super) session: &'a Arc<SessionHandle>,
    /// The client's address, for the log.
    pub(super) remote: SocketAddr,
    /// Every subscription of the session by id: broker ones and those answered by
    /// `#[subscribe_mapping]` (not stored in the broker, so that their `UNSUBSCRIBE` is
    /// accepted). Counted against `max_subscriptions_per_session`.
    pub(super) subscriptions: HashMap<String, Subscribed>,
    /// `SEND`, `ACK` and `NACK` frames held by open transactions.
    pub(super) transactions: Transactions,
}

/// One subscription of the session.
pub(super) struct Subscribed {
    /// The destination as the client wrote it.
    pub(super) destination: String,
    /// True when a `#[subscribe_mapping]` answered it (the broker does not know it).
    pub(super) application: bool,
}

impl<'a> SessionState<'a> {
    /// The state of a session that was just connected.
    pub(super) fn new(
        context: &'a Arc<SessionContext>,
        session: &'a Arc<SessionHandle>,
        remote: SocketAddr,
    ) -> Self {
        SessionState {
            context,
            session,
            remote,
            subscriptions: HashMap::new(),
            transactions: Transactions::new(context.limits.max_transaction_bytes),
        }
    }

    /// Queues an `ERROR` frame, counted as sent.
    pub(super) fn send_error(&self, message: &str, receipt: Option<&str>) {
        self.context.stats.error_sent();
        self.session
            .outbound
            .push_frame(&error_frame(message, receipt), self.session.version);
    }

    /// The one place a refused command becomes an `ERROR` frame (with the frame's receipt
    /// as its `receipt-id`) and the end of the session with a protocol error (1002), as
    /// Spring does.
    pub(super) fn reject(&self, error: &CommandError, receipt: Option<&str>) -> End {
        let receipt = receipt.filter(|_| error.carries_receipt());
        self.fail_with(error.to_string(), receipt, CloseStatus::Protocol)
    }

    /// Sends an `ERROR` and ends the session, closing with `status`.
    pub(super) fn fail_with(
        &self,
        message: String,
        receipt: Option<&str>,
        status: CloseStatus,
    ) -> End {
        tracing::debug!(session = %self.session.id, reason = %crate::log::Escaped(&message), "sending ERROR");
        self.send_error(&message, receipt);
        End::Error(message, status)
    }

    /// Answers a frame the decoder refused and ends the session.
    pub(super) fn decode_failed(&self, error: &DecodeError) -> End {
        self.context.stats.decode_error();
        tracing::debug!(session = %self.session.id, error = %crate::log::Escaped(error), "malformed frame");
        self.send_error(&error.to_string(), None);
        End::Error(error.to_string(), decode_status(error))
    }

    /// Sends the `RECEIPT` a frame asked for, if it asked.
    pub(super) fn receipt(&self, frame: &Frame) {
        self.receipt_id(frame.receipt());
    }

    /// Sends a `RECEIPT` with this `receipt-id`, if there is one.
    pub(super) fn receipt_id(&self, receipt: Option<&str>) {
        if let Some(receipt) = receipt {
            let reply = Frame::new(Command::Receipt).header(names::RECEIPT_ID, receipt);
            self.context.stats.receipt_sent();
            self.session
                .outbound
                .push_frame(&reply, self.session.version);
        }
    }
}
