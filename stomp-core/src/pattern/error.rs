//! [`PatternError`]: why a pattern could not be parsed or expanded.

/// Why a pattern could not be parsed (or, for the last two variants, expanded).
///
/// The proc macros show these texts at compile time and a stable span cannot point inside a
/// string literal, so every message quotes the offending segment or pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// `<room` without `>` (or `{room` without `}`).
    #[error("unclosed `{segment}`")]
    Unclosed {
        /// The segment as written.
        segment: String,
    },
    /// Nothing to parse: `""`, or `"/"` with separator `.` (whose leading `/` is ignored).
    #[error("empty pattern")]
    EmptyPattern {
        /// The pattern as written.
        pattern: String,
    },
    /// A separator other than `/` or `.`.
    #[error("unsupported separator `{separator}`: expected `/` or `.`")]
    UnsupportedSeparator {
        /// The separator asked for.
        separator: char,
    },
    /// Two separators in a row, as in `/a//b`, or a leading `.` with separator `.`.
    #[error("empty segment in `{pattern}`")]
    EmptySegment {
        /// The pattern as written.
        pattern: String,
    },
    /// A pattern ending with its separator, as in `/a/`.
    #[error("trailing `{separator}` in `{pattern}`")]
    TrailingSeparator {
        /// The separator.
        separator: char,
        /// The pattern as written.
        pattern: String,
    },
    /// A `>` or `}` with no opening bracket before it, as in `room>`.
    #[error("unmatched `{bracket}` in `{segment}`")]
    StrayBracket {
        /// The stray bracket.
        bracket: char,
        /// The segment as written.
        segment: String,
    },
    /// A variable opened with one bracket kind and closed with the other, as in `<room}`.
    #[error("mismatched brackets in `{segment}`")]
    MismatchedBrackets {
        /// The segment as written.
        segment: String,
    },
    /// `<>` or `{}`.
    #[error("empty variable name in `{segment}`")]
    EmptyVariableName {
        /// The segment as written.
        segment: String,
    },
    /// A name that is not `[A-Za-z_][A-Za-z0-9_]*`, as in `<1x>` or `<room-id>`.
    #[error("invalid variable name `{name}` in `{segment}`")]
    InvalidVariableName {
        /// The name between the brackets.
        name: String,
        /// The segment as written.
        segment: String,
    },
    /// A Spring-style regular expression in a variable, as in `{id:\d+}`: not supported.
    #[error(
        "regular expressions in variables are not supported: `{segment}`; \
         write `{{{name}}}` and check the value in the handler"
    )]
    VariableRegex {
        /// The name before the `:`.
        name: String,
        /// The segment as written.
        segment: String,
    },
    /// The same name used by two variables, as in `/a/<room>/<room>`.
    #[error("duplicate variable `{name}` in `{pattern}`")]
    DuplicateVariable {
        /// The repeated name.
        name: String,
        /// The pattern as written.
        pattern: String,
    },
    /// A variable sharing its segment with other text, as in `room-<id>` or `<a><b>`.
    #[error("variable must fill a whole segment: `{segment}`")]
    VariableNotWholeSegment {
        /// The segment as written.
        segment: String,
    },
    /// A `*` sharing its segment with other text, as in `a*b` or `***`.
    #[error("wildcard `*` must fill a whole segment: `{segment}`")]
    PartialWildcard {
        /// The segment as written.
        segment: String,
    },
    /// `**` before the last segment, as in `/a/**/b`.
    #[error("`**` is only allowed as the last segment, in `{pattern}`")]
    TailWildcardNotLast {
        /// The pattern as written.
        pattern: String,
    },
    /// [`expand`](super::DestinationPattern::expand) on a pattern with `*` or `**`.
    #[error("wildcard `{wildcard}` cannot be expanded in `{pattern}`")]
    WildcardInTemplate {
        /// `*` or `**`.
        wildcard: String,
        /// The pattern as written.
        pattern: String,
    },
    /// [`expand`](super::DestinationPattern::expand) found no value for a variable.
    #[error("no value for variable `{name}`")]
    UnboundVariable {
        /// The variable's name.
        name: String,
    },
}
