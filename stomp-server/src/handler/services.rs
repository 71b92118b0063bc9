//! [`Services`]: what a handler call needs from the server (state, template, routing),
//! built once at start-up; `context` pairs it with the registry for dispatch.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use crate::config::UnhandledErrors;
use crate::routing::Routing;
use crate::stats::Stats;
use crate::template::Template;

/// The application state handlers extract, and where their replies and errors go.
/// Invocations keep it.
pub(crate) struct Services {
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

impl Services {
    /// The registered state of type `T`.
    pub(crate) fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.state
            .get(&TypeId::of::<T>())?
            .clone()
            .downcast::<T>()
            .ok()
    }
}
