//! `#[message_mapping("..")]` and `#[subscribe_mapping("..")]` on a function: validation and
//! the generated thunk + `HandlerDescriptor` registration. On an inline module,
//! `#[message_mapping]` is a prefix instead (see `module_prefix`).

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use stomp_core::pattern::DestinationPattern;
use syn::{FnArg, Item, ItemFn, LitStr, Signature};

use crate::attr_kind::{take_ours, AttrKind};
use crate::codegen::{call_and_convert, location, mark_used};
use crate::diagnostics::{did_you_mean_suffix, Errors};
use crate::module_prefix;
use crate::params::{analyse, Param, Source};
use crate::pattern_check::{mapping_pattern, parse_pattern_arg};
use crate::registration::check_single;
use crate::routing_attrs::Routing;
use crate::signature::check_free_fn;

/// Expands `#[message_mapping]` / `#[subscribe_mapping]` (`kind`) on a function or module.
pub(crate) fn expand(
    kind: AttrKind,
    args: TokenStream,
    item: TokenStream,
) -> syn::Result<TokenStream> {
    match syn::parse2::<Item>(item)? {
        Item::Fn(function) => expand_fn(kind, args, function),
        Item::Mod(module) => module_prefix::expand(kind, args, module),
        _ => Err(syn::Error::new(
            Span::call_site(),
            format!(
                "`#[{}]` goes on a function (a handler) or on an inline module (a prefix for the handlers inside)",
                kind.name()
            ),
        )),
    }
}

fn expand_fn(kind: AttrKind, args: TokenStream, mut function: ItemFn) -> syn::Result<TokenStream> {
    let mut errors = Errors::new();
    let lit = errors.capture(parse_pattern_arg(kind, args));
    let pattern = lit
        .as_ref()
        .and_then(|lit| errors.capture(mapping_pattern(lit)));

    let ours = take_ours(&mut function.attrs);
    check_single(kind, &ours, &mut errors);
    let routing = Routing::collect(&ours, &mut errors);
    check_free_fn(kind, &function.sig, &mut errors);

    let variables: Vec<&str> = pattern.iter().flat_map(|p| p.variables()).collect();
    let params: Vec<Param> = function
        .sig
        .inputs
        .iter_mut()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some(analyse(typed, &variables, &mut errors)),
            FnArg::Receiver(_) => None,
        })
        .collect();

    if let (Some(lit), Some(pattern)) = (&lit, &pattern) {
        check_variables(lit, pattern, &params, &function.sig, &mut errors);
        routing.check_placeholders(pattern, &mut errors);
    }
    errors.finish()?;

    let lit = lit.ok_or_else(|| syn::Error::new(Span::call_site(), "missing pattern"))?;
    let invocation = Ident::new("__inv", Span::call_site());
    let extractions = params
        .iter()
        .enumerate()
        .map(|(index, param)| param.extraction(index, &invocation));
    let call = call_and_convert(&function.sig, params.len());
    let kind_tokens = match kind {
        AttrKind::SubscribeMapping => quote!(::stomp_server::__private::MappingKind::Subscribe),
        _ => quote!(::stomp_server::__private::MappingKind::Message),
    };
    let routing = routing.to_tokens();
    let location = location(&function.sig);
    let used = mark_used(ours.iter().map(|(_, attr)| attr));
    Ok(quote! {
        #function
        const _: () = {
            #used
            fn __stomp_thunk(
                #invocation: ::stomp_server::__private::Invocation,
            ) -> ::stomp_server::__private::BoxFuture<::stomp_server::__private::Outcome> {
                ::std::boxed::Box::pin(async move {
                    #(#extractions)*
                    #call
                })
            }
            ::stomp_server::__private::inventory::submit! {
                ::stomp_server::__private::HandlerDescriptor {
                    kind: #kind_tokens,
                    pattern: #lit,
                    routing: #routing,
                    thunk: __stomp_thunk,
                    location: #location,
                }
            }
        };
    })
}

/// Every pattern variable needs a parameter of that name: an error at the pattern and one at
/// the parameter list for each that has none.
fn check_variables(
    lit: &LitStr,
    pattern: &DestinationPattern,
    params: &[Param],
    sig: &Signature,
    errors: &mut Errors,
) {
    let names: Vec<&str> = params.iter().filter_map(|p| p.name.as_deref()).collect();
    for variable in pattern.variables() {
        let bound = params
            .iter()
            .any(|p| matches!(&p.source, Source::PathVariable(v) if v == variable));
        if bound {
            continue;
        }
        let hint = did_you_mean_suffix(variable, names.iter().copied());
        errors.at(
            lit.span(),
            format!("unused pattern variable `{variable}`: no parameter named `{variable}` in `{pattern}`{hint}"),
        );
        errors.at(
            sig.paren_token.span.join(),
            format!("expected an argument named `{variable}` here, as in `{variable}: String`"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(result: syn::Result<TokenStream>) -> Vec<String> {
        result
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn generates_a_registration() {
        let out = expand(
            AttrKind::SubscribeMapping,
            quote!("/chat/<room>"),
            quote! {
                #[send_to("/topic/<room>")]
                async fn post(room: String, #[header] x_id: u32, user: Principal) {}
            },
        )
        .unwrap()
        .to_string();
        assert!(out.contains("MappingKind :: Subscribe"), "{out}");
        assert!(
            out.contains("path_variable :: < String > (& __inv , \"room\")"),
            "{out}"
        );
        assert!(
            out.contains("header :: < u32 > (& __inv , \"x-id\")"),
            "{out}"
        );
        assert!(out.contains("extract :: < Principal > (& __inv)"), "{out}");
        assert!(
            out.contains("post (__arg0 , __arg1 , __arg2) . await"),
            "{out}"
        );
        assert!(!out.contains("# [header]"), "{out}");
        assert!(!out.contains("# [send_to"), "{out}");
    }

    #[test]
    fn reports_every_mistake_at_once() {
        let found = messages(expand(
            AttrKind::MessageMapping,
            quote!("/chat/<room>/<user>"),
            quote! {
                #[send_to("/topic/<rom>")]
                #[message_mapping("/other")]
                fn post(&self, rooom: String) {}
            },
        ));
        assert_eq!(
            found,
            [
                "duplicate `#[message_mapping]` on one function",
                "`#[message_mapping]` goes on a free function, not a method: move it out of the `impl` block and take what you need as arguments (`State<T>` for shared state)",
                "unused pattern variable `room`: no parameter named `room` in `/chat/<room>/<user>`; did you mean `rooom`?",
                "expected an argument named `room` here, as in `room: String`",
                "unused pattern variable `user`: no parameter named `user` in `/chat/<room>/<user>`",
                "expected an argument named `user` here, as in `user: String`",
                "`send_to` placeholder `<rom>` is not a variable of the mapping `/chat/<room>/<user>`; did you mean `room`?",
            ]
        );
    }

    #[test]
    fn refuses_other_items() {
        let found = messages(expand(
            AttrKind::MessageMapping,
            quote!("/a"),
            quote!(
                struct S;
            ),
        ));
        assert!(found[0].contains("goes on a function"));
    }
}
