//! `#[send_to]` / `#[send_to_user]` written above the mapping attribute.
//!
//! Attribute macros expand from the top, so `#[send_to(..)] #[message_mapping(..)] fn f()`
//! runs `send_to` first. It does not generate anything: it checks a registering attribute is
//! on the function and re-emits the function with itself moved to the end of the attribute
//! list (as `#[::stomp_server::send_to(..)]`), below the mapping, which then consumes it.

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{quote, ToTokens};
use syn::parse::Parser;
use syn::{Attribute, Item};

use crate::attr_kind::AttrKind;

/// Expands `#[send_to]` or `#[send_to_user]` (`kind`) written above the registering
/// attribute.
pub(crate) fn expand(
    kind: AttrKind,
    args: TokenStream,
    item: TokenStream,
) -> syn::Result<TokenStream> {
    let missing = || {
        syn::Error::new(
            Span::call_site(),
            format!(
                "`#[{}]` needs `#[message_mapping]`, `#[subscribe_mapping]` or `#[message_exception_handler]` on the same function",
                kind.name()
            ),
        )
    };
    let Ok(Item::Fn(mut function)) = syn::parse2::<Item>(item) else {
        return Err(missing());
    };
    let registered = function
        .attrs
        .iter()
        .any(|attr| AttrKind::of(attr).is_some_and(AttrKind::is_registering));
    if !registered {
        return Err(missing());
    }
    function.attrs.push(moved_attr(kind, args)?);
    Ok(function.into_token_stream())
}

/// `#[::stomp_server::send_to(args)]`, spanned at the original attribute so that errors
/// about the attribute as a whole still point at what the user wrote.
fn moved_attr(kind: AttrKind, args: TokenStream) -> syn::Result<Attribute> {
    let name = syn::Ident::new(kind.name(), Span::call_site());
    let tokens = if args.is_empty() {
        quote!(#[::stomp_server::#name])
    } else {
        let args = Group::new(Delimiter::Parenthesis, args);
        quote!(#[::stomp_server::#name #args])
    };
    let mut attrs = Attribute::parse_outer.parse2(tokens)?;
    attrs
        .pop()
        .ok_or_else(|| syn::Error::new(Span::call_site(), "expected an attribute"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_itself_below_the_mapping() {
        let out = expand(
            AttrKind::SendTo,
            quote!("/topic/a"),
            quote! {
                #[doc = "d"]
                #[message_mapping("/a")]
                fn f() {}
            },
        )
        .unwrap()
        .to_string();
        assert_eq!(
            out,
            quote! {
                #[doc = "d"]
                #[message_mapping("/a")]
                #[::stomp_server::send_to("/topic/a")]
                fn f() {}
            }
            .to_string()
        );
        let out = expand(
            AttrKind::SendToUser,
            quote!(),
            quote!(
                #[message_exception_handler]
                fn f(e: E) {}
            ),
        )
        .unwrap()
        .to_string();
        assert!(
            out.contains("# [:: stomp_server :: send_to_user] fn"),
            "{out}"
        );
    }

    #[test]
    fn needs_a_registering_attribute() {
        for item in [
            quote!(
                fn f() {}
            ),
            quote!(
                struct S;
            ),
        ] {
            let error = expand(AttrKind::SendTo, quote!("/a"), item).unwrap_err();
            assert_eq!(
                error.to_string(),
                "`#[send_to]` needs `#[message_mapping]`, `#[subscribe_mapping]` or `#[message_exception_handler]` on the same function"
            );
        }
    }
}
