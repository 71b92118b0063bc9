//! The handler registry: collects descriptors (from `inventory` or explicitly), validates
//! them at start-up and routes destinations to handlers.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use stomp_core::{DestinationPattern, PatternError};

use super::descriptor::{
    ExceptionHandlerDescriptor, HandlerDescriptor, ReplyRouting, SourceLocation,
};
use super::error::HandlerError;
use super::invocation::MappingKind;
use crate::routing::ReplyRoute;
use crate::stats::MappingLabel;

/// The handlers a server dispatches to.
///
/// [`Handlers::collected`] takes every `#[message_mapping]`, `#[subscribe_mapping]` and
/// `#[message_exception_handler]` linked into the binary. A crate whose handlers are never
/// named by the binary is not linked and its registrations vanish: add `use my_handlers as _;`
/// where the server is built. [`Handlers::new`] starts empty, for tests that want isolation.
#[derive(Debug, Clone, Default)]
pub struct Handlers {
    mappings: Vec<HandlerDescriptor>,
    exception_handlers: Vec<ExceptionHandlerDescriptor>,
}

impl Handlers {
    /// No handler.
    pub fn new() -> Handlers {
        Handlers::default()
    }

    /// Every handler registered with the attribute macros in the linked crates.
    pub fn collected() -> Handlers {
        Handlers {
            mappings: inventory::iter::<HandlerDescriptor>
                .into_iter()
                .copied()
                .collect(),
            exception_handlers: inventory::iter::<ExceptionHandlerDescriptor>
                .into_iter()
                .copied()
                .collect(),
        }
    }

    /// Every collected handler whose module path starts with `module_prefix`
    /// (for example `module_path!()` of a test module).
    pub fn collected_in(module_prefix: &str) -> Handlers {
        let all = Handlers::collected();
        let within = |m: &str| m == module_prefix || m.starts_with(&format!("{module_prefix}::"));
        Handlers {
            mappings: all
                .mappings
                .into_iter()
                .filter(|d| within(d.location.module))
                .collect(),
            exception_handlers: all
                .exception_handlers
                .into_iter()
                .filter(|d| within(d.location.module))
                .collect(),
        }
    }

    /// Adds a mapping.
    #[must_use]
    pub fn mapping(mut self, descriptor: HandlerDescriptor) -> Handlers {
        self.mappings.push(descriptor);
        self
    }

    /// Adds an exception handler.
    #[must_use]
    pub fn exception_handler(mut self, descriptor: ExceptionHandlerDescriptor) -> Handlers {
        self.exception_handlers.push(descriptor);
        self
    }

    /// The mappings.
    pub fn mappings(&self) -> &[HandlerDescriptor] {
        &self.mappings
    }

    /// The exception handlers.
    pub fn exception_handlers(&self) -> &[ExceptionHandlerDescriptor] {
        &self.exception_handlers
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.mappings.is_empty() && self.exception_handlers.is_empty()
    }
}

/// Why the handlers cannot serve: the server refuses to start.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A mapping's pattern does not parse with the configured separator.
    #[error("invalid destination pattern `{pattern}` at {location}: {error}")]
    InvalidPattern {
        /// The pattern.
        pattern: &'static str,
        /// Where it was declared.
        location: SourceLocation,
        /// Why.
        error: PatternError,
    },
    /// Two mappings would both handle some destination with equal specificity.
    #[error("ambiguous {kind} mappings `{first_pattern}` at {first} and `{second_pattern}` at {second}: both match the same destinations with the same specificity")]
    Ambiguous {
        /// `message_mapping` or `subscribe_mapping`.
        kind: &'static str,
        /// The first pattern.
        first_pattern: &'static str,
        /// Where it was declared.
        first: SourceLocation,
        /// The second pattern.
        second_pattern: &'static str,
        /// Where it was declared.
        second: SourceLocation,
    },
    /// Two exception handlers of one scope take the same error type.
    #[error("two exception handlers for `{error_type}` in the same scope: {first} and {second}")]
    DuplicateExceptionHandler {
        /// The error type.
        error_type: &'static str,
        /// Where the first was declared.
        first: SourceLocation,
        /// Where the second was declared.
        second: SourceLocation,
    },
}

/// One routable mapping.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) pattern: DestinationPattern,
    pub(crate) variable_names: Arc<[Box<str>]>,
    pub(crate) descriptor: HandlerDescriptor,
    /// Where its replies go, compiled from `descriptor.routing` at start-up.
    pub(crate) reply: ReplyRoute,
    /// Its registry index: its slot in the per-mapping stats.
    pub(crate) slot: usize,
}

/// Routes lookup destinations of one [`MappingKind`] to handlers.
#[derive(Debug, Default)]
pub(crate) struct Router {
    /// Literal patterns, looked up directly (as Spring does first).
    exact: HashMap<String, usize>,
    /// All routes, most specific first.
    routes: Vec<Route>,
}

impl Router {
    /// The most specific route matching `lookup`, with the byte ranges of its variables.
    pub(crate) fn find(&self, lookup: &str) -> Option<(&Route, Vec<Range<usize>>)> {
        if let Some(&index) = self.exact.get(lookup) {
            return Some((&self.routes[index], Vec::new()));
        }
        let base = lookup.as_ptr() as usize;
        self.routes.iter().find_map(|route| {
            let captures = route.pattern.matches(lookup)?;
            let ranges = captures
                .iter()
                .map(|(_, value)| {
                    let start = value.as_ptr() as usize - base;
                    start..start + value.len()
                })
                .collect();
            Some((route, ranges))
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.routes.len()
    }
}

/// The validated registry the server dispatches with.
#[derive(Debug)]
pub(crate) struct Registry {
    pub(crate) messages: Router,
    pub(crate) subscriptions: Router,
    /// Sorted: module-scoped first by specificity, then global by specificity.
    exception_handlers: Vec<ExceptionHandlerDescriptor>,
    /// Where each exception handler's replies go, in the same order.
    exception_replies: Vec<ReplyRoute>,
    /// Every mapping's kind and pattern, by registry index ([`Route::slot`]).
    mapping_labels: Vec<MappingLabel>,
}

impl Registry {
    /// Validates and indexes `handlers` for patterns split on `separator`.
    pub(crate) fn build(handlers: &Handlers, separator: char) -> Result<Registry, RegistryError> {
        let mut messages = Vec::new();
        let mut subscriptions = Vec::new();
        for (slot, descriptor) in handlers.mappings.iter().enumerate() {
            let pattern = DestinationPattern::parse_with_separator(descriptor.pattern, separator)
                .map_err(|error| RegistryError::InvalidPattern {
                pattern: descriptor.pattern,
                location: descriptor.location,
                error,
            })?;
            let variable_names: Arc<[Box<str>]> = pattern.variables().map(Box::from).collect();
            let route = Route {
                pattern,
                variable_names,
                descriptor: *descriptor,
                reply: compile_reply(&descriptor.routing),
                slot,
            };
            match descriptor.kind {
                MappingKind::Message => messages.push(route),
                MappingKind::Subscribe => subscriptions.push(route),
            }
        }
        let mut exception_handlers = handlers.exception_handlers.clone();
        exception_handlers.sort_by(|a, b| {
            (a.global, a.specificity, a.location.module, a.error_type).cmp(&(
                b.global,
                b.specificity,
                b.location.module,
                b.error_type,
            ))
        });
        for pair in exception_handlers.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let same_scope =
                a.global == b.global && (a.global || a.location.module == b.location.module);
            if same_scope && a.error_type == b.error_type {
                return Err(RegistryError::DuplicateExceptionHandler {
                    error_type: a.error_type,
                    first: a.location,
                    second: b.location,
                });
            }
        }
        let exception_replies = exception_handlers
            .iter()
            .map(|d| compile_reply(&d.routing))
            .collect();
        Ok(Registry {
            messages: router(messages, "message_mapping")?,
            subscriptions: router(subscriptions, "subscribe_mapping")?,
            exception_handlers,
            exception_replies,
            mapping_labels: handlers.mappings.iter().map(mapping_label).collect(),
        })
    }

    /// Every mapping's kind and pattern, by registry index, for the per-mapping stats.
    pub(crate) fn mapping_labels(&self) -> Vec<MappingLabel> {
        self.mapping_labels.clone()
    }

    /// The exception handlers that may handle `error` raised by a handler declared in
    /// `module`, in the order to try them (Spring: the controller's own, then advice).
    pub(crate) fn exception_handlers_for<'a, 'e>(
        &'a self,
        module: &'e str,
        error: &'e HandlerError,
    ) -> impl Iterator<Item = (&'a ExceptionHandlerDescriptor, &'a ReplyRoute)> + 'e
    where
        'a: 'e,
    {
        self.exception_handlers
            .iter()
            .zip(&self.exception_replies)
            .filter(move |(d, _)| (d.global || d.location.module == module) && (d.accepts)(error))
    }

    /// True when no mapping at all is registered.
    pub(crate) fn is_empty(&self) -> bool {
        self.messages.len() == 0
            && self.subscriptions.len() == 0
            && self.exception_handlers.is_empty()
    }
}

/// How the stats name a mapping.
fn mapping_label(descriptor: &HandlerDescriptor) -> MappingLabel {
    MappingLabel {
        kind: match descriptor.kind {
            MappingKind::Message => "message",
            MappingKind::Subscribe => "subscribe",
        },
        pattern: descriptor.pattern,
    }
}

/// Compiles a mapping's `#[send_to]`/`#[send_to_user]` once, at start-up.
fn compile_reply(routing: &ReplyRouting) -> ReplyRoute {
    ReplyRoute::compile(
        routing.send_to,
        routing
            .send_to_user
            .map(|target| (target.destinations, target.broadcast)),
    )
}

fn router(mut routes: Vec<Route>, kind: &'static str) -> Result<Router, RegistryError> {
    routes.sort_by(|a, b| a.pattern.specificity_cmp(&b.pattern));
    for (i, a) in routes.iter().enumerate() {
        for b in &routes[i + 1..] {
            if a.pattern.same_shape(&b.pattern) {
                return Err(RegistryError::Ambiguous {
                    kind,
                    first_pattern: a.descriptor.pattern,
                    first: a.descriptor.location,
                    second_pattern: b.descriptor.pattern,
                    second: b.descriptor.location,
                });
            }
        }
    }
    let exact = routes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.pattern.is_literal())
        .map(|(i, r)| (r.pattern.as_str().to_owned(), i))
        .collect();
    Ok(Router { exact, routes })
}
