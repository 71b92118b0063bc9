//! [`HandlerContext`]: the handlers and their services, which sessions dispatch with.

use std::sync::Arc;

use super::registry::Registry;
use super::services::Services;

/// The mappings and exception handlers, and the services their calls get. Sessions hand it
/// to [`dispatch`](super::dispatch::dispatch).
pub(crate) struct HandlerContext {
    /// The mappings and exception handlers.
    pub(crate) registry: Registry,
    /// What each call gets (state, template, routing).
    pub(crate) services: Arc<Services>,
}
