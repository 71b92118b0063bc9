//! A `tracing` layer that keeps every event with the fields of the spans it happened in,
//! for tests that check what an application's log lines carry. Installed per test thread
//! (`tracing::subscriber::set_default`) on a current-thread runtime, so that tests of one
//! binary run in parallel without seeing each other's events.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span's or an event's fields, as text (`Display` values as they display).
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields(pub(crate) BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// One event: its level, target, fields and the spans it happened in, outermost first.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    pub(crate) level: Level,
    pub(crate) target: String,
    pub(crate) fields: Fields,
    pub(crate) scope: Vec<(String, Fields)>,
}

impl Captured {
    /// The event's `message`.
    pub(crate) fn message(&self) -> &str {
        self.fields.0.get("message").map_or("", String::as_str)
    }

    /// The field `name` of the innermost span called `span` the event happened in.
    pub(crate) fn span_field(&self, span: &str, name: &str) -> Option<&str> {
        self.scope
            .iter()
            .rev()
            .find(|(n, _)| n == span)
            .and_then(|(_, fields)| fields.0.get(name))
            .map(String::as_str)
    }

    /// The names of the spans it happened in, outermost first.
    pub(crate) fn span_names(&self) -> Vec<&str> {
        self.scope.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// Everything captured so far.
#[derive(Clone, Default)]
pub(crate) struct Log(Arc<Mutex<Vec<Captured>>>);

impl Log {
    /// Captures this thread's events at INFO and above (as an `info` filter would keep
    /// them, spans included) until the guard is dropped.
    pub(crate) fn install_info(&self) -> tracing::subscriber::DefaultGuard {
        let layer = CaptureLayer(self.clone()).with_filter(LevelFilter::INFO);
        let subscriber = tracing_subscriber::registry().with(layer);
        let guard = tracing::subscriber::set_default(subscriber);
        // Callsites another test's thread registered while this subscriber was being set
        // may have cached that subscriber's interest alone ("never" for DEBUG): ask again.
        tracing::callsite::rebuild_interest_cache();
        guard
    }

    /// Captures this thread's events at INFO and above with the handler spans too, which
    /// are at DEBUG: `RUST_LOG=info,stomp_server::trace=debug`.
    pub(crate) fn install_info_and_handler_spans(&self) -> tracing::subscriber::DefaultGuard {
        self.install_filtered("info,stomp_server::trace=debug")
    }

    /// Captures this thread's events that `directives` (an `EnvFilter`, as `RUST_LOG`
    /// would give it) keeps, until the guard is dropped.
    pub(crate) fn install_filtered(&self, directives: &str) -> tracing::subscriber::DefaultGuard {
        // The filter as the subscriber's own layer, as `fmt().with_env_filter(..)` sets it
        // (a per-layer filter with span-field directives lost every event now and then when
        // other tests' subscribers ran on other threads).
        let filter = tracing_subscriber::EnvFilter::new(directives);
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(CaptureLayer(self.clone()));
        let guard = tracing::subscriber::set_default(subscriber);
        // Callsites another test's thread registered while this subscriber was being set
        // may have cached that subscriber's interest alone ("never" for DEBUG): ask again.
        tracing::callsite::rebuild_interest_cache();
        guard
    }

    /// A copy of the events captured so far.
    pub(crate) fn events(&self) -> Vec<Captured> {
        self.0.lock().unwrap().clone()
    }

    /// The one event whose message is `message`; fails naming what was captured.
    pub(crate) fn only(&self, message: &str) -> Captured {
        let events = self.events();
        let found: Vec<&Captured> = events.iter().filter(|e| e.message() == message).collect();
        match found.as_slice() {
            [one] => (*one).clone(),
            _ => panic!(
                "expected one event {message:?}, found {}; captured: {:#?}",
                found.len(),
                events.iter().map(Captured::message).collect::<Vec<_>>()
            ),
        }
    }
}

/// The layer behind [`Log`].
struct CaptureLayer(Log);

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let scope = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .map(|span| {
                        let fields = span.extensions().get::<Fields>().cloned();
                        (span.name().to_owned(), fields.unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let captured = Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields,
            scope,
        };
        self.0 .0.lock().unwrap().push(captured);
    }
}
