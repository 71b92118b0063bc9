//! Patterns used the other way round: filling a template, joining a prefix and a pattern.

use super::{DestinationPattern, PatternError, Segment};

impl DestinationPattern {
    /// Fills the variables of this pattern (used as a template, e.g. a `send_to` target).
    ///
    /// Each variable is replaced by `lookup(name)`; literals, the separator and the leading `/`
    /// are kept as written (`{room}` and `<room>` both expand). Values are inserted as given,
    /// not checked against the separator. A `*` or `**` has nothing to expand to and is
    /// [`PatternError::WildcardInTemplate`]; a name `lookup` does not know is
    /// [`PatternError::UnboundVariable`].
    ///
    /// ```
    /// use stomp_core::DestinationPattern;
    ///
    /// let template = DestinationPattern::parse("/topic/chat/{room}")?;
    /// let expanded = template.expand(|name| (name == "room").then_some("lobby"))?;
    /// assert_eq!(expanded, "/topic/chat/lobby");
    /// assert_eq!(
    ///     template.expand(|_| None).unwrap_err().to_string(),
    ///     "no value for variable `room`",
    /// );
    /// # Ok::<(), stomp_core::PatternError>(())
    /// ```
    pub fn expand<'v>(
        &self,
        lookup: impl Fn(&str) -> Option<&'v str>,
    ) -> Result<String, PatternError> {
        let mut out = String::with_capacity(self.source.len() + 16 * self.variable_count);
        if self.source.starts_with('/') {
            out.push('/');
        }
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                out.push(self.separator);
            }
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Variable(name) => match lookup(name) {
                    Some(value) => out.push_str(value),
                    None => return Err(PatternError::UnboundVariable { name: name.clone() }),
                },
                Segment::Wildcard | Segment::TailWildcard => {
                    let wildcard = if matches!(segment, Segment::Wildcard) {
                        "*"
                    } else {
                        "**"
                    };
                    return Err(PatternError::WildcardInTemplate {
                        wildcard: wildcard.to_owned(),
                        pattern: self.source.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Joins a module-level prefix and a handler's pattern; the same as [`combine`].
    pub fn combine(prefix: &str, pattern: &str, separator: char) -> String {
        combine(prefix, pattern, separator)
    }
}

/// Joins a module-level prefix and a handler's pattern, like Spring's class-level
/// `@MessageMapping("/chat")` plus a method's `"/{room}"`.
///
/// Exactly one `separator` ends up at the join whether the two sides bring none, one or two:
/// `"/chat"` + `"<room>"` and `"/chat/"` + `"/<room>"` both give `"/chat/<room>"`. An empty
/// side yields the other unchanged (`""` + `"/x"` is `"/x"`). With `.`, whose leading `/` is
/// ignored, a leading `/` on `pattern` is dropped too: `"chat"` + `"<room>"` or `"/<room>"`
/// give `"chat.<room>"`. The result is text; parse it to validate it.
///
/// ```
/// use stomp_core::pattern::combine;
///
/// assert_eq!(combine("/chat", "<room>", '/'), "/chat/<room>");
/// assert_eq!(combine("/chat/", "/<room>", '/'), "/chat/<room>");
/// assert_eq!(combine("/app.chat", "{room}", '.'), "/app.chat.{room}");
/// ```
pub fn combine(prefix: &str, pattern: &str, separator: char) -> String {
    if prefix.is_empty() {
        return pattern.to_owned();
    }
    let mut tail = pattern;
    if separator != '/' {
        tail = tail.strip_prefix('/').unwrap_or(tail);
    }
    tail = tail.strip_prefix(separator).unwrap_or(tail);
    if tail.is_empty() {
        return prefix.to_owned();
    }
    let head = prefix.strip_suffix(separator).unwrap_or(prefix);
    if separator != '/' && (head.is_empty() || head == "/") {
        // The prefix was only the ignored leading `/` (or a lone separator).
        return format!("{head}{tail}");
    }
    format!("{head}{separator}{tail}")
}

#[cfg(test)]
mod tests {
    use super::super::{DestinationPattern, PatternError};
    use super::combine;

    fn lookup(name: &str) -> Option<&'static str> {
        match name {
            "room" => Some("lobby"),
            "user" => Some("ann"),
            _ => None,
        }
    }

    #[test]
    fn expand_table() {
        let cases = [
            ("/topic/chat/<room>", '/', "/topic/chat/lobby"),
            ("/topic/chat/{room}", '/', "/topic/chat/lobby"),
            ("topic/<room>/<user>", '/', "topic/lobby/ann"),
            ("/topic/news", '/', "/topic/news"),
            ("/", '/', "/"),
            ("/topic.chat.<room>", '.', "/topic.chat.lobby"),
            ("topic.chat.{room}", '.', "topic.chat.lobby"),
        ];
        for (template, separator, expected) in cases {
            let pattern = DestinationPattern::parse_with_separator(template, separator).unwrap();
            assert_eq!(pattern.expand(lookup).unwrap(), expected, "{template}");
        }
    }

    #[test]
    fn expand_errors() {
        let cases = [
            ("/topic/<nope>", "no value for variable `nope`"),
            ("/topic/*", "wildcard `*` cannot be expanded in `/topic/*`"),
            (
                "/topic/**",
                "wildcard `**` cannot be expanded in `/topic/**`",
            ),
            (
                "/topic/<room>/*",
                "wildcard `*` cannot be expanded in `/topic/<room>/*`",
            ),
        ];
        for (template, expected) in cases {
            let pattern = DestinationPattern::parse(template).unwrap();
            assert_eq!(pattern.expand(lookup).unwrap_err().to_string(), expected);
        }
        assert_eq!(
            DestinationPattern::parse("/t/{x}")
                .unwrap()
                .expand(|_| None),
            Err(PatternError::UnboundVariable { name: "x".into() })
        );
    }

    #[test]
    fn expand_then_match_round_trips() {
        let pattern = DestinationPattern::parse("/chat/{room}/<user>").unwrap();
        let destination = pattern.expand(lookup).unwrap();
        let captures = pattern.matches(&destination).unwrap();
        assert_eq!(captures.get("room"), Some("lobby"));
        assert_eq!(captures.get("user"), Some("ann"));
    }

    #[test]
    fn combine_table() {
        let cases = [
            ("/chat", "<room>", '/', "/chat/<room>"),
            ("/chat", "/<room>", '/', "/chat/<room>"),
            ("/chat/", "<room>", '/', "/chat/<room>"),
            ("/chat/", "/<room>", '/', "/chat/<room>"),
            ("", "/x", '/', "/x"),
            ("", "x", '/', "x"),
            ("/chat", "", '/', "/chat"),
            ("/chat", "/", '/', "/chat"),
            ("/", "/x", '/', "/x"),
            ("/", "x", '/', "/x"),
            ("chat", "<room>", '/', "chat/<room>"),
            ("/app/chat", "{room}/**", '/', "/app/chat/{room}/**"),
            ("chat", "<room>", '.', "chat.<room>"),
            ("chat.", ".<room>", '.', "chat.<room>"),
            ("chat", "/<room>", '.', "chat.<room>"),
            ("/chat", "<room>", '.', "/chat.<room>"),
            ("/app.chat", ".{room}", '.', "/app.chat.{room}"),
            ("/", "x", '.', "/x"),
            ("", "/x", '.', "/x"),
            ("chat", "", '.', "chat"),
        ];
        for (prefix, pattern, separator, expected) in cases {
            assert_eq!(
                combine(prefix, pattern, separator),
                expected,
                "`{prefix}` + `{pattern}` with `{separator}`"
            );
            assert_eq!(
                DestinationPattern::combine(prefix, pattern, separator),
                expected
            );
        }
    }

    #[test]
    fn combined_pattern_parses_and_matches() {
        let pattern = DestinationPattern::parse(&combine("/chat/", "/<room>", '/')).unwrap();
        assert_eq!(
            pattern.matches("/chat/r1").and_then(|c| c.get("room")),
            Some("r1")
        );
    }
}
