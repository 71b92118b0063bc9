//! Destination patterns. (API fixed; body being written.)

use std::cmp::Ordering;

/// One segment of a [`DestinationPattern`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// `<name>` or `{name}`: matches one non-empty segment and captures it under `name`.
    Variable(String),
    /// `*`: matches one non-empty segment.
    Wildcard,
    /// `**`: matches any tail, including nothing; only allowed last.
    TailWildcard,
}

/// A parsed destination pattern such as `/chat/<room>`, `/chat/{room}`, `/topic/*` or
/// `/topic/**`, with `/` (default) or `.` as segment separator.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DestinationPattern {
    source: String,
    separator: char,
    segments: Vec<Segment>,
}

/// Why a pattern could not be parsed; the text quotes the offending segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// `<room` without `>`.
    #[error("unclosed `{segment}`")]
    Unclosed {
        /// The segment as written.
        segment: String,
    },
}

/// Variables captured by a match: `(name, value)` pairs in pattern order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Captures<'p, 'd> {
    pairs: Vec<(&'p str, &'d str)>,
}

impl<'p, 'd> Captures<'p, 'd> {
    /// The value captured for `name`.
    pub fn get(&self, name: &str) -> Option<&'d str> {
        self.pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// Every `(name, value)` pair in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&'p str, &'d str)> + '_ {
        self.pairs.iter().copied()
    }

    /// The number of captured variables.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when nothing was captured.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl DestinationPattern {
    /// Parses with `/` as separator.
    pub fn parse(pattern: &str) -> Result<DestinationPattern, PatternError> {
        DestinationPattern::parse_with_separator(pattern, '/')
    }

    /// Parses with the given separator (`'/'` or `'.'`).
    pub fn parse_with_separator(
        pattern: &str,
        separator: char,
    ) -> Result<DestinationPattern, PatternError> {
        let _ = (pattern, separator);
        todo!()
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The separator.
    pub fn separator(&self) -> char {
        self.separator
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Variable names in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Variable(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// True when the pattern has no variable and no wildcard.
    pub fn is_literal(&self) -> bool {
        self.segments.iter().all(|s| matches!(s, Segment::Literal(_)))
    }

    /// Matches a destination, returning the captured variables.
    pub fn matches<'d>(&self, destination: &'d str) -> Option<Captures<'_, 'd>> {
        let _ = destination;
        todo!()
    }

    /// Orders by specificity: `Less` means `self` is more specific.
    pub fn specificity_cmp(&self, other: &DestinationPattern) -> Ordering {
        let _ = other;
        todo!()
    }

    /// True when some destination matches both patterns.
    pub fn overlaps(&self, other: &DestinationPattern) -> bool {
        let _ = other;
        todo!()
    }

    /// Fills the variables of this pattern (used as a template, e.g. a `send_to` target).
    pub fn expand<'v>(&self, lookup: impl Fn(&str) -> Option<&'v str>) -> Result<String, PatternError> {
        let _ = lookup;
        todo!()
    }
}
