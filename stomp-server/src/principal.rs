//! Who a session belongs to: [`Principal`] and [`SessionId`].

use std::fmt;
use std::sync::Arc;

/// The authenticated user of a session (Spring's `java.security.Principal`).
///
/// Set by an inbound interceptor on `CONNECT` (for example from a `login` header or a bearer
/// token). User destinations (`/user/{name}/queue/..`) and `#[send_to_user]` address users by
/// this name. Cloning is a reference count.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    name: Arc<str>,
}

impl Principal {
    /// A principal with this name.
    pub fn new(name: impl Into<Arc<str>>) -> Principal {
        Principal { name: name.into() }
    }

    /// The user name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Principal({:?})", &*self.name)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The server-assigned id of a STOMP session (Spring's `simpSessionId`), sent to the client
/// in the `session` header of `CONNECTED`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(Arc<str>);

impl SessionId {
    /// A session id from text.
    pub fn new(id: impl Into<Arc<str>>) -> SessionId {
        SessionId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", &*self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
