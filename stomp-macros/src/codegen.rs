//! Pieces of generated code shared by the handler and the exception-handler macros.
//!
//! Everything generated names the runtime through `::stomp_server::__private`, so users
//! depend on `stomp-server` alone and nothing leaks into their namespace.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, ReturnType, Signature};

use crate::names::unraw;
use crate::params::Param;

/// `let __out = user_fn(__arg0, ..)` (+ `.await`), then `outcome!(__out)` (the value through
/// `IntoReply`, or the serde probe for a plain `Serialize` type): the end of every
/// thunk body. The conversion carries the return type's span, so a type that cannot be
/// returned is reported there.
pub(crate) fn call_and_convert(sig: &Signature, arg_count: usize) -> TokenStream {
    let name = &sig.ident;
    let args = (0..arg_count).map(Param::arg_ident);
    let call = match &sig.asyncness {
        Some(_) => quote!(#name(#(#args),*).await),
        None => quote!(#name(#(#args),*)),
    };
    let output = match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => sig.paren_token.span.join(),
    };
    let out = Ident::new("__out", Span::call_site());
    let convert = quote_spanned!(output=> ::stomp_server::__private::outcome!(#out));
    quote! {
        let #out = #call;
        #convert
    }
}

/// The `::stomp_server::__private::SourceLocation { .. }` of the function. `line!()` carries
/// the function name's span, so it reports the line of the name.
pub(crate) fn location(sig: &Signature) -> TokenStream {
    let name = &sig.ident;
    let function = unraw(name);
    let line = quote_spanned!(name.span()=> ::std::line!());
    quote! {
        ::stomp_server::__private::SourceLocation {
            module: ::std::module_path!(),
            function: #function,
            file: ::std::file!(),
            line: #line,
        }
    }
}

/// `use <path> as _;` for each consumed attribute (`#[send_to]` below a mapping is never
/// expanded by rustc), so the user's `use stomp_server::send_to;` does not warn as unused.
/// The paths keep the user's spans, so they resolve where the user wrote them.
pub(crate) fn mark_used<'a>(attrs: impl IntoIterator<Item = &'a Attribute>) -> TokenStream {
    let paths = attrs.into_iter().map(Attribute::path);
    quote! {
        #(
            #[allow(unused_imports)]
            use #paths as _;
        )*
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn consumed_attributes_are_used() {
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[send_to("/a")]),
            parse_quote!(#[::stomp_server::send_to_user]),
        ];
        let code = mark_used(&attrs).to_string();
        assert_eq!(
            code,
            quote! {
                #[allow(unused_imports)]
                use send_to as _;
                #[allow(unused_imports)]
                use ::stomp_server::send_to_user as _;
            }
            .to_string()
        );
    }

    #[test]
    fn async_calls_are_awaited() {
        let sig: Signature = parse_quote!(async fn post(a: u8, b: u8));
        let code = call_and_convert(&sig, 2).to_string();
        assert!(code.contains("post (__arg0 , __arg1) . await"), "{code}");
        let sig: Signature = parse_quote!(fn r#type());
        let code = call_and_convert(&sig, 0).to_string();
        assert!(code.contains("r#type ()"), "{code}");
    }
}
