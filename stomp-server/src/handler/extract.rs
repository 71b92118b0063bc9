//! Handler arguments: the [`FromInvocation`] extractor trait and the built-in extractors.
//!
//! One trait serves both "parts" and "message" extractors: a frame body is a reference-counted
//! `Bytes`, so reading it does not consume anything and arguments may come in any order.

use std::any::type_name;
use std::ops::Deref;
use std::str::FromStr;
use std::sync::Arc;

use stomp_core::{Frame, Headers};

use super::error::HandlerError;
use super::invocation::Invocation;
use crate::attributes::SessionAttributes;
use crate::principal::{Principal, SessionId};
use crate::template::Template;

/// A type that can be a handler argument.
///
/// Implement it to add your own extractors; return an error type of your own and it reaches
/// the `#[message_exception_handler]` functions like any handler error.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler argument",
    label = "not an extractor",
    note = "handler arguments are: a path variable named like a pattern variable (`<room>` binds `room: T` where `T: FromStr`), `Payload<T>`, `Principal`, `Option<Principal>`, `State<T>`, `Template`, `MessageHeaders`, `Destination`, `SessionId`, `SessionAttributes`, `Frame`, a `#[header(\"name\")] x: T` parameter, `Option<E>`/`Result<E, HandlerError>` of any of these, or your own type implementing `FromInvocation`"
)]
pub trait FromInvocation: Sized + Send {
    /// Extracts the argument.
    fn from_invocation(invocation: &Invocation) -> Result<Self, HandlerError>;
}

/// `Option<E>`: `None` instead of an error when `E` cannot be extracted.
impl<E: FromInvocation> FromInvocation for Option<E> {
    fn from_invocation(invocation: &Invocation) -> Result<Option<E>, HandlerError> {
        Ok(E::from_invocation(invocation).ok())
    }
}

/// `Result<E, HandlerError>`: the handler sees the extraction error itself.
impl<E: FromInvocation> FromInvocation for Result<E, HandlerError> {
    fn from_invocation(invocation: &Invocation) -> Result<Self, HandlerError> {
        Ok(E::from_invocation(invocation))
    }
}

/// A handler required a [`Principal`] but the session is anonymous.
#[derive(Debug, Clone, thiserror::Error)]
#[error("this destination requires an authenticated user, and the session has none")]
pub struct MissingPrincipal;

impl FromInvocation for Principal {
    fn from_invocation(invocation: &Invocation) -> Result<Principal, HandlerError> {
        invocation
            .principal()
            .cloned()
            .ok_or(MissingPrincipal.into())
    }
}

impl FromInvocation for SessionId {
    fn from_invocation(invocation: &Invocation) -> Result<SessionId, HandlerError> {
        Ok(invocation.session_id().clone())
    }
}

impl FromInvocation for Template {
    fn from_invocation(invocation: &Invocation) -> Result<Template, HandlerError> {
        Ok(invocation.template().clone())
    }
}

impl FromInvocation for SessionAttributes {
    fn from_invocation(invocation: &Invocation) -> Result<SessionAttributes, HandlerError> {
        Ok(invocation.session().attributes.clone())
    }
}

/// The raw frame (a clone: headers copied, body shared).
impl FromInvocation for Frame {
    fn from_invocation(invocation: &Invocation) -> Result<Frame, HandlerError> {
        Ok(invocation.frame().clone())
    }
}

/// All headers of the frame (Spring's `@Headers` / `MessageHeaders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeaders(pub Headers);

impl Deref for MessageHeaders {
    type Target = Headers;
    fn deref(&self) -> &Headers {
        &self.0
    }
}

impl FromInvocation for MessageHeaders {
    fn from_invocation(invocation: &Invocation) -> Result<MessageHeaders, HandlerError> {
        Ok(MessageHeaders(invocation.frame().headers.clone()))
    }
}

/// The destination the frame was sent to, application prefix included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination(pub String);

impl Deref for Destination {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl FromInvocation for Destination {
    fn from_invocation(invocation: &Invocation) -> Result<Destination, HandlerError> {
        Ok(Destination(invocation.destination().to_owned()))
    }
}

/// Shared application state registered with `StompServer::builder().state(value)`.
///
/// Like axum's `State`: cloning is a reference count; `Deref` gives the value.
#[derive(Debug)]
pub struct State<T: ?Sized>(pub Arc<T>);

impl<T: ?Sized> Clone for State<T> {
    fn clone(&self) -> State<T> {
        State(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A handler asked for `State<T>` but no `T` was registered on the builder.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no state of type `{type_name}` was registered; call `.state(..)` on the server builder")]
#[non_exhaustive]
pub struct MissingState {
    /// The missing type.
    pub type_name: &'static str,
}

impl MissingState {
    /// The error for a missing state of type `T`.
    pub fn of<T: ?Sized>() -> MissingState {
        MissingState {
            type_name: type_name::<T>(),
        }
    }
}

impl<T: Send + Sync + 'static> FromInvocation for State<T> {
    fn from_invocation(invocation: &Invocation) -> Result<State<T>, HandlerError> {
        invocation
            .services()
            .state::<T>()
            .map(State)
            .ok_or_else(|| {
                MissingState {
                    type_name: type_name::<T>(),
                }
                .into()
            })
    }
}

/// A path variable could not be parsed into the parameter's type.
#[derive(Debug, Clone, thiserror::Error)]
#[error("path variable `{name}` = `{value}` is not a valid `{type_name}`: {reason}")]
#[non_exhaustive]
pub struct PathVariableError {
    /// The variable's name.
    pub name: &'static str,
    /// The captured text.
    pub value: String,
    /// The parameter's type.
    pub type_name: &'static str,
    /// The parse error's text.
    pub reason: String,
}

impl PathVariableError {
    /// The error for variable `name` whose text `value` is not a valid `type_name`.
    pub fn new(
        name: &'static str,
        value: impl Into<String>,
        type_name: &'static str,
        reason: impl Into<String>,
    ) -> PathVariableError {
        PathVariableError {
            name,
            value: value.into(),
            type_name,
            reason: reason.into(),
        }
    }
}

/// A type a path variable can be parsed into: every `T: FromStr` whose error displays.
#[diagnostic::on_unimplemented(
    message = "path variable parameter of type `{Self}` cannot be parsed from the destination",
    label = "a parameter named like a pattern variable is parsed with `FromStr`",
    note = "implement `std::str::FromStr` (with an error that implements `Display`) for `{Self}`, or take a `String`"
)]
pub trait PathVariable: Sized {
    /// Parses the captured text.
    fn parse_path_variable(value: &str) -> Result<Self, String>;
}

impl<T> PathVariable for T
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    fn parse_path_variable(value: &str) -> Result<T, String> {
        value.parse::<T>().map_err(|e| e.to_string())
    }
}

/// Extracts the path variable `name` as `T` (used by the generated code).
pub fn path_variable<T: PathVariable>(
    invocation: &Invocation,
    name: &'static str,
) -> Result<T, HandlerError> {
    let value = invocation.path_variable(name).unwrap_or("");
    T::parse_path_variable(value).map_err(|reason| {
        PathVariableError {
            name,
            value: value.to_owned(),
            type_name: type_name::<T>(),
            reason,
        }
        .into()
    })
}

/// A required header was absent or could not be parsed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The header was absent.
    #[error("missing required header `{name}`")]
    Missing {
        /// The header's name.
        name: &'static str,
    },
    /// The header's value did not parse.
    #[error("header `{name}` = `{value}` is not a valid `{type_name}`")]
    Invalid {
        /// The header's name.
        name: &'static str,
        /// The value.
        value: String,
        /// The parameter's type.
        type_name: &'static str,
    },
}

/// A type a `#[header("name")]` parameter can have: text, numbers, `bool`, each optional
/// with `Option`, or `Vec<String>` for every value of a repeated header.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `#[header]` parameter",
    note = "use `String`, a number, `bool`, `Option` of those, or `Vec<String>`"
)]
pub trait FromHeader: Sized {
    /// Converts every value of the header (first one first).
    fn from_header(
        name: &'static str,
        values: &mut dyn Iterator<Item = &str>,
    ) -> Result<Self, HandlerError>;
}

macro_rules! from_header_via_from_str {
    ($($t:ty),*) => {$(
        impl FromHeader for $t {
            fn from_header(name: &'static str, values: &mut dyn Iterator<Item = &str>) -> Result<Self, HandlerError> {
                let value = values.next().ok_or(HeaderError::Missing { name })?;
                value.parse::<$t>().map_err(|_| HeaderError::Invalid {
                    name,
                    value: value.to_owned(),
                    type_name: stringify!($t),
                }.into())
            }
        }
        impl FromHeader for Option<$t> {
            fn from_header(name: &'static str, values: &mut dyn Iterator<Item = &str>) -> Result<Self, HandlerError> {
                let mut first = values.next().into_iter();
                match first.len() {
                    0 => Ok(None),
                    _ => <$t as FromHeader>::from_header(name, &mut first).map(Some),
                }
            }
        }
    )*};
}

from_header_via_from_str!(
    String, bool, u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64
);

impl FromHeader for Vec<String> {
    fn from_header(
        _: &'static str,
        values: &mut dyn Iterator<Item = &str>,
    ) -> Result<Self, HandlerError> {
        Ok(values.map(str::to_owned).collect())
    }
}

/// Extracts the header `name` as `T` (used by the generated code for `#[header]` parameters).
pub fn header<T: FromHeader>(
    invocation: &Invocation,
    name: &'static str,
) -> Result<T, HandlerError> {
    T::from_header(name, &mut invocation.frame().headers.get_all(name))
}

/// Extracts any [`FromInvocation`] argument (used by the generated code).
pub fn extract<T: FromInvocation>(invocation: &Invocation) -> Result<T, HandlerError> {
    T::from_invocation(invocation)
}
