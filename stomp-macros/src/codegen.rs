//! Pieces of generated code shared by the handler and the exception-handler macros.
//!
//! Everything generated names the runtime through `::stomp_server::__private`, so users
//! depend on `stomp-server` alone and nothing leaks into their namespace.

use proc_macro2::{Ident, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::{Attribute, Signature};

use crate::params::Param;

/// `let __out = user_fn(__arg0, ..)` (+ `.await`), then `outcome!(__out)`: the end of every
/// thunk body.
pub(crate) fn call_and_convert(sig: &Signature, arg_count: usize) -> TokenStream {
    let name = &sig.ident;
    let args = (0..arg_count).map(Param::arg_ident);
    let call = match &sig.asyncness {
        Some(_) => quote!(#name(#(#args),*).await),
        None => quote!(#name(#(#args),*)),
    };
    quote! {
        let __out = #call;
        ::stomp_server::__private::outcome!(__out)
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

/// The identifier as text, without a leading `r#`.
pub(crate) fn unraw(ident: &Ident) -> String {
    let text = ident.to_string();
    match text.strip_prefix("r#") {
        Some(stripped) => stripped.to_owned(),
        None => text,
    }
}

/// A type written as compact text for logs: `Box<dyn std::error::Error>`. Spaces are kept
/// only where removing them would glue two words together.
pub(crate) fn type_name(ty: &impl ToTokens) -> String {
    let spaced = ty.to_token_stream().to_string();
    let chars: Vec<char> = spaced.chars().collect();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut compact = String::with_capacity(spaced.len());
    for (index, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let before = compact.chars().last();
            let after = chars.get(index + 1).copied();
            if let (Some(before), Some(after)) = (before, after) {
                if is_word(before) && is_word(after) {
                    compact.push(' ');
                }
            }
            continue;
        }
        compact.push(c);
    }
    compact
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::{parse_quote, Type};

    #[test]
    fn compact_type_names() {
        let ty: Type = parse_quote!(Box<dyn std::error::Error + Send>);
        assert_eq!(type_name(&ty), "Box<dyn std::error::Error+Send>");
        let ty: Type = parse_quote!(ChatError);
        assert_eq!(type_name(&ty), "ChatError");
        let ty: Type = parse_quote!(crate::errors::Bad<'static, u8>);
        assert_eq!(type_name(&ty), "crate::errors::Bad<'static,u8>");
    }

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
        assert_eq!(unraw(&sig.ident), "type");
        let code = call_and_convert(&sig, 0).to_string();
        assert!(code.contains("r#type ()"), "{code}");
    }
}
