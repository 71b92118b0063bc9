//! `#[message_mapping("/chat")] mod chat { .. }`: a prefix for every mapping inside, like
//! Spring's class-level `@MessageMapping`.
//!
//! The outer attribute expands first and sees the module's items, so it rewrites the string
//! of every `#[message_mapping("..")]` / `#[subscribe_mapping("..")]` on the functions inside
//! (recursively into nested inline modules) to the combined pattern, keeping the span of the
//! inner literal so later errors still point there. A nested module with its own prefix gets
//! the combined prefix and rewrites its own items when it expands.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use stomp_core::pattern::combine;
use syn::{Attribute, Item, ItemMod, LitStr, Meta};

use crate::attr_kind::AttrKind;
use crate::diagnostics::Errors;
use crate::pattern_check::{mapping_pattern, parse_either, parse_pattern_arg};

/// Expands a mapping attribute (`kind`) written on a module.
pub(crate) fn expand(
    kind: AttrKind,
    args: TokenStream,
    mut module: ItemMod,
) -> syn::Result<TokenStream> {
    let mut errors = Errors::new();
    if kind != AttrKind::MessageMapping {
        errors.at(
            Span::call_site(),
            format!(
                "`#[{}]` cannot prefix a module; put `#[message_mapping(\"..\")]` on the module (Spring's class-level `@MessageMapping`)",
                kind.name()
            ),
        );
    }
    let prefix = errors
        .capture(parse_pattern_arg(kind, args))
        .filter(|prefix| errors.capture(mapping_pattern(prefix)).is_some());
    for attr in &module.attrs {
        if let Some(other) = AttrKind::of(attr) {
            errors.spanned(
                attr,
                format!(
                    "`#[{}]` cannot be combined with a module prefix",
                    other.name()
                ),
            );
        }
    }
    match &mut module.content {
        None => errors.spanned(
            quote!(#module),
            format!(
                "a module prefix needs the module's body inline (`mod {0} {{ .. }}`): a macro cannot see into `mod {0};`",
                module.ident
            ),
        ),
        Some((_, items)) => {
            if let Some(prefix) = &prefix {
                rewrite_items(&prefix.value(), items, &mut errors);
            }
        }
    }
    errors.finish()?;
    Ok(module.into_token_stream())
}

/// Prefixes the mappings of the functions in `items`, recursing into nested modules.
fn rewrite_items(prefix: &str, items: &mut [Item], errors: &mut Errors) {
    for item in items {
        match item {
            Item::Fn(function) => {
                for attr in &mut function.attrs {
                    if matches!(
                        AttrKind::of(attr),
                        Some(AttrKind::MessageMapping | AttrKind::SubscribeMapping)
                    ) {
                        rewrite_attr(prefix, attr, errors);
                    }
                }
            }
            Item::Mod(module) => {
                let mut has_own_prefix = false;
                for attr in &mut module.attrs {
                    if AttrKind::of(attr) == Some(AttrKind::MessageMapping) {
                        rewrite_attr(prefix, attr, errors);
                        has_own_prefix = true;
                    }
                }
                if let (false, Some((_, items))) = (has_own_prefix, &mut module.content) {
                    rewrite_items(prefix, items, errors);
                }
            }
            _ => {}
        }
    }
}

/// Replaces the pattern of one mapping attribute by `prefix` + pattern. An attribute whose
/// arguments are not one valid pattern is left alone for its own macro to report.
fn rewrite_attr(prefix: &str, attr: &mut Attribute, errors: &mut Errors) {
    let Meta::List(list) = &mut attr.meta else {
        return;
    };
    let Ok(lit) = syn::parse2::<LitStr>(list.tokens.clone()) else {
        return;
    };
    let pattern = lit.value();
    if parse_either(&pattern).is_err() {
        return;
    }
    let combined = combine(prefix, &pattern, separator_for(prefix, &pattern));
    if let Err(error) = parse_either(&combined) {
        errors.at(
            lit.span(),
            format!("invalid destination pattern: module prefix `{prefix}` + `{pattern}` = `{combined}`: {error}"),
        );
        return;
    }
    list.tokens = LitStr::new(&combined, lit.span()).into_token_stream();
}

/// `.` when the two parts use `.` and never `/` (beyond one ignored leading `/`), else `/`.
pub(crate) fn separator_for(prefix: &str, pattern: &str) -> char {
    let body = |text: &str| text.strip_prefix('/').unwrap_or(text).to_owned();
    let (prefix, pattern) = (body(prefix), body(pattern));
    let uses_slash = prefix.contains('/') || pattern.contains('/');
    let uses_dot = prefix.contains('.') || pattern.contains('.');
    if uses_dot && !uses_slash {
        '.'
    } else {
        '/'
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn rewritten(args: TokenStream, module: ItemMod) -> String {
        expand(AttrKind::MessageMapping, args, module)
            .unwrap()
            .to_string()
    }

    #[test]
    fn separator_choice() {
        assert_eq!(separator_for("/chat", "/<room>"), '/');
        assert_eq!(separator_for("/app.chat", "{room}"), '.');
        assert_eq!(separator_for("chat", "post.<room>"), '.');
        assert_eq!(separator_for("/chat", "post"), '/');
        assert_eq!(separator_for("/a.b", "/c/d"), '/');
    }

    #[test]
    fn prefixes_nested_mappings() {
        let out = rewritten(
            quote!("/chat"),
            parse_quote! {
                mod chat {
                    #[message_mapping("/<room>")]
                    #[send_to("/topic/<room>")]
                    fn post(room: String) {}
                    #[stomp_server::subscribe_mapping("history")]
                    fn history() {}
                    #[message_exception_handler]
                    fn on_error(e: E) {}
                    mod inner {
                        #[message_mapping("/deep")]
                        fn deep() {}
                    }
                    #[message_mapping("/own")]
                    mod own {
                        #[message_mapping("/x")]
                        fn x() {}
                    }
                }
            },
        );
        assert!(out.contains("message_mapping (\"/chat/<room>\")"), "{out}");
        assert!(out.contains("send_to (\"/topic/<room>\")"), "{out}");
        assert!(
            out.contains("subscribe_mapping (\"/chat/history\")"),
            "{out}"
        );
        assert!(out.contains("# [message_exception_handler]"), "{out}");
        assert!(out.contains("message_mapping (\"/chat/deep\")"), "{out}");
        assert!(out.contains("message_mapping (\"/chat/own\")"), "{out}");
        assert!(out.contains("message_mapping (\"/x\")"), "{out}");
    }

    #[test]
    fn dotted_prefixes() {
        let out = rewritten(
            quote!("chat"),
            parse_quote! {
                mod chat {
                    #[message_mapping("post.<room>")]
                    fn post(room: String) {}
                }
            },
        );
        assert!(
            out.contains("message_mapping (\"chat.post.<room>\")"),
            "{out}"
        );
    }

    #[test]
    fn module_mistakes() {
        let error = expand(
            AttrKind::MessageMapping,
            quote!("/chat"),
            parse_quote!(
                mod chat;
            ),
        )
        .unwrap_err();
        assert!(error.to_string().contains("inline"), "{error}");
        let error = expand(
            AttrKind::SubscribeMapping,
            quote!("/chat"),
            parse_quote!(
                mod chat {}
            ),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("cannot prefix a module"),
            "{error}"
        );
        let error = expand(
            AttrKind::MessageMapping,
            quote!("/chat"),
            parse_quote!(
                mod chat {
                    #[message_mapping("/<a}")]
                    fn f() {}
                }
            ),
        );
        assert!(
            error.is_ok(),
            "an inner pattern is checked by its own macro"
        );
        let error = expand(
            AttrKind::MessageMapping,
            quote!("/chat/<room>"),
            parse_quote!(
                mod chat {
                    #[message_mapping("/<room>")]
                    fn f(room: String) {}
                }
            ),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid destination pattern: module prefix `/chat/<room>` + `/<room>` = `/chat/<room>/<room>`: duplicate variable `room` in `/chat/<room>/<room>`"
        );
    }
}
