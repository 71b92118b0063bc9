//! Per-mapping counters: one slot per registered `#[message_mapping]` and
//! `#[subscribe_mapping]`, indexed by the mapping's registry index (no lookup per call).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::histogram::{AtomicHistogram, Histogram, HANDLER_NANOS_BOUNDS};

/// One mapping's live counters.
#[derive(Debug, Default)]
pub(super) struct MappingSlot {
    /// How long its handler took (only while metrics are on).
    duration: AtomicHistogram,
    /// Invocations that returned an error (extraction included).
    errors: AtomicU64,
}

impl MappingSlot {
    /// Counts one invocation that started at `started` (when timed) and failed or not.
    pub(super) fn finished(&self, started: Option<Instant>, failed: bool) {
        if let Some(started) = started {
            let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.duration.observe(HANDLER_NANOS_BOUNDS, nanos);
        }
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn snapshot(&self, mapping: MappingLabel) -> MappingStats {
        MappingStats {
            kind: mapping.kind,
            pattern: mapping.pattern,
            duration_nanos: self.duration.snapshot(HANDLER_NANOS_BOUNDS),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// What names a mapping in the snapshot and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MappingLabel {
    /// `message` or `subscribe`.
    pub(crate) kind: &'static str,
    /// The mapping's pattern as declared (`/chat/<room>`).
    pub(crate) pattern: &'static str,
}

/// One mapping's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MappingStats {
    /// `message` (`#[message_mapping]`) or `subscribe` (`#[subscribe_mapping]`).
    pub kind: &'static str,
    /// Its pattern as declared, relative to the application prefix (`/chat/<room>`).
    pub pattern: &'static str,
    /// How long its handler took, in nanoseconds, from the call to the return value
    /// (exception handlers and the routing of the reply excluded). Only measured while
    /// metrics are on (`StompServerBuilder::metrics_endpoint`, `Server::register_metrics`
    /// or [`Stats::measure_handlers`](super::Stats::measure_handlers)); empty otherwise.
    pub duration_nanos: Histogram,
    /// Invocations that returned an error (a failed extraction included), handled by an
    /// exception handler or not.
    pub errors: u64,
}
