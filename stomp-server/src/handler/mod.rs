//! Annotated handlers at run time: descriptors registered by the macros, the registry that
//! routes destinations to them, argument extraction, return values and exception handling.

pub(crate) mod context;
pub(crate) mod descriptor;
pub(crate) mod dispatch;
pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod into_reply;
pub(crate) mod invocation;
pub(crate) mod payload;
pub(crate) mod registry;
pub(crate) mod reply;
pub mod return_kinds;
pub(crate) mod services;

pub use crate::converter::{to_body, SerializeError};
pub use descriptor::{
    BoxFuture, ExceptionHandlerDescriptor, ExceptionThunk, HandlerDescriptor, HandlerThunk,
    ReplyRouting, SourceLocation, UserTarget,
};
pub use error::{ExceptionType, HandlerError};
pub use extract::{
    Destination, FromHeader, FromInvocation, HeaderError, MessageHeaders, MissingPrincipal,
    MissingState, PathVariable, PathVariableError, State,
};
pub use into_reply::{IntoReply, Json};
pub use invocation::{Invocation, MappingKind};
pub use payload::{decode_payload, Payload, PayloadError};
pub use registry::{Handlers, RegistryError};
pub use reply::{Message, Outcome, ReplyMessage, APPLICATION_JSON, OCTET_STREAM, TEXT_PLAIN};
