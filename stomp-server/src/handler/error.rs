//! Errors raised while handling a message, and how exception handlers select them.

use std::any::type_name;
use std::error::Error as StdError;
use std::fmt;

/// An error raised by a handler, an extractor or the framework while handling a message.
///
/// Handlers return `Result<T, E>` with any `E: std::error::Error + Send + Sync + 'static`;
/// the error is boxed here and offered to `#[message_exception_handler]` functions, which
/// select it by type. Like `anyhow::Error`, this type deliberately does not implement
/// `std::error::Error`, so that every error type converts into it with `?`.
pub struct HandlerError {
    error: Box<dyn StdError + Send + Sync + 'static>,
    type_name: &'static str,
}

impl HandlerError {
    /// Wraps an error.
    pub fn new<E: StdError + Send + Sync + 'static>(error: E) -> HandlerError {
        HandlerError {
            error: Box::new(error),
            type_name: type_name::<E>(),
        }
    }

    /// True when the wrapped error is an `E`.
    pub fn is<E: StdError + 'static>(&self) -> bool {
        self.error.is::<E>()
    }

    /// The wrapped error, when it is an `E`.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.error.downcast_ref::<E>()
    }

    /// Takes the wrapped error out when it is an `E`, else gives `self` back.
    pub fn downcast<E: StdError + 'static>(self) -> Result<E, HandlerError> {
        let type_name = self.type_name;
        match self.error.downcast::<E>() {
            Ok(error) => Ok(*error),
            Err(error) => Err(HandlerError { error, type_name }),
        }
    }

    /// The Rust type name of the wrapped error.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The wrapped error.
    pub fn get_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.error
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> HandlerError {
        HandlerError::new(error)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("type", &self.type_name)
            .field("error", &self.error)
            .finish()
    }
}

/// A type that a `#[message_exception_handler]` can take as its first parameter.
///
/// Implemented for every `std::error::Error + Send + Sync + 'static` type (matching exactly
/// that type, specificity 0) and for [`HandlerError`] itself (matching everything,
/// specificity 255). Among the handlers of one scope, the lowest specificity that matches wins.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error parameter of a `#[message_exception_handler]`",
    note = "the first parameter must be an error type (`std::error::Error + Send + Sync + 'static`), or `HandlerError` to catch everything"
)]
pub trait ExceptionType: Sized + Send + 'static {
    /// 0 for a concrete error type; larger values are tried after smaller ones.
    const SPECIFICITY: u8;

    /// True when `error` can be taken as `Self`.
    fn matches(error: &HandlerError) -> bool;

    /// Takes `error` as `Self`, or gives it back.
    fn take(error: HandlerError) -> Result<Self, HandlerError>;
}

impl<E: StdError + Send + Sync + 'static> ExceptionType for E {
    const SPECIFICITY: u8 = 0;

    fn matches(error: &HandlerError) -> bool {
        error.is::<E>()
    }

    fn take(error: HandlerError) -> Result<E, HandlerError> {
        error.downcast::<E>()
    }
}

impl ExceptionType for HandlerError {
    const SPECIFICITY: u8 = 255;

    fn matches(_: &HandlerError) -> bool {
        true
    }

    fn take(error: HandlerError) -> Result<HandlerError, HandlerError> {
        Ok(error)
    }
}
