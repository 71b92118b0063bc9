//! What a matching rule decides ([`Access`]) and what it decides from
//! ([`AuthorizationContext`]).

use std::fmt;
use std::sync::Arc;

use stomp_core::Frame;

use super::matcher::MessageType;
use crate::attributes::SessionAttributes;
use crate::principal::{Principal, SessionId};

/// What a custom rule sees of a frame and its session.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AuthorizationContext<'a> {
    /// The frame, after the channel interceptors.
    pub frame: &'a Frame,
    /// Its type.
    pub message_type: MessageType,
    /// Its `destination` header, if any.
    pub destination: Option<&'a str>,
    /// The session's user, if authenticated.
    pub principal: Option<&'a Principal>,
    /// The session's id.
    pub session_id: &'a SessionId,
    /// The session's attributes.
    pub attributes: &'a SessionAttributes,
}

impl<'a> AuthorizationContext<'a> {
    /// The context of `frame` in a session with this user, id and attributes (the server
    /// builds one for every frame; this is for calling
    /// [`MessageSecurity::check`](super::MessageSecurity::check) yourself, as in tests).
    pub fn new(
        frame: &'a Frame,
        principal: Option<&'a Principal>,
        session_id: &'a SessionId,
        attributes: &'a SessionAttributes,
    ) -> AuthorizationContext<'a> {
        AuthorizationContext {
            frame,
            message_type: MessageType::of(frame.command),
            destination: frame.destination(),
            principal,
            session_id,
            attributes,
        }
    }
}

/// A custom rule's test (Spring's `access(AuthorizationManager)`).
pub(super) type Predicate = Arc<dyn Fn(&AuthorizationContext<'_>) -> bool + Send + Sync>;

/// What a rule grants the frames it matches.
#[derive(Clone)]
pub(super) enum Access {
    /// Everyone, authenticated or not (`permitAll`).
    PermitAll,
    /// Nobody (`denyAll`).
    DenyAll,
    /// Sessions with a principal (`authenticated`).
    Authenticated,
    /// Principals with one of these roles (`hasRole`, `hasAnyRole`), without `ROLE_`.
    AnyRole(Vec<Box<str>>),
    /// Principals with one of these authorities (`hasAuthority`, `hasAnyAuthority`).
    AnyAuthority(Vec<Box<str>>),
    /// A test of the application's, under a name for the rule's description.
    Custom(Box<str>, Predicate),
}

impl Access {
    /// True when the frame in `context` is granted.
    pub(super) fn grants(&self, context: &AuthorizationContext<'_>) -> bool {
        match self {
            Access::PermitAll => true,
            Access::DenyAll => false,
            Access::Authenticated => context.principal.is_some(),
            Access::AnyRole(roles) => context
                .principal
                .is_some_and(|p| roles.iter().any(|r| p.has_role(r))),
            Access::AnyAuthority(authorities) => context
                .principal
                .is_some_and(|p| authorities.iter().any(|a| p.has_authority(a))),
            Access::Custom(_, predicate) => predicate(context),
        }
    }
}

impl fmt::Display for Access {
    /// `permit all`, `deny`, `authenticated`, `has role ADMIN`, `has any role A, B`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: &[Box<str>]| items.join(", ");
        match self {
            Access::PermitAll => f.write_str("permit all"),
            Access::DenyAll => f.write_str("deny"),
            Access::Authenticated => f.write_str("authenticated"),
            Access::AnyRole(roles) if roles.len() == 1 => write!(f, "has role {}", roles[0]),
            Access::AnyRole(roles) => write!(f, "has any role {}", list(roles)),
            Access::AnyAuthority(a) if a.len() == 1 => write!(f, "has authority {}", a[0]),
            Access::AnyAuthority(a) => write!(f, "has any authority {}", list(a)),
            Access::Custom(name, _) => write!(f, "access {name}"),
        }
    }
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Access({self})")
    }
}
