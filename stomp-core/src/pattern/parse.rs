//! Pattern text to [`Segment`]s, with an error quoting the first mistake.

use super::{PatternError, Segment};

/// The bracket characters: openers `<`, `{` and closers `>`, `}`.
const BRACKETS: &[char] = &['<', '>', '{', '}'];

/// A pattern split into segments.
pub(super) struct Parsed {
    /// The segments, separators and the leading `/` removed.
    pub(super) segments: Vec<Segment>,
    /// The pattern started with `/`.
    pub(super) rooted: bool,
}

/// Parses `pattern` with `separator` (`/` or `.`).
///
/// With `/`, the pattern `/` alone is the root: no segments, rooted. With `.`, one leading `/`
/// is dropped, so `/` alone is empty.
pub(super) fn parse(pattern: &str, separator: char) -> Result<Parsed, PatternError> {
    if separator != '/' && separator != '.' {
        return Err(PatternError::UnsupportedSeparator { separator });
    }
    let (rooted, body) = match pattern.strip_prefix('/') {
        Some(body) => (true, body),
        None => (false, pattern),
    };
    if body.is_empty() {
        return if rooted && separator == '/' {
            Ok(Parsed {
                segments: Vec::new(),
                rooted,
            })
        } else {
            Err(PatternError::EmptyPattern {
                pattern: pattern.to_owned(),
            })
        };
    }

    let mut segments = Vec::with_capacity(body.matches(separator).count() + 1);
    let mut raws = body.split(separator).peekable();
    while let Some(raw) = raws.next() {
        let last = raws.peek().is_none();
        if raw.is_empty() {
            return Err(if last {
                PatternError::TrailingSeparator {
                    separator,
                    pattern: pattern.to_owned(),
                }
            } else {
                PatternError::EmptySegment {
                    pattern: pattern.to_owned(),
                }
            });
        }
        let segment = segment(raw)?;
        match &segment {
            Segment::TailWildcard if !last => {
                return Err(PatternError::TailWildcardNotLast {
                    pattern: pattern.to_owned(),
                });
            }
            Segment::Variable(name)
                if segments
                    .iter()
                    .any(|s| matches!(s, Segment::Variable(n) if n == name)) =>
            {
                return Err(PatternError::DuplicateVariable {
                    name: name.clone(),
                    pattern: pattern.to_owned(),
                });
            }
            _ => {}
        }
        segments.push(segment);
    }
    Ok(Parsed { segments, rooted })
}

/// Parses one non-empty segment.
fn segment(raw: &str) -> Result<Segment, PatternError> {
    match raw {
        "**" => return Ok(Segment::TailWildcard),
        "*" => return Ok(Segment::Wildcard),
        _ => {}
    }
    if !raw.contains(BRACKETS) {
        if raw.contains('*') {
            return Err(PatternError::PartialWildcard {
                segment: raw.to_owned(),
            });
        }
        return Ok(Segment::Literal(raw.to_owned()));
    }

    // Walk every bracketed part so that a stray or unclosed bracket anywhere is reported as
    // such; only a single variable spanning the whole segment is accepted.
    let mut cursor = 0;
    while let Some(found) = raw[cursor..].find(BRACKETS) {
        let open_at = cursor + found;
        let close = match raw[open_at..].chars().next() {
            Some('<') => '>',
            Some('{') => '}',
            Some(bracket) => {
                return Err(PatternError::StrayBracket {
                    bracket,
                    segment: raw.to_owned(),
                })
            }
            None => break,
        };
        let inner_start = open_at + 1;
        let inner_end = raw[inner_start..]
            .find(BRACKETS)
            .map_or(raw.len(), |i| inner_start + i);
        let inner = &raw[inner_start..inner_end];
        if let Some(colon) = inner.find(':') {
            return Err(PatternError::VariableRegex {
                name: inner[..colon].to_owned(),
                segment: raw.to_owned(),
            });
        }
        match raw[inner_end..].chars().next() {
            Some(c) if c == close => {}
            Some('>' | '}') => {
                return Err(PatternError::MismatchedBrackets {
                    segment: raw.to_owned(),
                })
            }
            // End of segment, or another opener before this one closed.
            _ => {
                return Err(PatternError::Unclosed {
                    segment: raw.to_owned(),
                })
            }
        }
        check_name(inner, raw)?;
        let after = inner_end + 1;
        if open_at == 0 && after == raw.len() {
            return Ok(Segment::Variable(inner.to_owned()));
        }
        cursor = after;
    }
    Err(PatternError::VariableNotWholeSegment {
        segment: raw.to_owned(),
    })
}

/// Checks that `name` is `[A-Za-z_][A-Za-z0-9_]*`.
fn check_name(name: &str, segment: &str) -> Result<(), PatternError> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err(PatternError::EmptyVariableName {
            segment: segment.to_owned(),
        });
    };
    let valid = (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(PatternError::InvalidVariableName {
            name: name.to_owned(),
            segment: segment.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DestinationPattern, PatternError, Segment};

    fn err(pattern: &str) -> String {
        err_sep(pattern, '/')
    }

    fn err_sep(pattern: &str, separator: char) -> String {
        match DestinationPattern::parse_with_separator(pattern, separator) {
            Ok(p) => panic!("`{pattern}` parsed as {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn segments(pattern: &str, separator: char) -> Vec<Segment> {
        DestinationPattern::parse_with_separator(pattern, separator)
            .unwrap()
            .segments()
            .to_vec()
    }

    fn lit(s: &str) -> Segment {
        Segment::Literal(s.to_owned())
    }

    fn var(s: &str) -> Segment {
        Segment::Variable(s.to_owned())
    }

    #[test]
    fn parses_both_variable_syntaxes_and_wildcards() {
        let cases: &[(&str, char, Vec<Segment>)] = &[
            ("/chat/<room>", '/', vec![lit("chat"), var("room")]),
            ("/chat/{room}", '/', vec![lit("chat"), var("room")]),
            ("chat/<room>", '/', vec![lit("chat"), var("room")]),
            ("/topic/*", '/', vec![lit("topic"), Segment::Wildcard]),
            ("/topic/**", '/', vec![lit("topic"), Segment::TailWildcard]),
            ("/**", '/', vec![Segment::TailWildcard]),
            ("**", '/', vec![Segment::TailWildcard]),
            ("/", '/', vec![]),
            ("/a.b/c", '/', vec![lit("a.b"), lit("c")]),
            ("/_x/<_>/<a_1>", '/', vec![lit("_x"), var("_"), var("a_1")]),
            ("/chat.<room>", '.', vec![lit("chat"), var("room")]),
            (
                "chat.{room}.**",
                '.',
                vec![lit("chat"), var("room"), Segment::TailWildcard],
            ),
            ("a/b.*", '.', vec![lit("a/b"), Segment::Wildcard]),
        ];
        for (pattern, sep, expected) in cases {
            assert_eq!(&segments(pattern, *sep), expected, "{pattern}");
        }
    }

    #[test]
    fn error_texts() {
        let cases = [
            ("", "empty pattern"),
            ("/chat/<room", "unclosed `<room`"),
            ("/chat/{room", "unclosed `{room`"),
            ("/chat/<a<b>", "unclosed `<a<b>`"),
            ("/chat/<>", "empty variable name in `<>`"),
            ("/chat/{}", "empty variable name in `{}`"),
            ("/chat/<1x>", "invalid variable name `1x` in `<1x>`"),
            (
                "/chat/{room-id}",
                "invalid variable name `room-id` in `{room-id}`",
            ),
            ("/chat/<é>", "invalid variable name `é` in `<é>`"),
            (
                "/a/<room>/<room>",
                "duplicate variable `room` in `/a/<room>/<room>`",
            ),
            (
                "/a/<room>/{room}",
                "duplicate variable `room` in `/a/<room>/{room}`",
            ),
            (
                "/a/**/b",
                "`**` is only allowed as the last segment, in `/a/**/b`",
            ),
            (
                "/a/**/**",
                "`**` is only allowed as the last segment, in `/a/**/**`",
            ),
            ("/a//b", "empty segment in `/a//b`"),
            ("//a", "empty segment in `//a`"),
            ("/a/", "trailing `/` in `/a/`"),
            ("/chat/<room}", "mismatched brackets in `<room}`"),
            ("/chat/{room>", "mismatched brackets in `{room>`"),
            (
                "/chat/room-<id>",
                "variable must fill a whole segment: `room-<id>`",
            ),
            (
                "/chat/<id>-x",
                "variable must fill a whole segment: `<id>-x`",
            ),
            (
                "/chat/<a><b>",
                "variable must fill a whole segment: `<a><b>`",
            ),
            ("/chat/<a>*", "variable must fill a whole segment: `<a>*`"),
            ("/chat/room>", "unmatched `>` in `room>`"),
            ("/chat/a}", "unmatched `}` in `a}`"),
            ("/chat/<a>>", "unmatched `>` in `<a>>`"),
            ("/a*b", "wildcard `*` must fill a whole segment: `a*b`"),
            ("/a/***", "wildcard `*` must fill a whole segment: `***`"),
            ("/a/*x", "wildcard `*` must fill a whole segment: `*x`"),
            (
                "/user/{id:\\d+}",
                "regular expressions in variables are not supported: `{id:\\d+}`; \
                 write `{id}` and check the value in the handler",
            ),
            (
                "/user/{id:\\d{3}}",
                "regular expressions in variables are not supported: `{id:\\d{3}}`; \
                 write `{id}` and check the value in the handler",
            ),
        ];
        for (pattern, expected) in cases {
            assert_eq!(err(pattern), expected, "{pattern}");
        }
    }

    #[test]
    fn error_texts_with_dot_separator() {
        let cases = [
            ("", "empty pattern"),
            ("/", "empty pattern"),
            ("chat.", "trailing `.` in `chat.`"),
            ("chat..<room>", "empty segment in `chat..<room>`"),
            (".chat", "empty segment in `.chat`"),
            ("/.chat", "empty segment in `/.chat`"),
            (
                "chat.**.x",
                "`**` is only allowed as the last segment, in `chat.**.x`",
            ),
        ];
        for (pattern, expected) in cases {
            assert_eq!(err_sep(pattern, '.'), expected, "{pattern}");
        }
        assert_eq!(
            err_sep("/a", ':'),
            "unsupported separator `:`: expected `/` or `.`"
        );
    }

    #[test]
    fn error_fields() {
        assert_eq!(
            DestinationPattern::parse("/a/<1x>"),
            Err(PatternError::InvalidVariableName {
                name: "1x".into(),
                segment: "<1x>".into()
            })
        );
        assert_eq!(
            DestinationPattern::parse("/a/"),
            Err(PatternError::TrailingSeparator {
                separator: '/',
                pattern: "/a/".into()
            })
        );
        assert_eq!(
            DestinationPattern::parse("/a/<r>/<r>"),
            Err(PatternError::DuplicateVariable {
                name: "r".into(),
                pattern: "/a/<r>/<r>".into()
            })
        );
        assert_eq!(
            DestinationPattern::parse(""),
            Err(PatternError::EmptyPattern { pattern: "".into() })
        );
    }
}
