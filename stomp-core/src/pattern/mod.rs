//! Destination patterns: `/chat/<room>`, `/chat/{room}`, `/topic/*`, `/topic/**`.
//!
//! A [`DestinationPattern`] is what `#[message_mapping]` and broker subscriptions are written
//! with. It is parsed once (at compile time by the proc macros, at start-up by routers) and
//! then matched against destinations without allocating beyond the captured pairs.
//!
//! Syntax, segment by segment:
//! - `<room>` (ours) or `{room}` (Spring's): a variable, capturing one whole non-empty segment.
//!   Names follow `[A-Za-z_][A-Za-z0-9_]*` because they bind handler parameters.
//! - `*`: one non-empty segment, not captured.
//! - `**`: any tail, including nothing (`/topic/**` matches `/topic` and `/topic/a/b`); only
//!   allowed as the last segment.
//! - anything else: literal text.
//!
//! The separator is `/` (default) or `.` (Spring's `AntPathMatcher(".")`). With `/` a leading
//! `/` is significant (`/a` does not match `a`); with `.` one leading `/` is ignored on both the
//! pattern and the destination, so `/chat.<room>` and `chat.<room>` both match `chat.r1`.
//!
//! Layout:
//! - `error`: [`PatternError`], one variant per mistake, each quoting what was written.
//! - `parse`: text to [`Segment`]s.
//! - `matching`: [`DestinationPattern::matches`], [`DestinationPattern::overlaps`],
//!   [`DestinationPattern::same_shape`].
//! - `order`: [`DestinationPattern::specificity_cmp`].
//! - `template`: [`DestinationPattern::expand`] and [`combine`].
//!
//! ```
//! use stomp_core::DestinationPattern;
//!
//! let pattern = DestinationPattern::parse("/chat/{room}/**")?;
//! let captures = pattern.matches("/chat/lobby/typing").expect("matches");
//! assert_eq!(captures.get("room"), Some("lobby"));
//! assert!(pattern.matches("/chat").is_none());
//! # Ok::<(), stomp_core::PatternError>(())
//! ```

use std::fmt;
use std::str::FromStr;

mod error;
mod matching;
mod order;
mod parse;
mod template;

pub use error::PatternError;
pub use template::combine;

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
///
/// Two patterns are equal when they were written identically with the same separator.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DestinationPattern {
    source: String,
    separator: char,
    segments: Vec<Segment>,
    /// With `/`: the pattern starts with `/`. With `.`: the (ignored) leading `/` was written.
    rooted: bool,
    /// Number of [`Segment::Variable`]s, the capacity of [`Captures`].
    variable_count: usize,
    /// No variable and no wildcard: matching is a string comparison.
    literal: bool,
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
    ///
    /// `/` alone is the root pattern and matches only the destination `/`.
    ///
    /// ```
    /// use stomp_core::{DestinationPattern, PatternError};
    ///
    /// assert!(DestinationPattern::parse("/chat/<room>").is_ok());
    /// assert_eq!(
    ///     DestinationPattern::parse("/chat/room-<id>").unwrap_err().to_string(),
    ///     "variable must fill a whole segment: `room-<id>`",
    /// );
    /// ```
    pub fn parse(pattern: &str) -> Result<DestinationPattern, PatternError> {
        DestinationPattern::parse_with_separator(pattern, '/')
    }

    /// Parses with the given separator (`'/'` or `'.'`).
    ///
    /// With `'.'` one leading `/` is ignored, so `/chat.<room>` and `chat.<room>` match the same
    /// destinations. Any other separator is [`PatternError::UnsupportedSeparator`].
    pub fn parse_with_separator(
        pattern: &str,
        separator: char,
    ) -> Result<DestinationPattern, PatternError> {
        let parsed = parse::parse(pattern, separator)?;
        let variable_count = parsed
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Variable(_)))
            .count();
        let literal = parsed
            .segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)));
        Ok(DestinationPattern {
            source: pattern.to_owned(),
            separator,
            segments: parsed.segments,
            rooted: parsed.rooted,
            variable_count,
            literal,
        })
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

    /// True when the pattern has a variable called `name` (`<name>` or `{name}`).
    pub fn has_variable(&self, name: &str) -> bool {
        self.variables().any(|v| v == name)
    }

    /// True when the pattern has no variable and no wildcard.
    pub fn is_literal(&self) -> bool {
        self.literal
    }
}

impl fmt::Display for DestinationPattern {
    /// The pattern as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for DestinationPattern {
    type Err = PatternError;

    /// Same as [`DestinationPattern::parse`] (separator `/`).
    fn from_str(pattern: &str) -> Result<DestinationPattern, PatternError> {
        DestinationPattern::parse(pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_from_str_round_trip() {
        for source in ["/chat/<room>", "/chat/{room}/**", "/", "a/*", "/topic/x"] {
            let pattern: DestinationPattern = source.parse().unwrap();
            assert_eq!(pattern.to_string(), source);
            assert_eq!(pattern.as_str(), source);
        }
    }

    #[test]
    fn accessors() {
        let p = DestinationPattern::parse_with_separator("/chat.<room>.{user}.*", '.').unwrap();
        assert_eq!(p.separator(), '.');
        assert_eq!(p.variables().collect::<Vec<_>>(), ["room", "user"]);
        assert!(p.has_variable("room"));
        assert!(p.has_variable("user"));
        assert!(!p.has_variable("chat"));
        assert!(!p.is_literal());
        assert_eq!(
            p.segments(),
            [
                Segment::Literal("chat".into()),
                Segment::Variable("room".into()),
                Segment::Variable("user".into()),
                Segment::Wildcard,
            ]
        );
        let literal = DestinationPattern::parse("/topic/news").unwrap();
        assert!(literal.is_literal());
        assert!(!literal.has_variable("news"));
    }

    #[test]
    fn equality_is_source_and_separator() {
        let slash = DestinationPattern::parse("a").unwrap();
        let dot = DestinationPattern::parse_with_separator("a", '.').unwrap();
        assert_ne!(slash, dot);
        assert_ne!(
            DestinationPattern::parse("/a/<x>").unwrap(),
            DestinationPattern::parse("/a/{x}").unwrap()
        );
        assert_eq!(
            DestinationPattern::parse("/a/<x>").unwrap(),
            DestinationPattern::parse("/a/<x>").unwrap()
        );
    }
}
