//! Annotated handlers at run time: the registry that routes destinations to them
//! ([`Handlers`], filled by the macros or by hand), what a handler returns ([`IntoReply`],
//! [`Outcome`], [`ReplyMessage`], [`Message`], [`Json`]) and the errors exception handlers
//! select ([`HandlerError`], [`ExceptionType`]). The arguments a handler takes are in
//! [`extract`](crate::extract).
//!
//! Inside: the descriptors the macros register (`descriptor`), argument extraction
//! (`extract`, `payload`), the invocation a handler reads (`invocation`), dispatch and
//! exception handling (`dispatch`, `error`).

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
pub(crate) mod return_kinds;
pub(crate) mod services;

// What an application names lives in the crate's public modules: `stomp_server::handler`
// (this module: the registry, errors and return values) and `stomp_server::extract` (the
// extractors, re-exported from `extract.rs`); the descriptors and thunks the macros
// generate are re-exported from `stomp_server::__private` only.
pub use crate::converter::{to_body, SerializeError};
// What `Handlers` takes and hands out (`mapping`, `mappings`, ...): an application picks
// registered handlers by their fields (pattern, kind, source location) to build a registry
// of its own. The thunks and reply routing inside them stay generated code's business.
pub use descriptor::{ExceptionHandlerDescriptor, HandlerDescriptor, SourceLocation};
pub use error::{ExceptionType, HandlerError};
pub use into_reply::{IntoReply, Json};
pub(crate) use invocation::MappingKind;
pub use registry::{Handlers, RegistryError};
pub use reply::{Message, Outcome, ReplyMessage, APPLICATION_JSON, OCTET_STREAM, TEXT_PLAIN};
