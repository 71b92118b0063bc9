//! What every registering attribute (`#[message_mapping]`, `#[subscribe_mapping]`,
//! `#[message_exception_handler]`) checks about the other attributes on its function.

use syn::Attribute;

use crate::attr_kind::AttrKind;
use crate::diagnostics::Errors;

/// Records an error for every other registering attribute among `others` (the attributes
/// left on the function after the one being expanded, `kind`): a function has exactly one.
pub(crate) fn check_single(kind: AttrKind, others: &[(AttrKind, Attribute)], errors: &mut Errors) {
    for (other, attr) in others.iter().filter(|(other, _)| other.is_registering()) {
        if *other == kind {
            errors.spanned(
                attr,
                format!("duplicate `#[{}]` on one function", kind.name()),
            );
        } else {
            errors.spanned(
                attr,
                format!(
                    "`#[{}]` cannot be combined with `#[{}]` on one function: a function has one mapping or is one exception handler",
                    other.name(),
                    kind.name()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn reports_second_registrations() {
        let others: Vec<(AttrKind, Attribute)> = vec![
            (AttrKind::SendTo, parse_quote!(#[send_to("/a")])),
            (
                AttrKind::MessageMapping,
                parse_quote!(#[message_mapping("/b")]),
            ),
            (
                AttrKind::SubscribeMapping,
                parse_quote!(#[subscribe_mapping("/c")]),
            ),
        ];
        let mut errors = Errors::new();
        check_single(AttrKind::MessageMapping, &others, &mut errors);
        let messages: Vec<String> = errors
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            messages[0],
            "duplicate `#[message_mapping]` on one function"
        );
        assert!(messages[1].starts_with("`#[subscribe_mapping]` cannot be combined"));
    }
}
