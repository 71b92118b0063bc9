//! Authorization rules for what clients send (Spring Security's message matchers,
//! `MessageMatcherDelegatingAuthorizationManager`).
//!
//! Rules match a frame by its type, its destination (the same patterns as mappings, with
//! the server's separator), or both, and decide: permit all, authenticated, has role or
//! authority, deny, or a test of your own. They are tried in order and the first match
//! decides; a frame no rule matches is denied unless
//! [`permit_unmatched`](MessageSecurityBuilder::permit_unmatched) says otherwise (Spring
//! Security 6 denies it too).
//!
//! ```
//! use stomp_server::authorization::{MessageSecurity, MessageType};
//!
//! let rules = MessageSecurity::builder()
//!     .type_matchers([MessageType::Connect, MessageType::Disconnect]).permit_all()
//!     .dest_matchers(["/app/admin/**"]).has_role("ADMIN")
//!     .send_dest_matchers(["/topic/**", "/queue/**"]).deny_all()
//!     .subscribe_dest_matchers(["/queue/**"]).deny_all()
//!     .any_message().authenticated()
//!     .build()?;
//! # let _ = rules;
//! # Ok::<(), stomp_server::authorization::SecurityConfigError>(())
//! ```
//!
//! Given to the server with
//! [`StompServerBuilder::message_security`](crate::StompServerBuilder::message_security), they
//! are evaluated for every frame a client sends, after the channel interceptors (which may
//! set the principal on `CONNECT`) and before handlers and the broker. A refusal is an
//! `ERROR` frame naming the rule (`access denied by rule #3 (SEND /topic/** /queue/**:
//! deny)`), then the session closes; the server logs it and counts it in
//! [`StatsSnapshot::access_denied`](crate::stats::StatsSnapshot::access_denied).
//!
//! Whatever the rules say, a session never subscribes to another user's destinations
//! (`/user/{other}/..`) or to the broker names of another session's (`..-user{session}`):
//! the routing refuses both.
//!
//! Layout: `matcher` (types and destinations), `access` (the outcomes and their context),
//! `builder` (the builder and its errors).

mod access;
mod builder;
mod matcher;
#[cfg(test)]
mod tests;

use std::fmt;

pub use access::AuthorizationContext;
pub use builder::{MessageSecurityBuilder, RuleBuilder, SecurityConfigError};
pub use matcher::MessageType;

use access::Access;
use matcher::MessageMatcher;

/// One rule: the frames it matches and what it grants them.
#[derive(Debug, Clone)]
struct Rule {
    matcher: MessageMatcher,
    access: Access,
}

/// Compiled authorization rules; see the [module](self) for how they are evaluated.
/// Cloning shares nothing mutable (the rules are read-only once built).
#[derive(Debug, Clone)]
pub struct MessageSecurity {
    rules: Vec<Rule>,
    /// What a frame no rule matches gets.
    permit_unmatched: bool,
    /// The separator the destination patterns were compiled with.
    separator: char,
}

impl MessageSecurity {
    /// A builder with no rules, denying what no rule matches.
    pub fn builder() -> MessageSecurityBuilder {
        MessageSecurityBuilder::new()
    }

    /// Decides a frame: `Ok` when granted, else which rule denied it. Allocates nothing
    /// unless it denies.
    pub fn check(&self, context: &AuthorizationContext<'_>) -> Result<(), AccessDenied> {
        let found = self.rules.iter().enumerate().find(|(_, rule)| {
            rule.matcher
                .matches(context.message_type, context.destination)
        });
        match found {
            Some((_, rule)) if rule.access.grants(context) => Ok(()),
            None if self.permit_unmatched => Ok(()),
            Some((index, rule)) => Err(AccessDenied {
                rule: Some(index + 1),
                reason: format!("{}: {}", rule.matcher, rule.access),
            }),
            None => Err(AccessDenied {
                rule: None,
                reason: format!(
                    "{} {}",
                    context.message_type,
                    context.destination.unwrap_or("(no destination)")
                ),
            }),
        }
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are no rules (every frame gets the unmatched decision).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// `Ok` when the patterns were compiled with `separator`, the server's.
    pub(crate) fn fits_separator(&self, separator: char) -> Result<(), SecurityConfigError> {
        if self.separator == separator {
            Ok(())
        } else {
            Err(SecurityConfigError::Separator {
                rules: self.separator,
                server: separator,
            })
        }
    }

    /// The separator its destination patterns use (`/` unless
    /// [`path_separator`](MessageSecurityBuilder::path_separator) said otherwise).
    pub fn separator(&self) -> char {
        self.separator
    }
}

/// A frame the rules refused; its text is the `ERROR` frame's `message` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AccessDenied {
    /// The 1-based number of the rule that denied it, in the order rules were added;
    /// `None` when no rule matched and unmatched frames are denied.
    pub rule: Option<usize>,
    /// The rule (`SEND /topic/**: deny`), or the frame no rule matched (`SEND /x`).
    pub reason: String,
}

impl fmt::Display for AccessDenied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            Some(rule) => write!(f, "access denied by rule #{rule} ({})", self.reason),
            None => write!(
                f,
                "access denied: no rule matches {} and unmatched messages are denied",
                self.reason
            ),
        }
    }
}
