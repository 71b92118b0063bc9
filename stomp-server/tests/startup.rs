//! Start-up validation: ambiguous mappings stop the server, naming both source locations.

use stomp_server::{handler::Handlers, message_mapping, StartError, StompServer};

#[message_mapping("/dup/<room>")]
fn first(room: String) -> String {
    room
}

// Spring's syntax, same shape: every destination both match is equally specific.
#[message_mapping("/dup/{name}")]
fn second(name: String) -> String {
    name
}

#[message_mapping("/dup/lobby")]
fn literal() {}

#[test]
fn ambiguous_mappings_refuse_to_start_and_name_both_sites() {
    let Err(error) = StompServer::builder().build() else {
        panic!("the server must not start with ambiguous mappings");
    };
    assert!(matches!(error, StartError::Registry(_)));
    let text = error.to_string();
    assert!(
        text.contains("ambiguous message_mapping mappings"),
        "{text}"
    );
    assert!(
        text.contains("`/dup/<room>`") && text.contains("`/dup/{name}`"),
        "{text}"
    );
    assert!(
        text.contains("startup::first") && text.contains("startup::second"),
        "{text}"
    );
    assert!(text.contains("startup.rs:"), "{text}");
}

#[test]
fn a_literal_beside_a_variable_is_not_ambiguous() {
    let collected = Handlers::collected();
    let keep = |pattern: &str| {
        *collected
            .mappings()
            .iter()
            .find(|d| d.pattern == pattern)
            .expect("registered")
    };
    let handlers = Handlers::new()
        .mapping(keep("/dup/<room>"))
        .mapping(keep("/dup/lobby"));
    assert!(StompServer::builder().handlers(handlers).build().is_ok());
}
