//! No import cycles between the modules of the library crates (issue #17): what
//! `tests::module_graph` reads from their source must have no file-level and no top-level
//! strongly connected component.
//!
//! ```text
//! cargo test -p tests --test module_cycles
//! ```

use std::path::{Path, PathBuf};

use tests::module_graph::ModuleGraph;

fn source_of(crate_dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_dir)
        .join("src")
}

/// Fails with every cycle of the crate, and the edges that make them, when there is one.
fn assert_no_cycles(crate_dir: &str) {
    let root = source_of(crate_dir);
    let graph = ModuleGraph::from_dir(&root)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", root.display()));
    assert!(
        graph.module_count() > 1,
        "{crate_dir}: no modules found under {}",
        root.display()
    );
    let report = graph.report();
    assert!(
        report.is_empty(),
        "{crate_dir} has import cycles; cut them by concern (move what both sides use into \
         a module of its own):\n{report}"
    );
}

#[test]
fn stomp_core_has_no_import_cycle() {
    assert_no_cycles("stomp-core");
}

#[test]
fn stomp_macros_has_no_import_cycle() {
    assert_no_cycles("stomp-macros");
}

#[test]
fn stomp_server_has_no_import_cycle() {
    assert_no_cycles("stomp-server");
}

/// The parts of stomp-server already cut by concern keep no file cycle while the rest is
/// being cut: the client (its subscriptions hold their session; subscribing lives beside
/// them, so the session does not import them back).
#[test]
fn stomp_server_client_has_no_file_cycle() {
    let root = source_of("stomp-server");
    let graph = ModuleGraph::from_dir(&root)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", root.display()));
    let in_client: Vec<Vec<String>> = graph
        .file_cycles()
        .into_iter()
        .filter(|cycle| cycle.iter().any(|file| file.starts_with("client")))
        .collect();
    assert!(
        graph
            .imports("client/subscription")
            .contains(&"client/session".to_owned()),
        "the test no longer sees the edge it guards: {:?}",
        graph.imports("client/subscription")
    );
    assert!(
        in_client.is_empty(),
        "file cycles in client/: {in_client:?}"
    );
}
