//! Properties of destination patterns, checked against brute force over every destination
//! of up to five segments built from a small alphabet.

use std::cmp::Ordering;
use std::sync::OnceLock;

use proptest::prelude::*;
use stomp_core::{DestinationPattern, Segment};

/// Literals come from `a`, `b`; destinations also use `c` and the empty segment, so a
/// variable or `*` always has something only it can match.
const DESTINATION_SEGMENTS: [&str; 4] = ["a", "b", "c", ""];

/// Longest destination tried: four pattern segments plus one absorbed by `**`.
const MAX_DESTINATION_SEGMENTS: usize = 5;

/// Every destination over [`DESTINATION_SEGMENTS`] up to the maximum length, with and without
/// a leading `/`, joined with `separator`.
fn destinations(separator: char) -> &'static [String] {
    static SLASH: OnceLock<Vec<String>> = OnceLock::new();
    static DOT: OnceLock<Vec<String>> = OnceLock::new();
    let cell = if separator == '/' { &SLASH } else { &DOT };
    cell.get_or_init(|| {
        let mut bodies = vec![Vec::<&str>::new()];
        let mut frontier = bodies.clone();
        for _ in 0..MAX_DESTINATION_SEGMENTS {
            frontier = frontier
                .iter()
                .flat_map(|body| {
                    DESTINATION_SEGMENTS.iter().map(move |s| {
                        let mut longer = body.clone();
                        longer.push(s);
                        longer
                    })
                })
                .collect();
            bodies.extend(frontier.iter().cloned());
        }
        let mut out = Vec::new();
        for body in bodies {
            let joined = body.join(&separator.to_string());
            out.push(format!("/{joined}"));
            out.push(joined);
        }
        out.sort();
        out.dedup();
        out
    })
}

/// How a generated pattern is written.
#[derive(Debug, Clone)]
struct Spec {
    separator: char,
    rooted: bool,
    /// 0 `a`, 1 `b`, 2 a variable, 3 `*`.
    kinds: Vec<u8>,
    tail: bool,
    braces: bool,
}

impl Spec {
    fn source(&self) -> String {
        let mut segments: Vec<String> = self
            .kinds
            .iter()
            .enumerate()
            .map(|(i, kind)| match kind {
                0 => "a".to_owned(),
                1 => "b".to_owned(),
                2 if self.braces => format!("{{v{i}}}"),
                2 => format!("<v{i}>"),
                _ => "*".to_owned(),
            })
            .collect();
        if self.tail {
            segments.push("**".to_owned());
        }
        let body = segments.join(&self.separator.to_string());
        if self.rooted {
            format!("/{body}")
        } else {
            body
        }
    }
}

/// A reference matcher written from the specification, independent of the parsed segments:
/// the captures `matches` must return, or `None`.
fn reference_match(spec: &Spec, destination: &str) -> Option<Vec<(String, String)>> {
    let body = match (spec.separator, destination.strip_prefix('/')) {
        ('.', stripped) => stripped.unwrap_or(destination),
        (_, Some(body)) if spec.rooted => body,
        (_, None) if !spec.rooted => destination,
        _ => return None,
    };
    let parts: Vec<&str> = if body.is_empty() {
        Vec::new()
    } else {
        body.split(spec.separator).collect()
    };
    let fixed = spec.kinds.len();
    if parts.len() < fixed || (!spec.tail && parts.len() != fixed) {
        return None;
    }
    let mut captures = Vec::new();
    for (i, (kind, part)) in spec.kinds.iter().zip(&parts).enumerate() {
        let ok = match kind {
            0 => *part == "a",
            1 => *part == "b",
            _ => !part.is_empty(),
        };
        if !ok {
            return None;
        }
        if *kind == 2 {
            captures.push((format!("v{i}"), (*part).to_owned()));
        }
    }
    Some(captures)
}

fn spec(separator: char) -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        prop::collection::vec(0u8..4, 0..=4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_filter("a pattern needs a segment", |(_, kinds, tail, _)| {
            !kinds.is_empty() || *tail
        })
        .prop_map(move |(rooted, kinds, tail, braces)| Spec {
            separator,
            rooted,
            kinds,
            tail,
            braces,
        })
}

fn pattern(separator: char) -> impl Strategy<Value = DestinationPattern> {
    spec(separator).prop_map(|spec| {
        let source = spec.source();
        DestinationPattern::parse_with_separator(&source, spec.separator)
            .unwrap_or_else(|e| panic!("generated `{source}` must parse: {e}"))
    })
}

fn separator() -> impl Strategy<Value = char> {
    prop_oneof![Just('/'), Just('.')]
}

fn pair() -> impl Strategy<Value = (DestinationPattern, DestinationPattern)> {
    separator().prop_flat_map(|s| (pattern(s), pattern(s)))
}

fn triple() -> impl Strategy<Value = (DestinationPattern, DestinationPattern, DestinationPattern)> {
    separator().prop_flat_map(|s| (pattern(s), pattern(s), pattern(s)))
}

fn ranks(pattern: &DestinationPattern) -> Vec<u8> {
    pattern
        .segments()
        .iter()
        .map(|s| match s {
            Segment::Literal(_) => 0,
            Segment::Variable(_) => 1,
            Segment::Wildcard => 2,
            Segment::TailWildcard => 4,
        })
        .collect()
}

fn matching<'a>(pattern: &'a DestinationPattern) -> impl Iterator<Item = &'static String> + 'a {
    destinations(pattern.separator())
        .iter()
        .filter(move |d| pattern.matches(d).is_some())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn pattern_matches_agrees_with_reference(spec in separator().prop_flat_map(spec)) {
        let source = spec.source();
        let pattern = DestinationPattern::parse_with_separator(&source, spec.separator)
            .expect("generated patterns parse");
        for d in destinations(spec.separator) {
            let got = pattern.matches(d).map(|c| {
                c.iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect::<Vec<_>>()
            });
            prop_assert_eq!(got, reference_match(&spec, d), "`{}` on `{}`", source, d);
        }
    }

    #[test]
    fn pattern_overlaps_agrees_with_brute_force((a, b) in pair()) {
        let witness = matching(&a).find(|d| b.matches(d).is_some());
        prop_assert_eq!(
            a.overlaps(&b),
            witness.is_some(),
            "`{}` vs `{}`, witness {:?}", a, b, witness
        );
        prop_assert_eq!(a.overlaps(&b), b.overlaps(&a));
        prop_assert!(a.overlaps(&a));
    }

    #[test]
    fn pattern_same_shape_means_same_destinations((a, b) in pair()) {
        prop_assert_eq!(a.same_shape(&b), b.same_shape(&a));
        prop_assert!(a.same_shape(&a));
        let equal_ranks = ranks(&a) == ranks(&b);
        prop_assert_eq!(a.same_shape(&b), equal_ranks && a.overlaps(&b));
        if a.same_shape(&b) {
            for d in destinations(a.separator()) {
                prop_assert_eq!(
                    a.matches(d).is_some(),
                    b.matches(d).is_some(),
                    "`{}` and `{}` on `{}`", a, b, d
                );
            }
        }
    }

    #[test]
    fn pattern_specificity_is_a_total_order((a, b, c) in triple()) {
        for (x, y) in [(&a, &b), (&b, &c), (&a, &c)] {
            prop_assert_eq!(x.specificity_cmp(y), y.specificity_cmp(x).reverse());
            prop_assert_eq!(x.specificity_cmp(y) == Ordering::Equal, x == y);
        }
        prop_assert_eq!(a.specificity_cmp(&a), Ordering::Equal);
        let triples = [
            (&a, &b, &c), (&a, &c, &b), (&b, &a, &c),
            (&b, &c, &a), (&c, &a, &b), (&c, &b, &a),
        ];
        for (x, y, z) in triples {
            if x.specificity_cmp(y) != Ordering::Greater
                && y.specificity_cmp(z) != Ordering::Greater
            {
                prop_assert_ne!(
                    x.specificity_cmp(z), Ordering::Greater,
                    "`{}` <= `{}` <= `{}`", x, y, z
                );
            }
        }
    }

    #[test]
    fn pattern_ties_between_matching_patterns_are_same_shape((a, b) in pair()) {
        // For any destination both match, the rank comparison alone decides unless the two are
        // duplicates: the router's "ambiguous" report is exactly `same_shape`.
        if matching(&a).any(|d| b.matches(d).is_some()) && ranks(&a) == ranks(&b) {
            prop_assert!(a.same_shape(&b));
        }
    }

    #[test]
    fn pattern_expand_inverts_matches(a in separator().prop_flat_map(pattern)) {
        if a.segments().iter().any(|s| matches!(s, Segment::Wildcard | Segment::TailWildcard)) {
            prop_assert!(a.expand(|_| Some("x")).is_err());
            return Ok(());
        }
        for d in matching(&a) {
            let captures = a.matches(d).expect("filtered on matching");
            prop_assert_eq!(captures.len(), a.variables().count());
            let expanded = a.expand(|name| captures.get(name)).expect("all bound");
            let strip = |s: &str| -> String {
                if a.separator() == '.' {
                    s.strip_prefix('/').unwrap_or(s).to_owned()
                } else {
                    s.to_owned()
                }
            };
            prop_assert_eq!(strip(&expanded), strip(d));
        }
    }

    #[test]
    fn pattern_parse_never_panics(
        source in "[ab/.<>{}*_1:]{0,12}",
        destination in "[ab/.]{0,8}",
        dot in any::<bool>(),
    ) {
        let separator = if dot { '.' } else { '/' };
        if let Ok(p) = DestinationPattern::parse_with_separator(&source, separator) {
            prop_assert_eq!(p.to_string(), source);
            let _ = p.matches(&destination);
            let _ = p.expand(|_| Some("v"));
            let copy = p.clone();
            prop_assert!(p.same_shape(&copy));
        }
    }
}
