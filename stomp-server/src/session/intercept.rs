//! Running the async inbound interceptors on a frame, each within
//! `Limits::interceptor_time`.

use tokio::time::timeout;

use super::context::SessionContext;
use crate::interceptor::InboundMessage;

/// The text of the `ERROR` when an async interceptor does not answer in time.
pub(super) const TIMED_OUT: &str = "interceptor timed out";

/// Hands `message` to every async interceptor in order; `Err` is the text of the `ERROR`
/// refusing it (a rejection's, or [`TIMED_OUT`]).
pub(super) async fn run_async_interceptors(
    context: &SessionContext,
    mut message: InboundMessage,
) -> Result<InboundMessage, String> {
    let time = context.limits.interceptor_time;
    for interceptor in &context.async_interceptors {
        let command = message.frame.command;
        let session = message.session_id.clone();
        match timeout(time, interceptor.pre_send(message)).await {
            Ok(Ok(next)) => message = next,
            Ok(Err(rejection)) => return Err(rejection.message),
            Err(_) => {
                tracing::warn!(%session, %command, "async interceptor timed out after {time:?}; closing the session");
                return Err(TIMED_OUT.to_owned());
            }
        }
    }
    Ok(message)
}
