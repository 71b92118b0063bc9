//! Specificity: which of several matching patterns handles a destination.

use std::cmp::Ordering;

use super::{DestinationPattern, Segment};

/// The rank of the position just past a pattern's last segment.
const END: u8 = 3;

/// The rank of a segment: literal 0, variable 1, `*` 2, `**` 4 (the end of a pattern is 3).
pub(super) fn rank(segment: &Segment) -> u8 {
    match segment {
        Segment::Literal(_) => 0,
        Segment::Variable(_) => 1,
        Segment::Wildcard => 2,
        Segment::TailWildcard => 4,
    }
}

impl DestinationPattern {
    /// Orders by specificity: `Less` means `self` is more specific.
    ///
    /// Positional and lexicographic: each pattern reads as a sequence of ranks, literal (0) <
    /// variable (1) < `*` (2) < end of pattern (3) < `**` (4), and at the first position where
    /// the ranks differ the lower rank is more specific. So a literal beats a variable, which
    /// beats `*`, which beats `**`, and the longer of two otherwise equal patterns wins
    /// (`/a/*` before `/a/*/**`, `/a` before `/a/**`). For `/a/b/b`, `/a/b/<y>` is more
    /// specific than `/a/<x>/b` because the first difference is a literal against a variable.
    ///
    /// When every rank is equal the literal texts are compared, then the source, then the
    /// separator, so this is a total order consistent with `==` and sorting is deterministic.
    /// Those tie-breaks only ever separate patterns that match the same destinations or
    /// disjoint ones: two *overlapping* patterns with equal ranks are duplicates (see
    /// [`same_shape`](Self::same_shape)), which a router reports as ambiguous at start-up.
    ///
    /// Spring's `AntPatternComparator` counts instead (variables + `*` + 2 × `**`, then
    /// length, then the kinds of wildcard), so it ranks many differently shaped patterns equal,
    /// `/a/<x>/b` and `/a/b/<y>` for one, and only finds out at run time, when a destination
    /// matches both, that the handler is ambiguous. Here a tie between overlapping patterns
    /// can only come from the same shape, which is checked before any message arrives.
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// use stomp_core::DestinationPattern;
    ///
    /// let p = |s| DestinationPattern::parse(s).unwrap();
    /// assert_eq!(p("/a/b/<y>").specificity_cmp(&p("/a/<x>/b")), Ordering::Less);
    /// assert_eq!(p("/a/*").specificity_cmp(&p("/a/**")), Ordering::Less);
    ///
    /// let mut patterns = vec![p("/topic/**"), p("/topic/*"), p("/topic/news"), p("/topic/<t>")];
    /// patterns.sort_by(|a, b| a.specificity_cmp(b));
    /// let sorted: Vec<&str> = patterns.iter().map(|p| p.as_str()).collect();
    /// assert_eq!(sorted, ["/topic/news", "/topic/<t>", "/topic/*", "/topic/**"]);
    /// ```
    pub fn specificity_cmp(&self, other: &DestinationPattern) -> Ordering {
        self.ranks()
            .cmp(other.ranks())
            .then_with(|| self.literals().cmp(other.literals()))
            .then_with(|| self.source.cmp(&other.source))
            .then_with(|| self.separator.cmp(&other.separator))
    }

    /// The rank of every segment, then [`END`].
    ///
    /// `END` only ever appears last and no segment ranks 3, so two different sequences differ
    /// at a position both have: plain lexicographic order, no prefix case.
    fn ranks(&self) -> impl Iterator<Item = u8> + '_ {
        self.segments.iter().map(rank).chain(std::iter::once(END))
    }

    /// The literal segments' texts, in order.
    fn literals(&self) -> impl Iterator<Item = &str> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Literal(text) => Some(text.as_str()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use super::super::DestinationPattern;

    fn p(s: &str) -> DestinationPattern {
        DestinationPattern::parse(s).unwrap()
    }

    #[test]
    fn more_specific_first() {
        // (more specific, less specific)
        let cases = [
            ("/a/b", "/a/<x>"),
            ("/a/<x>", "/a/*"),
            ("/a/*", "/a/**"),
            ("/a/b", "/a/**"),
            ("/a/<x>", "/a/**"),
            ("/a/*", "/a/*/**"),
            ("/a", "/a/**"),
            ("/a/b/c", "/a/b"),
            ("/a/b/<y>", "/a/<x>/b"),
            ("/a/b/**", "/a/*/c"),
            ("/a/**", "/*/b"),
            ("/a/<x>/**", "/a/*"),
        ];
        for (specific, general) in cases {
            let (specific, general) = (p(specific), p(general));
            assert_eq!(
                specific.specificity_cmp(&general),
                Ordering::Less,
                "`{specific}` before `{general}`"
            );
            assert_eq!(
                general.specificity_cmp(&specific),
                Ordering::Greater,
                "`{general}` after `{specific}`"
            );
        }
    }

    #[test]
    fn most_specific_match_wins_for_a_destination() {
        let patterns = ["/a/<x>/b", "/a/b/<y>", "/a/**", "/a/*/*", "/**"].map(p);
        let best = |destination: &str| {
            patterns
                .iter()
                .filter(|p| p.matches(destination).is_some())
                .min_by(|a, b| a.specificity_cmp(b))
                .map(|p| p.as_str().to_owned())
        };
        assert_eq!(best("/a/b/b").as_deref(), Some("/a/b/<y>"));
        assert_eq!(best("/a/c/b").as_deref(), Some("/a/<x>/b"));
        assert_eq!(best("/a/c/d").as_deref(), Some("/a/*/*"));
        assert_eq!(best("/a/c/d/e").as_deref(), Some("/a/**"));
        assert_eq!(best("/a").as_deref(), Some("/a/**"));
        assert_eq!(best("/b").as_deref(), Some("/**"));
    }

    #[test]
    fn ties_are_broken_deterministically() {
        // Same shape: only the literal text, then the source, tells them apart.
        assert_eq!(p("/a/<x>").specificity_cmp(&p("/b/<x>")), Ordering::Less);
        assert_eq!(p("/a/<x>").specificity_cmp(&p("/a/{x}")), Ordering::Less);
        assert_eq!(p("/a/<x>").specificity_cmp(&p("/a/<y>")), Ordering::Less);
        assert_eq!(p("/a/<x>").specificity_cmp(&p("/a/<x>")), Ordering::Equal);
        assert_eq!(p("/a").specificity_cmp(&p("a")), Ordering::Less);
        let dot = DestinationPattern::parse_with_separator("a", '.').unwrap();
        assert_eq!(p("a").specificity_cmp(&dot), Ordering::Greater);
        assert_eq!(dot.specificity_cmp(&p("a")), Ordering::Less);
    }

    #[test]
    fn sorting_a_table() {
        let mut patterns = [
            "/**",
            "/topic/**",
            "/topic/*",
            "/topic/<t>",
            "/topic/news",
            "/topic/<t>/**",
            "/topic/news/today",
            "/*/news",
        ]
        .map(p);
        patterns.sort_by(DestinationPattern::specificity_cmp);
        let sorted: Vec<&str> = patterns.iter().map(DestinationPattern::as_str).collect();
        assert_eq!(
            sorted,
            [
                "/topic/news/today",
                "/topic/news",
                "/topic/<t>",
                "/topic/<t>/**",
                "/topic/*",
                "/topic/**",
                "/*/news",
                "/**",
            ]
        );
    }
}
