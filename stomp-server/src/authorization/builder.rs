//! [`MessageSecurityBuilder`]: rules in order, each a matcher ([`RuleBuilder`]) then an
//! outcome; patterns are compiled and checked once, by [`build`](MessageSecurityBuilder::build).

use std::sync::Arc;

use stomp_core::{DestinationPattern, PatternError};

use super::access::{Access, AuthorizationContext};
use super::matcher::{DestinationMatch, MessageMatcher, MessageType, TypeSet};
use super::{MessageSecurity, Rule};
use crate::principal::ROLE_PREFIX;

/// What a rule asks of the destination, before its patterns are compiled.
#[derive(Debug, Clone)]
enum Destinations {
    Any,
    Null,
    Patterns(Vec<String>),
}

/// A rule as written.
#[derive(Debug, Clone)]
struct Written {
    types: TypeSet,
    destinations: Destinations,
    access: Access,
}

/// Builds [`MessageSecurity`] (Spring Security's `MessageMatcherDelegatingAuthorizationManager
/// .Builder`): each matcher method starts a rule, each outcome method of the
/// [`RuleBuilder`] it returns ends it. Rules are tried in the order they were added.
#[derive(Debug, Clone)]
#[must_use]
pub struct MessageSecurityBuilder {
    rules: Vec<Written>,
    permit_unmatched: bool,
    separator: char,
}

/// A rule's matcher, waiting for its outcome.
#[derive(Debug, Clone)]
#[must_use = "a rule needs an outcome: permit_all(), authenticated(), has_role(..), deny_all(), ..."]
pub struct RuleBuilder {
    builder: MessageSecurityBuilder,
    types: TypeSet,
    destinations: Destinations,
}

/// Rules that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityConfigError {
    /// A destination pattern does not parse.
    #[error("authorization rule #{rule}: bad destination pattern `{pattern}`: {error}")]
    Pattern {
        /// The rule's number (1-based).
        rule: usize,
        /// The pattern as written.
        pattern: String,
        /// Why it does not parse.
        error: PatternError,
    },
    /// A matcher was given no pattern or no type, so it would match nothing.
    #[error("authorization rule #{0}: an empty list of destinations, types, roles or authorities matches nothing")]
    Empty(usize),
    /// A role written with its `ROLE_` prefix (Spring refuses it too: `has_role("ADMIN")`
    /// checks the authority `ROLE_ADMIN`).
    #[error("authorization rule #{rule}: role `{role}` should not start with `ROLE_`; write has_role(\"{}\") or has_authority(\"{role}\")", &role[ROLE_PREFIX.len()..])]
    RolePrefix {
        /// The rule's number (1-based).
        rule: usize,
        /// The role as written.
        role: String,
    },
    /// The rules' separator differs from the server's
    /// ([`path_separator`](crate::StompServerBuilder::path_separator)).
    #[error("the authorization rules use the separator `{rules}` but the server uses `{server}`; set MessageSecurityBuilder::path_separator('{server}')")]
    Separator {
        /// The rules' separator.
        rules: char,
        /// The server's.
        server: char,
    },
}

impl MessageSecurityBuilder {
    pub(super) fn new() -> MessageSecurityBuilder {
        MessageSecurityBuilder {
            rules: Vec::new(),
            permit_unmatched: false,
            separator: '/',
        }
    }

    /// Frames of these types (Spring's `simpTypeMatchers`).
    pub fn type_matchers(self, types: impl IntoIterator<Item = MessageType>) -> RuleBuilder {
        // An empty list is TypeSet::NONE, which build() refuses.
        self.rule(TypeSet::of(types), Destinations::Any)
    }

    /// Frames of any type whose destination matches one of these patterns (Spring's
    /// `simpDestMatchers`).
    pub fn dest_matchers<I, S>(self, patterns: I) -> RuleBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rule(TypeSet::ANY, patterns_of(patterns))
    }

    /// `SUBSCRIBE` frames whose destination matches one of these patterns (Spring's
    /// `simpSubscribeDestMatchers`).
    pub fn subscribe_dest_matchers<I, S>(self, patterns: I) -> RuleBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.matchers([MessageType::Subscribe], patterns)
    }

    /// `SEND` frames whose destination matches one of these patterns (Spring's
    /// `simpMessageDestMatchers`).
    pub fn send_dest_matchers<I, S>(self, patterns: I) -> RuleBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.matchers([MessageType::Send], patterns)
    }

    /// Frames of one of these types whose destination matches one of these patterns.
    pub fn matchers<T, I, S>(self, types: T, patterns: I) -> RuleBuilder
    where
        T: IntoIterator<Item = MessageType>,
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let rule = self.type_matchers(types);
        RuleBuilder {
            destinations: patterns_of(patterns),
            ..rule
        }
    }

    /// Frames without a `destination` header: `CONNECT`, `UNSUBSCRIBE`, `ACK`, `DISCONNECT`,
    /// ... (Spring's `nullDestMatcher`).
    pub fn null_dest_matcher(self) -> RuleBuilder {
        self.rule(TypeSet::ANY, Destinations::Null)
    }

    /// Every frame (Spring's `anyMessage`); `any_message().deny_all()` last denies what
    /// the rules before it did not decide.
    pub fn any_message(self) -> RuleBuilder {
        self.rule(TypeSet::ANY, Destinations::Any)
    }

    /// Frames no rule matches are denied: the default, as in Spring Security 6.
    pub fn deny_unmatched(mut self) -> Self {
        self.permit_unmatched = false;
        self
    }

    /// Frames no rule matches are permitted (the rules then list only what they refuse or
    /// restrict).
    pub fn permit_unmatched(mut self) -> Self {
        self.permit_unmatched = true;
        self
    }

    /// Compiles destination patterns with `.` as separator (the server's
    /// [`path_separator`](crate::StompServerBuilder::path_separator) must be the same).
    pub fn path_separator(mut self, separator: char) -> Self {
        self.separator = separator;
        self
    }

    /// Compiles the rules: every pattern parsed once, every mistake named with its rule.
    pub fn build(self) -> Result<MessageSecurity, SecurityConfigError> {
        let separator = self.separator;
        let rules = self
            .rules
            .into_iter()
            .enumerate()
            .map(|(index, written)| compile(index + 1, written, separator))
            .collect::<Result<Vec<Rule>, SecurityConfigError>>()?;
        Ok(MessageSecurity {
            rules,
            permit_unmatched: self.permit_unmatched,
            separator,
        })
    }

    fn rule(self, types: TypeSet, destinations: Destinations) -> RuleBuilder {
        RuleBuilder {
            builder: self,
            types,
            destinations,
        }
    }
}

fn patterns_of<I, S>(patterns: I) -> Destinations
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Destinations::Patterns(patterns.into_iter().map(Into::into).collect())
}

/// One written rule, checked and compiled.
fn compile(number: usize, written: Written, separator: char) -> Result<Rule, SecurityConfigError> {
    if written.types == TypeSet::NONE {
        return Err(SecurityConfigError::Empty(number));
    }
    let destinations = match written.destinations {
        Destinations::Any => DestinationMatch::Any,
        Destinations::Null => DestinationMatch::Null,
        Destinations::Patterns(patterns) if patterns.is_empty() => {
            return Err(SecurityConfigError::Empty(number))
        }
        Destinations::Patterns(patterns) => DestinationMatch::Patterns(
            patterns
                .into_iter()
                .map(|pattern| {
                    DestinationPattern::parse_with_separator(&pattern, separator).map_err(|error| {
                        SecurityConfigError::Pattern {
                            rule: number,
                            pattern,
                            error,
                        }
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    if let Access::AnyRole(list) | Access::AnyAuthority(list) = &written.access {
        if list.is_empty() {
            return Err(SecurityConfigError::Empty(number));
        }
    }
    if let Access::AnyRole(roles) = &written.access {
        if let Some(role) = roles.iter().find(|r| r.starts_with(ROLE_PREFIX)) {
            return Err(SecurityConfigError::RolePrefix {
                rule: number,
                role: role.to_string(),
            });
        }
    }
    Ok(Rule {
        matcher: MessageMatcher {
            types: written.types,
            destinations,
        },
        access: written.access,
    })
}

impl RuleBuilder {
    /// Grants every session, authenticated or not (`permitAll`).
    pub fn permit_all(self) -> MessageSecurityBuilder {
        self.access_is(Access::PermitAll)
    }

    /// Denies every session (`denyAll`).
    pub fn deny_all(self) -> MessageSecurityBuilder {
        self.access_is(Access::DenyAll)
    }

    /// Grants sessions with a principal (`authenticated`).
    pub fn authenticated(self) -> MessageSecurityBuilder {
        self.access_is(Access::Authenticated)
    }

    /// Grants principals in this role: the authority `ROLE_` + `role` (`hasRole`).
    pub fn has_role(self, role: &str) -> MessageSecurityBuilder {
        self.has_any_role([role])
    }

    /// Grants principals in one of these roles (`hasAnyRole`).
    pub fn has_any_role<'r>(
        self,
        roles: impl IntoIterator<Item = &'r str>,
    ) -> MessageSecurityBuilder {
        self.access_is(Access::AnyRole(roles.into_iter().map(Box::from).collect()))
    }

    /// Grants principals with this authority (`hasAuthority`).
    pub fn has_authority(self, authority: &str) -> MessageSecurityBuilder {
        self.has_any_authority([authority])
    }

    /// Grants principals with one of these authorities (`hasAnyAuthority`).
    pub fn has_any_authority<'a>(
        self,
        authorities: impl IntoIterator<Item = &'a str>,
    ) -> MessageSecurityBuilder {
        self.access_is(Access::AnyAuthority(
            authorities.into_iter().map(Box::from).collect(),
        ))
    }

    /// Grants what `predicate` returns true for (Spring's `access(AuthorizationManager)`);
    /// `name` describes it in the `ERROR` of a refusal (`access owner of the room`).
    pub fn access<F>(self, name: &str, predicate: F) -> MessageSecurityBuilder
    where
        F: Fn(&AuthorizationContext<'_>) -> bool + Send + Sync + 'static,
    {
        self.access_is(Access::Custom(name.into(), Arc::new(predicate)))
    }

    fn access_is(self, access: Access) -> MessageSecurityBuilder {
        let mut builder = self.builder;
        builder.rules.push(Written {
            types: self.types,
            destinations: self.destinations,
            access,
        });
        builder
    }
}
