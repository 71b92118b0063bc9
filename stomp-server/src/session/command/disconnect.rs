//! `DISCONNECT`: the client ends the session, after its receipt.

use std::ops::ControlFlow;

use stomp_core::Frame;

use crate::session::end::End;
use crate::session::end::Flow;
use crate::session::state::SessionState;

/// Answers the `DISCONNECT`'s receipt and ends the session.
pub(super) fn execute(state: &SessionState<'_>, frame: &Frame) -> Flow {
    state.receipt(frame);
    ControlFlow::Break(End::Client("DISCONNECT"))
}
