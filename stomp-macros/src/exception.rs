//! `#[message_exception_handler]` and `#[message_exception_handler(global)]`: the first
//! parameter is the error it handles, the others are extractors; generates the
//! `ExceptionHandlerDescriptor` registration.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{FnArg, ItemFn, Meta, Token, Type};

use crate::attr_kind::{is_header, take_ours, AttrKind};
use crate::codegen::{call_and_convert, location, mark_used};
use crate::diagnostics::Errors;
use crate::names::type_name;
use crate::params::{analyse, type_span, Param};
use crate::registration::check_single;
use crate::routing_attrs::Routing;
use crate::signature::check_free_fn;

const KIND: AttrKind = AttrKind::ExceptionHandler;

/// Parses the options: nothing, or `global`.
pub(crate) fn parse_options(args: TokenStream) -> syn::Result<bool> {
    let options = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut errors = Errors::new();
    let mut global = false;
    for option in options {
        match &option {
            Meta::Path(path) if path.is_ident("global") => {
                if global {
                    errors.spanned(path, "duplicate option `global`");
                }
                global = true;
            }
            other if other.path().is_ident("global") => errors.spanned(
                other,
                "`global` takes no value: write `#[message_exception_handler(global)]`",
            ),
            other => {
                let path = other.path();
                let name = quote!(#path).to_string().replace(' ', "");
                errors.spanned(path, format!("unknown option `{name}`; expected `global`"));
            }
        }
    }
    errors.finish()?;
    Ok(global)
}

/// Expands `#[message_exception_handler(..)]` on a function.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut function: ItemFn = syn::parse2(item).map_err(|_| {
        syn::Error::new(
            Span::call_site(),
            "`#[message_exception_handler]` goes on a function whose first parameter is the error it handles",
        )
    })?;
    let mut errors = Errors::new();
    let global = errors.capture(parse_options(args)).unwrap_or(false);

    let ours = take_ours(&mut function.attrs);
    check_single(KIND, &ours, &mut errors);
    let routing = Routing::collect(&ours, &mut errors);
    check_free_fn(KIND, &function.sig, &mut errors);

    let parens = function.sig.paren_token.span.join();
    let mut inputs = function.sig.inputs.iter_mut();
    let error_type = error_parameter(inputs.next(), parens, &mut errors);
    let params: Vec<Param> = inputs
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some(analyse(typed, &[], &mut errors)),
            FnArg::Receiver(_) => None,
        })
        .collect();
    errors.finish()?;
    let error_type = error_type.ok_or_else(|| syn::Error::new(parens, "missing error type"))?;
    let handler = Handler {
        global,
        error_type,
        params,
        routing: routing.to_tokens(),
        used: mark_used(ours.iter().map(|(_, attr)| attr)),
    };
    Ok(handler.registration(&function))
}

/// The type of the first parameter, the error handled; `None` (with an error reported when
/// it is missing) when there is none. A `#[header]` on it is reported and removed.
fn error_parameter(first: Option<&mut FnArg>, parens: Span, errors: &mut Errors) -> Option<Type> {
    match first {
        Some(FnArg::Typed(first)) => {
            first.attrs.retain(|attr| {
                if is_header(attr) {
                    errors.spanned(attr, "the error parameter cannot be a `#[header]`");
                }
                !is_header(attr)
            });
            Some((*first.ty).clone())
        }
        // A receiver was reported by `check_free_fn`.
        Some(FnArg::Receiver(_)) => None,
        None => {
            errors.at(
                parens,
                "the first parameter must be the error type, as in `fn on_error(error: ChatError)`",
            );
            None
        }
    }
}

/// A checked exception handler, ready to be generated.
struct Handler {
    global: bool,
    error_type: Type,
    /// The parameters after the error.
    params: Vec<Param>,
    /// The `#[send_to]` / `#[send_to_user]` routing, as tokens.
    routing: TokenStream,
    /// `use .. as _;` for the attributes consumed.
    used: TokenStream,
}

impl Handler {
    /// The user's function, then the thunk and the `ExceptionHandlerDescriptor` registration.
    fn registration(&self, function: &ItemFn) -> TokenStream {
        let Handler {
            global,
            error_type,
            params,
            routing,
            used,
        } = self;
        let invocation = Ident::new("__inv", Span::call_site());
        let extractions = params
            .iter()
            .enumerate()
            .map(|(index, param)| param.extraction(index + 1, &invocation));
        let call = call_and_convert(&function.sig, params.len() + 1);
        let arg0 = Param::arg_ident(0);
        let exception_type = quote_spanned!(type_span(error_type)=>
            <#error_type as ::stomp_server::__private::ExceptionType>);
        let error_type_name = type_name(error_type);
        let location = location(&function.sig);
        quote! {
            #function
            const _: () = {
                #used
                fn __stomp_accepts(e: &::stomp_server::__private::HandlerError) -> bool {
                    #exception_type::matches(e)
                }
                fn __stomp_thunk(
                    __err: ::stomp_server::__private::HandlerError,
                    #invocation: ::stomp_server::__private::Invocation,
                ) -> ::std::result::Result<
                    ::stomp_server::__private::BoxFuture<::stomp_server::__private::Outcome>,
                    (::stomp_server::__private::HandlerError, ::stomp_server::__private::Invocation),
                > {
                    let #arg0 = match #exception_type::take(__err) {
                        ::std::result::Result::Ok(e) => e,
                        ::std::result::Result::Err(e) => {
                            return ::std::result::Result::Err((e, #invocation))
                        }
                    };
                    ::std::result::Result::Ok(::std::boxed::Box::pin(async move {
                        #(#extractions)*
                        #call
                    }))
                }
                ::stomp_server::__private::inventory::submit! {
                    ::stomp_server::__private::ExceptionHandlerDescriptor {
                        global: #global,
                        specificity: #exception_type::SPECIFICITY,
                        error_type: #error_type_name,
                        accepts: __stomp_accepts,
                        routing: #routing,
                        thunk: __stomp_thunk,
                        location: #location,
                    }
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(error: syn::Error) -> Vec<String> {
        error.into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn options() {
        assert!(!parse_options(quote!()).unwrap());
        assert!(parse_options(quote!(global)).unwrap());
        assert_eq!(
            messages(parse_options(quote!(globl, a::b, global = true)).unwrap_err()),
            [
                "unknown option `globl`; expected `global`",
                "unknown option `a::b`; expected `global`",
                "`global` takes no value: write `#[message_exception_handler(global)]`",
            ]
        );
    }

    #[test]
    fn generates_a_registration() {
        let out = expand(
            quote!(global),
            quote! {
                #[send_to_user("/queue/errors", broadcast = false)]
                async fn on_error(error: Box<dyn std::error::Error>, #[header] id: String, user: Principal) -> String { todo!() }
            },
        )
        .unwrap()
        .to_string();
        assert!(out.contains("global : true"), "{out}");
        assert!(out.contains("\"Box<dyn std::error::Error>\""), "{out}");
        assert!(
            out.contains("let __arg1 = match :: stomp_server :: __private :: header"),
            "{out}"
        );
        assert!(
            out.contains("on_error (__arg0 , __arg1 , __arg2) . await"),
            "{out}"
        );
        assert!(!out.contains("send_to_user ("), "{out}");
    }

    #[test]
    fn needs_an_error_parameter() {
        let error = expand(
            quote!(),
            quote!(
                fn on_error() {}
            ),
        )
        .unwrap_err();
        assert_eq!(
            messages(error),
            ["the first parameter must be the error type, as in `fn on_error(error: ChatError)`"]
        );
    }
}
