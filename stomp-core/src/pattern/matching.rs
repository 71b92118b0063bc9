//! Matching a destination, and deciding whether two patterns can match the same destination.

use memchr::memchr;

use super::{Captures, DestinationPattern, Segment};

/// The segments of a destination body, split on an ASCII separator without allocating.
///
/// An empty body has no segments; otherwise `a//b` yields `a`, ``, `b`.
struct DestinationSegments<'d> {
    rest: Option<&'d str>,
    separator: u8,
}

impl<'d> Iterator for DestinationSegments<'d> {
    type Item = &'d str;

    fn next(&mut self) -> Option<&'d str> {
        let rest = self.rest.take()?;
        match memchr(self.separator, rest.as_bytes()) {
            Some(at) => {
                // `at` is the index of an ASCII byte, hence a char boundary on both sides.
                self.rest = Some(&rest[at + 1..]);
                Some(&rest[..at])
            }
            None => Some(rest),
        }
    }
}

impl DestinationSegments<'_> {
    /// Takes the next segment when it is exactly `text` (never empty), comparing in place:
    /// no search for the separator, which is most of the cost of a segment that differs.
    fn take_literal(&mut self, text: &str) -> bool {
        let Some(rest) = self.rest else {
            return false;
        };
        if !rest.starts_with(text) {
            return false;
        }
        match rest.as_bytes().get(text.len()) {
            None => self.rest = None,
            // The separator is ASCII: `text.len() + 1` is a char boundary.
            Some(&byte) if byte == self.separator => self.rest = Some(&rest[text.len() + 1..]),
            Some(_) => return false,
        }
        true
    }
}

impl DestinationPattern {
    /// The separator as a byte; parsing only accepts `/` and `.`.
    fn separator_byte(&self) -> u8 {
        if self.separator == '.' {
            b'.'
        } else {
            b'/'
        }
    }

    /// The destination without the leading `/` the pattern accounts for, or `None` when the
    /// leading `/` disagrees (separator `/` only: `/a` never matches `a`).
    fn body<'d>(&self, destination: &'d str) -> Option<&'d str> {
        match (destination.strip_prefix('/'), self.separator) {
            (Some(body), '.') => Some(body),
            (None, '.') => Some(destination),
            (Some(body), _) if self.rooted => Some(body),
            (None, _) if !self.rooted => Some(destination),
            _ => None,
        }
    }

    /// Matches a destination, returning the captured variables.
    ///
    /// A literal pattern is a plain string comparison; otherwise the destination is walked once
    /// and the only allocation is the [`Captures`] vector, sized to the number of variables
    /// (none at all when the pattern has no variable).
    ///
    /// ```
    /// use stomp_core::DestinationPattern;
    ///
    /// let pattern = DestinationPattern::parse_with_separator("/chat.<room>", '.')?;
    /// assert_eq!(pattern.matches("chat.r1").and_then(|c| c.get("room")), Some("r1"));
    /// assert_eq!(pattern.matches("/chat.r1").and_then(|c| c.get("room")), Some("r1"));
    /// assert!(pattern.matches("chat.").is_none());
    /// # Ok::<(), stomp_core::PatternError>(())
    /// ```
    pub fn matches<'d>(&self, destination: &'d str) -> Option<Captures<'_, 'd>> {
        let mut pairs = Vec::with_capacity(self.variable_count);
        self.walk(destination, |name, value| pairs.push((name, value)))
            .then_some(Captures { pairs })
    }

    /// True when `destination` matches, without capturing anything: never allocates, for
    /// callers that only ask whether (authorization rules evaluated on every frame).
    ///
    /// ```
    /// use stomp_core::DestinationPattern;
    ///
    /// let pattern = DestinationPattern::parse("/user/<name>/**")?;
    /// assert!(pattern.is_match("/user/bob/queue/x"));
    /// assert!(!pattern.is_match("/topic/x"));
    /// # Ok::<(), stomp_core::PatternError>(())
    /// ```
    pub fn is_match(&self, destination: &str) -> bool {
        self.walk(destination, |_, _| {})
    }

    /// Walks `destination` against the segments once, handing each variable's value to
    /// `capture`; true when the whole destination matches.
    fn walk<'p, 'd>(
        &'p self,
        destination: &'d str,
        mut capture: impl FnMut(&'p str, &'d str),
    ) -> bool {
        let Some(body) = self.body(destination) else {
            return false;
        };
        if self.literal {
            let own = self.source.strip_prefix('/').unwrap_or(&self.source);
            return own == body;
        }
        let mut parts = DestinationSegments {
            rest: (!body.is_empty()).then_some(body),
            separator: self.separator_byte(),
        };
        for segment in &self.segments {
            let fits = match segment {
                Segment::TailWildcard => return true,
                Segment::Literal(text) => parts.take_literal(text),
                Segment::Wildcard => parts.next().is_some_and(|part| !part.is_empty()),
                Segment::Variable(name) => match parts.next() {
                    Some(part) if !part.is_empty() => {
                        capture(name.as_str(), part);
                        true
                    }
                    _ => false,
                },
            };
            if !fits {
                return false;
            }
        }
        parts.next().is_none()
    }

    /// True when some destination matches both patterns.
    ///
    /// Exact, not a heuristic: segments are compared pairwise, two literals must be equal,
    /// anything else can be satisfied (a literal is never empty), and `**` absorbs whatever is
    /// left of the other pattern, including nothing. With separator `/` both must agree on the
    /// leading `/`. Patterns with different separators belong to different routers and are
    /// never reported as overlapping.
    ///
    /// ```
    /// use stomp_core::DestinationPattern;
    ///
    /// let p = |s| DestinationPattern::parse(s).unwrap();
    /// assert!(p("/a/<x>/b").overlaps(&p("/a/b/<y>"))); // both match /a/b/b
    /// assert!(p("/a/**").overlaps(&p("/a")));
    /// assert!(!p("/a/*").overlaps(&p("/a")));
    /// ```
    pub fn overlaps(&self, other: &DestinationPattern) -> bool {
        if self.separator != other.separator {
            return false;
        }
        if self.separator == '/' && self.rooted != other.rooted {
            return false;
        }
        let mut mine = self.segments.iter();
        let mut theirs = other.segments.iter();
        loop {
            match (mine.next(), theirs.next()) {
                (None, None) => return true,
                (Some(Segment::TailWildcard), _) | (_, Some(Segment::TailWildcard)) => return true,
                (None, Some(_)) | (Some(_), None) => return false,
                (Some(Segment::Literal(a)), Some(Segment::Literal(b))) if a != b => return false,
                (Some(_), Some(_)) => {}
            }
        }
    }

    /// True when the two patterns are duplicates: they have the same shape (a literal, a
    /// variable, `*` or `**` at each position) and overlap, so they match exactly the same
    /// destinations and neither is more specific. A router reports such a pair as ambiguous;
    /// they are the only overlapping pairs [`specificity_cmp`](Self::specificity_cmp) ranks
    /// equal before its tie-breaks.
    ///
    /// ```
    /// use stomp_core::DestinationPattern;
    ///
    /// let p = |s| DestinationPattern::parse(s).unwrap();
    /// assert!(p("/chat/<room>").same_shape(&p("/chat/{id}")));
    /// assert!(!p("/chat/<room>").same_shape(&p("/chat/*")));
    /// assert!(!p("/chat/<room>").same_shape(&p("/news/<room>")));
    /// ```
    pub fn same_shape(&self, other: &DestinationPattern) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(a, b)| super::order::rank(a) == super::order::rank(b))
            && self.overlaps(other)
    }
}

#[cfg(test)]
mod tests {
    use super::super::DestinationPattern;

    fn p(s: &str) -> DestinationPattern {
        DestinationPattern::parse(s).unwrap()
    }

    fn dot(s: &str) -> DestinationPattern {
        DestinationPattern::parse_with_separator(s, '.').unwrap()
    }

    /// `(pattern, destination, expected captures or None for no match)`.
    fn check(pattern: &DestinationPattern, destination: &str, expected: Option<&[(&str, &str)]>) {
        let got = pattern.matches(destination);
        assert_eq!(
            pattern.is_match(destination),
            got.is_some(),
            "is_match agrees with matches: `{pattern}` against `{destination}`"
        );
        let got: Option<Vec<(&str, &str)>> = got.map(|c| c.iter().collect());
        assert_eq!(
            got.as_deref(),
            expected,
            "`{pattern}` against `{destination}`"
        );
    }

    #[test]
    fn literal_fast_path() {
        let cases: &[(&str, &str, bool)] = &[
            ("/topic/news", "/topic/news", true),
            ("/topic/news", "/topic/news/", false),
            ("/topic/news", "topic/news", false),
            ("/topic/news", "/topic/new", false),
            ("/topic/news", "/topic", false),
            ("topic/news", "topic/news", true),
            ("topic/news", "/topic/news", false),
            ("/", "/", true),
            ("/", "", false),
            ("/", "/a", false),
        ];
        for (pattern, destination, expected) in cases {
            let pattern = p(pattern);
            assert!(pattern.is_literal());
            check(&pattern, destination, expected.then_some(&[]));
        }
        for (destination, expected) in [
            ("chat.news", true),
            ("/chat.news", true),
            ("//chat.news", false),
            ("chat.news.", false),
            ("chat", false),
        ] {
            check(&dot("/chat.news"), destination, expected.then_some(&[]));
            check(&dot("chat.news"), destination, expected.then_some(&[]));
        }
    }

    #[test]
    fn variables_both_syntaxes() {
        for pattern in ["/chat/<room>", "/chat/{room}"] {
            let pattern = p(pattern);
            check(&pattern, "/chat/r1", Some(&[("room", "r1")]));
            check(&pattern, "/chat/a.b-c", Some(&[("room", "a.b-c")]));
            check(&pattern, "/chat/", None);
            check(&pattern, "/chat", None);
            check(&pattern, "/chat/r1/x", None);
            check(&pattern, "/news/r1", None);
            check(&pattern, "chat/r1", None);
        }
        let two = p("/chat/<room>/{user}/msg");
        check(&two, "/chat/r/u/msg", Some(&[("room", "r"), ("user", "u")]));
        check(&two, "/chat/r//msg", None);
        check(&two, "/chat/r/u/msgs", None);
        let unrooted = p("<a>/<b>");
        check(&unrooted, "x/y", Some(&[("a", "x"), ("b", "y")]));
        check(&unrooted, "/x/y", None);
    }

    #[test]
    fn captures_api() {
        let pattern = p("/chat/<room>/<user>");
        let captures = pattern.matches("/chat/lobby/ann").unwrap();
        assert_eq!(captures.len(), 2);
        assert!(!captures.is_empty());
        assert_eq!(captures.get("room"), Some("lobby"));
        assert_eq!(captures.get("user"), Some("ann"));
        assert_eq!(captures.get("chat"), None);
        let wildcard = p("/chat/*");
        let empty = wildcard.matches("/chat/x").unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn single_wildcard() {
        let pattern = p("/topic/*/x");
        check(&pattern, "/topic/a/x", Some(&[]));
        check(&pattern, "/topic//x", None);
        check(&pattern, "/topic/a/b/x", None);
        check(&pattern, "/topic/x", None);
        check(&p("/*"), "/a", Some(&[]));
        check(&p("/*"), "/", None);
        check(&p("*"), "a", Some(&[]));
        check(&p("*"), "", None);
    }

    #[test]
    fn tail_wildcard() {
        let pattern = p("/topic/**");
        for destination in ["/topic", "/topic/", "/topic/a", "/topic/a/b", "/topic//b"] {
            check(&pattern, destination, Some(&[]));
        }
        for destination in ["/topics", "/topi", "/", "topic", "topic/a", "/news/a"] {
            check(&pattern, destination, None);
        }
        let with_var = p("/chat/<room>/**");
        check(&with_var, "/chat/r", Some(&[("room", "r")]));
        check(&with_var, "/chat/r/a/b", Some(&[("room", "r")]));
        check(&with_var, "/chat", None);
        check(&p("/**"), "/", Some(&[]));
        check(&p("/**"), "/a/b", Some(&[]));
        check(&p("/**"), "a", None);
        check(&p("**"), "", Some(&[]));
        check(&p("**"), "a/b", Some(&[]));
        check(&p("**"), "/a", None);
    }

    #[test]
    fn dot_separator() {
        for pattern in ["/chat.<room>", "chat.{room}"] {
            let pattern = dot(pattern);
            check(&pattern, "chat.r1", Some(&[("room", "r1")]));
            check(&pattern, "/chat.r1", Some(&[("room", "r1")]));
            check(&pattern, "chat.r/1", Some(&[("room", "r/1")]));
            check(&pattern, "chat.", None);
            check(&pattern, "chat.r1.x", None);
            check(&pattern, "/chat/r1", None);
            check(&pattern, "//chat.r1", None);
        }
        let tail = dot("/topic.**");
        for destination in ["topic", "/topic", "topic.a.b", "/topic.a"] {
            check(&tail, destination, Some(&[]));
        }
        check(&tail, "topics", None);
        check(&dot("a.*.c"), "/a.b.c", Some(&[]));
        check(&dot("a.*.c"), "a..c", None);
    }

    #[test]
    fn overlaps_table() {
        let cases = [
            ("/a/<x>/b", "/a/b/<y>", true),
            ("/a/<x>", "/a/*", true),
            ("/a/b", "/a/b", true),
            ("/a/b", "/a/c", false),
            ("/a/*", "/a", false),
            ("/a/*", "/a/b/c", false),
            ("/a/**", "/a", true),
            ("/a/**", "/a/b/c", true),
            ("/a/**", "/b/**", false),
            ("/**", "/", true),
            ("/**", "/x/<y>/*", true),
            ("/a/b/**", "/a/*", true),
            ("/a/b/**", "/a/c/**", false),
            ("/a/<x>/c", "/a/b/d", false),
            ("/a", "a", false),
            ("**", "/a", false),
            ("**", "a/b", true),
        ];
        for (a, b, expected) in cases {
            assert_eq!(p(a).overlaps(&p(b)), expected, "`{a}` overlaps `{b}`");
            assert_eq!(p(b).overlaps(&p(a)), expected, "`{b}` overlaps `{a}`");
        }
        assert!(dot("/chat.<room>").overlaps(&dot("chat.x")));
        assert!(dot("chat.**").overlaps(&dot("/chat")));
        assert!(!dot("chat.a").overlaps(&dot("chat.b")));
        assert!(!p("a").overlaps(&dot("a")));
    }

    #[test]
    fn same_shape_table() {
        let cases = [
            ("/chat/<room>", "/chat/{id}", true),
            ("/chat/<room>", "/chat/<room>", true),
            ("/a/*", "/a/*", true),
            ("/a/**", "/a/**", true),
            ("/*/b", "/a/*", false),
            ("/chat/<room>", "/chat/*", false),
            ("/chat/<room>", "/news/<room>", false),
            ("/a/<x>/b", "/a/b/<y>", false),
            ("/a/**", "/a/*/**", false),
            ("/a", "a", false),
        ];
        for (a, b, expected) in cases {
            assert_eq!(
                p(a).same_shape(&p(b)),
                expected,
                "`{a}` same shape as `{b}`"
            );
            assert_eq!(
                p(b).same_shape(&p(a)),
                expected,
                "`{b}` same shape as `{a}`"
            );
        }
        assert!(dot("/chat.<room>").same_shape(&dot("chat.{r}")));
    }
}
