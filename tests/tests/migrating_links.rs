//! MIGRATING.md tells the truth about its tests: every row of its two mapping tables
//! ("Annotations" and "Configuration") links to at least one test, and every link to a Rust
//! file anywhere in it names a file that exists and, when the link's text is a function
//! name, a function of that name in the file.
//!
//! ```text
//! cargo test -p tests --test migrating_links
//! ```

use std::path::{Path, PathBuf};

/// A `[`text`](path)` link of the document.
#[derive(Debug)]
struct Link {
    text: String,
    path: String,
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn migrating() -> String {
    let path = repository().join("MIGRATING.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The links of `text` whose target is a `.rs` file, with their text stripped of backticks.
fn rust_links(text: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("](") {
        let before = &rest[..start];
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else { break };
        let path = &after[..end];
        if let Some(open) = before.rfind('[') {
            if path.ends_with(".rs") {
                links.push(Link {
                    text: before[open + 1..].trim_matches('`').to_owned(),
                    path: path.to_owned(),
                });
            }
        }
        rest = &after[end..];
    }
    links
}

/// The body rows of the first table after the heading `heading`.
fn table_rows<'a>(document: &'a str, heading: &str) -> Vec<&'a str> {
    let start = document
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("MIGRATING.md has no `{heading}`"));
    document[start..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2) // the header and the separator
        .collect()
}

/// Why `link` does not point at a test, if it does not.
fn broken(link: &Link) -> Option<String> {
    let file = repository().join(&link.path);
    let Ok(source) = std::fs::read_to_string(&file) else {
        return Some(format!("{} does not exist", link.path));
    };
    if link.text.ends_with(".rs") {
        return None;
    }
    let defines = |prefix: &str| source.contains(&format!("{prefix}fn {}(", link.text));
    (!defines("") && !defines("async ")).then(|| format!("{} has no `fn {}`", link.path, link.text))
}

#[test]
fn every_row_of_the_mapping_tables_links_to_a_test() {
    let document = migrating();
    let mut unlinked = Vec::new();
    for heading in ["## Annotations", "## Configuration"] {
        let rows = table_rows(&document, heading);
        assert!(rows.len() > 10, "{heading}: only {} rows found", rows.len());
        for row in rows {
            let last_cell = row.trim_end_matches('|').rsplit('|').next().unwrap_or("");
            if rust_links(last_cell).is_empty() {
                unlinked.push(format!("{heading}: {}", &row[..row.len().min(80)]));
            }
        }
    }
    assert!(
        unlinked.is_empty(),
        "rows without a test link:\n{}",
        unlinked.join("\n")
    );
}

#[test]
fn every_link_to_a_rust_file_names_an_existing_test() {
    let links = rust_links(&migrating());
    assert!(links.len() > 40, "only {} links found", links.len());
    let broken: Vec<String> = links.iter().filter_map(broken).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}
