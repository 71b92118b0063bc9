//! Collecting every mistake of one macro invocation before reporting, and the small helpers
//! that make the messages teach ("did you mean `room`?").
//!
//! Like serde_derive's `Ctxt`: validation pushes errors into [`Errors`] and keeps going, so a
//! single compile shows every problem; [`Errors::finish`] folds them into one `syn::Error`
//! with [`syn::Error::combine`].

use std::fmt::Display;

use proc_macro2::Span;
use quote::ToTokens;

/// The errors found so far.
#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    /// Starts with no error.
    pub(crate) fn new() -> Errors {
        Errors::default()
    }

    /// Records an error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// Records an error spanning `tokens` (first to last token, also on stable Rust).
    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at `span`.
    pub(crate) fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Keeps the value of `result`, or records its error and returns `None`.
    pub(crate) fn capture<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(error);
                None
            }
        }
    }

    /// `Ok(())` when nothing was recorded, else every error combined.
    pub(crate) fn finish(self) -> syn::Result<()> {
        match self.combined {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// A candidate close to `name`: equal ignoring case, or one edit (insertion, deletion,
/// substitution or swap of neighbours) away. Used for "did you mean `room`?".
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .find(|candidate| *candidate != name && is_close(name, candidate))
}

/// The "did you mean" suffix for a message, empty when nothing is close.
pub(crate) fn did_you_mean_suffix<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    match did_you_mean(name, candidates) {
        Some(candidate) => format!("; did you mean `{candidate}`?"),
        None => String::new(),
    }
}

fn is_close(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let a_mid = &a[prefix..a.len() - suffix];
    let b_mid = &b[prefix..b.len() - suffix];
    match (a_mid.len(), b_mid.len()) {
        (0, 1) | (1, 0) | (1, 1) => true,
        (2, 2) => a_mid[0] == b_mid[1] && a_mid[1] == b_mid[0],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names() {
        let params = ["rooom", "user", "payload"];
        assert_eq!(did_you_mean("room", params), Some("rooom"));
        assert_eq!(did_you_mean("Room", ["room"]), Some("room"));
        assert_eq!(did_you_mean("room", ["roam"]), Some("roam"));
        assert_eq!(did_you_mean("room", ["rome"]), None);
        assert_eq!(did_you_mean("room", ["roo"]), Some("roo"));
        assert_eq!(did_you_mean("room", ["orom"]), Some("orom"));
        assert_eq!(did_you_mean("room", ["user", "id"]), None);
        assert_eq!(did_you_mean("room", ["room"]), None);
        assert_eq!(did_you_mean("ab", ["ba"]), Some("ba"));
        assert_eq!(did_you_mean("abc", ["xyz"]), None);
    }

    #[test]
    fn suffix_is_empty_when_nothing_is_close() {
        assert_eq!(did_you_mean_suffix("room", ["user"]), "");
        assert_eq!(
            did_you_mean_suffix("room", ["rooms"]),
            "; did you mean `rooms`?"
        );
    }

    #[test]
    fn errors_combine() {
        let mut errors = Errors::new();
        assert!(Errors::new().finish().is_ok());
        errors.at(Span::call_site(), "first");
        errors.at(Span::call_site(), "second");
        let messages: Vec<String> = errors
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(messages, ["first", "second"]);
    }
}
