//! The authorization rules' one place in the inbound path: after the channel interceptors
//! (of `CONNECT` and of every later frame), before anything acts on the frame.

use stomp_core::Frame;

use super::context::SessionContext;
use crate::attributes::SessionAttributes;
use crate::authorization::{AccessDenied, AuthorizationContext};
use crate::log::Escaped;
use crate::principal::{Principal, SessionId};

impl SessionContext {
    /// Checks `frame` against the rules, if any; a refusal is logged and counted here and
    /// its text becomes the `ERROR` the caller sends.
    pub(crate) fn authorize(
        &self,
        frame: &Frame,
        principal: Option<&Principal>,
        session_id: &SessionId,
        attributes: &SessionAttributes,
    ) -> Result<(), AccessDenied> {
        let Some(rules) = &self.security else {
            return Ok(());
        };
        let context = AuthorizationContext::new(frame, principal, session_id, attributes);
        rules.check(&context).inspect_err(|denied| {
            self.stats.access_denied();
            let user = principal.map_or("(anonymous)", Principal::name);
            tracing::warn!(
                session = %session_id,
                user = %Escaped(user),
                command = %frame.command,
                destination = %Escaped(context.destination.unwrap_or("")),
                "{}",
                Escaped(denied)
            );
        })
    }
}
