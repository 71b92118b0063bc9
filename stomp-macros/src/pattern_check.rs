//! Compile-time parsing of the patterns written in the attributes, with `stomp-core`'s parser
//! (the same one the server runs at start-up).
//!
//! The separator is configured on the server, not known here: a pattern is accepted when it
//! parses with `/` or with `.`, and the `/` error is reported when neither works.

use proc_macro2::{Span, TokenStream};
use stomp_core::pattern::{DestinationPattern, PatternError, Segment};
use syn::parse::Parser;
use syn::LitStr;

use crate::attr_kind::AttrKind;

/// Parses the single string literal of a mapping attribute.
pub(crate) fn parse_pattern_arg(kind: AttrKind, args: TokenStream) -> syn::Result<LitStr> {
    let name = kind.name();
    if args.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            format!("`#[{name}]` needs a destination pattern, as in `#[{name}(\"/chat/<room>\")]`"),
        ));
    }
    let usage = format!(
        "`#[{name}]` takes exactly one string literal, as in `#[{name}(\"/chat/<room>\")]`"
    );
    let parser = |input: syn::parse::ParseStream<'_>| {
        let lit: LitStr = input.parse()?;
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the pattern"));
        }
        Ok(lit)
    };
    parser
        .parse2(args.clone())
        .map_err(|_| syn::Error::new_spanned(args, usage))
}

/// Parses `text` with `/`, else with `.`; the error is the one for `/`.
pub(crate) fn parse_either(text: &str) -> Result<DestinationPattern, PatternError> {
    DestinationPattern::parse_with_separator(text, '/').or_else(|slash_error| {
        DestinationPattern::parse_with_separator(text, '.').map_err(|_| slash_error)
    })
}

/// Parses a mapping's pattern; the error spans the literal.
pub(crate) fn mapping_pattern(lit: &LitStr) -> syn::Result<DestinationPattern> {
    parse_either(&lit.value()).map_err(|error| {
        syn::Error::new(lit.span(), format!("invalid destination pattern: {error}"))
    })
}

/// Parses a `#[send_to]` / `#[send_to_user]` destination: a pattern whose variables are
/// filled from the mapping's, so wildcards are refused. The error spans the literal.
pub(crate) fn destination_template(attr: &str, lit: &LitStr) -> syn::Result<DestinationPattern> {
    let text = lit.value();
    let invalid = |error: PatternError| {
        syn::Error::new(
            lit.span(),
            format!("invalid `#[{attr}]` destination: {error}"),
        )
    };
    let pattern = parse_either(&text).map_err(invalid)?;
    let wildcard = pattern.segments().iter().find_map(|segment| match segment {
        Segment::Wildcard => Some("*"),
        Segment::TailWildcard => Some("**"),
        _ => None,
    });
    match wildcard {
        Some(wildcard) => Err(invalid(PatternError::WildcardInTemplate {
            wildcard: wildcard.to_owned(),
            pattern: text,
        })),
        None => Ok(pattern),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn pattern_argument() {
        let kind = AttrKind::MessageMapping;
        assert_eq!(parse_pattern_arg(kind, quote!("/a")).unwrap().value(), "/a");
        assert!(parse_pattern_arg(kind, quote!()).is_err());
        assert!(parse_pattern_arg(kind, quote!("/a", "/b")).is_err());
        assert!(parse_pattern_arg(kind, quote!(a)).is_err());
    }

    use proc_macro2::Span;

    fn lit(text: &str) -> LitStr {
        LitStr::new(text, Span::call_site())
    }

    #[test]
    fn accepts_either_separator() {
        assert!(parse_either("/chat/<room>").is_ok());
        let dotted = parse_either("chat.<room>").unwrap();
        assert_eq!(dotted.separator(), '.');
        assert_eq!(dotted.variables().collect::<Vec<_>>(), ["room"]);
    }

    #[test]
    fn reports_the_slash_error() {
        let error = mapping_pattern(&lit("/chat/<room")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid destination pattern: unclosed `<room`"
        );
    }

    #[test]
    fn templates_refuse_wildcards() {
        let error = destination_template("send_to", &lit("/topic/*")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid `#[send_to]` destination: wildcard `*` cannot be expanded in `/topic/*`"
        );
        assert!(destination_template("send_to", &lit("/topic/<room>")).is_ok());
    }
}
