//! [`HandlerContext`]: what handler calls need from the server, built once at start-up.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use super::registry::Registry;
use crate::config::UnhandledErrors;
use crate::routing::Routing;
use crate::stats::Stats;
use crate::template::Template;

/// The handlers, the application state they extract, and where their replies and errors
/// go. Sessions hand it to [`dispatch`](super::dispatch::dispatch); invocations keep it.
pub(crate) struct HandlerContext {
    /// The mappings and exception handlers.
    pub(crate) registry: Registry,
    /// Application state by type (`State<T>`).
    pub(crate) state: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    /// The template handlers receive.
    pub(crate) template: Template,
    /// Where replies go.
    pub(crate) routing: Arc<Routing>,
    /// Counts handler errors.
    pub(crate) stats: Arc<Stats>,
    /// What happens to an error no exception handler takes.
    pub(crate) unhandled_errors: UnhandledErrors,
}

impl HandlerContext {
    /// The registered state of type `T`.
    pub(crate) fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.state
            .get(&TypeId::of::<T>())?
            .clone()
            .downcast::<T>()
            .ok()
    }
}
