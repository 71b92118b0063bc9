//! [`Services`]: what a handler call needs from the server (state, template, routing),
//! built once at start-up; `context` pairs it with the registry for dispatch.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::accept::LogEvery;
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
    /// When such an error may be logged at WARN again.
    pub(crate) unhandled_log: UnhandledLog,
}

/// How often the warning about handler errors no exception handler took is written: a
/// client can cause one per message (a payload that does not deserialize) when the policy
/// keeps its session open.
const UNHANDLED_LOG_EVERY: Duration = Duration::from_secs(10);

/// The warning about unhandled handler errors, at most once per [`UNHANDLED_LOG_EVERY`]
/// for the whole server; the others go to DEBUG.
pub(crate) struct UnhandledLog(Mutex<LogEvery>);

impl Default for UnhandledLog {
    fn default() -> UnhandledLog {
        UnhandledLog(Mutex::new(LogEvery::new(UNHANDLED_LOG_EVERY)))
    }
}

impl UnhandledLog {
    /// Records one error; `Some(n)` when a warning is due, `n` being the errors not warned
    /// about since the last one.
    pub(crate) fn due(&self) -> Option<u64> {
        let now = tokio::time::Instant::now();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .due(now)
    }
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
