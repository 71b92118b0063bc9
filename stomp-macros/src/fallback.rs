//! What a macro emits next to its errors: the item as written, minus this crate's attributes.
//!
//! Re-emitting the item keeps the rest of the crate compiling (no "cannot find function"
//! cascade); removing our attributes keeps the other attributes on the same function from
//! repeating the same complaint, and removes `#[header]`, which means nothing to rustc.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{FnArg, Item};

use crate::attr_kind::{is_header, take_ours};
use crate::codegen::mark_used;

/// `item` with this crate's attributes removed (and marked used, as on success), when it is
/// a function; else unchanged.
pub(crate) fn strip(item: TokenStream) -> TokenStream {
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(mut function)) => {
            let ours = take_ours(&mut function.attrs);
            for input in &mut function.sig.inputs {
                if let FnArg::Typed(typed) = input {
                    typed.attrs.retain(|attr| !is_header(attr));
                }
            }
            let used = mark_used(ours.iter().map(|(_, attr)| attr));
            if ours.is_empty() {
                function.into_token_stream()
            } else {
                quote! {
                    #function
                    const _: () = { #used };
                }
            }
        }
        _ => item,
    }
}

/// Combines the result of an `expand` with the fallback item when it failed.
pub(crate) fn emit(result: syn::Result<TokenStream>, item: TokenStream) -> TokenStream {
    match result {
        Ok(tokens) => tokens,
        Err(error) => {
            let mut tokens = strip(item);
            tokens.extend(error.into_compile_error());
            tokens
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_our_attributes() {
        let out = strip(quote! {
            #[send_to("/a")]
            #[inline]
            fn f(#[header] a: u8, #[allow(unused)] b: u8) {}
        });
        assert_eq!(
            out.to_string(),
            quote! {
                #[inline]
                fn f(a: u8, #[allow(unused)] b: u8) {}
                const _: () = {
                    #[allow(unused_imports)]
                    use send_to as _;
                };
            }
            .to_string()
        );
        let plain = quote!(
            fn f() {}
        );
        assert_eq!(strip(plain.clone()).to_string(), plain.to_string());
        let module = quote!(
            mod m {}
        );
        assert_eq!(strip(module.clone()).to_string(), module.to_string());
    }
}
