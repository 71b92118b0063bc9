//! The const descriptors that `#[message_mapping]`, `#[subscribe_mapping]` and
//! `#[message_exception_handler]` register with `inventory`.

use std::future::Future;
use std::pin::Pin;

use super::error::HandlerError;
use super::invocation::{Invocation, MappingKind};
use super::reply::Outcome;

/// A boxed, sendable future, as returned by handler thunks.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Where `#[send_to_user]` sends a return value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserTarget {
    /// Destinations relative to the user prefix (`/queue/reply`); empty means Spring's default,
    /// `/queue` + the lookup destination.
    pub destinations: &'static [&'static str],
    /// `true` (default): every session of the user; `false`: only the sending session.
    pub broadcast: bool,
}

/// Where a handler's or exception handler's return value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplyRouting {
    /// `#[send_to(..)]` templates (`/topic/chat/<room>`); empty when absent.
    pub send_to: &'static [&'static str],
    /// `#[send_to_user(..)]`, when present.
    pub send_to_user: Option<UserTarget>,
}

/// The source location of a registration, for start-up errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLocation {
    /// `module_path!()` of the handler.
    pub module: &'static str,
    /// The function's name.
    pub function: &'static str,
    /// `file!()`.
    pub file: &'static str,
    /// `line!()`.
    pub line: u32,
}

impl std::fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}::{} ({}:{})",
            self.module, self.function, self.file, self.line
        )
    }
}

/// The generated wrapper that extracts arguments, calls the handler and converts its result.
pub type HandlerThunk = fn(Invocation) -> BoxFuture<Outcome>;

/// One `#[message_mapping]` or `#[subscribe_mapping]` handler.
#[derive(Debug, Clone, Copy)]
pub struct HandlerDescriptor {
    /// Which frames it handles.
    pub kind: MappingKind,
    /// The pattern relative to the application prefix, module prefix included (`/chat/<room>`).
    pub pattern: &'static str,
    /// Where the return value goes.
    pub routing: ReplyRouting,
    /// The generated wrapper.
    pub thunk: HandlerThunk,
    /// Where it was declared.
    pub location: SourceLocation,
}

/// The generated wrapper of an exception handler. It receives the error and returns it
/// unchanged when the handler's error type does not match.
pub type ExceptionThunk =
    fn(HandlerError, Invocation) -> Result<BoxFuture<Outcome>, (HandlerError, Invocation)>;

/// One `#[message_exception_handler]` function.
#[derive(Debug, Clone, Copy)]
pub struct ExceptionHandlerDescriptor {
    /// `true` for `#[message_exception_handler(global)]` (Spring's `@ControllerAdvice`).
    pub global: bool,
    /// How specific its error type is: 0 for a concrete type, larger for catch-alls
    /// (see [`ExceptionType::SPECIFICITY`](super::error::ExceptionType::SPECIFICITY)).
    pub specificity: u8,
    /// The error type's name, for logs and start-up errors.
    pub error_type: &'static str,
    /// Returns true when this handler's error type matches.
    pub accepts: fn(&HandlerError) -> bool,
    /// Where the return value goes.
    pub routing: ReplyRouting,
    /// The generated wrapper.
    pub thunk: ExceptionThunk,
    /// Where it was declared.
    pub location: SourceLocation,
}

inventory::collect!(HandlerDescriptor);
inventory::collect!(ExceptionHandlerDescriptor);
