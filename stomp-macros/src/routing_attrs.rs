//! `#[send_to(..)]` and `#[send_to_user(..)]`: parsing their arguments, checking their
//! destinations against the mapping, and generating the `ReplyRouting` they stand for.
//!
//! These attributes are consumed by the `#[message_mapping]`, `#[subscribe_mapping]` or
//! `#[message_exception_handler]` on the same function (see `relocate` for the case where
//! they are written above it).

use proc_macro2::TokenStream;
use quote::quote;
use stomp_core::pattern::DestinationPattern;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, ExprLit, Ident, Lit, LitStr, Meta, Token};

use crate::attr_kind::AttrKind;
use crate::diagnostics::{did_you_mean_suffix, Errors};
use crate::pattern_check::destination_template;

/// The arguments of `#[send_to("/topic/a", "/topic/b")]`.
#[derive(Debug)]
pub(crate) struct SendToArgs {
    /// The destination templates, in order.
    pub(crate) destinations: Vec<LitStr>,
}

/// The arguments of `#[send_to_user("/queue/reply", broadcast = false)]`.
#[derive(Debug)]
pub(crate) struct SendToUserArgs {
    /// The destination templates, possibly none (Spring's default destination).
    pub(crate) destinations: Vec<LitStr>,
    /// `broadcast = ..`, `true` when absent.
    pub(crate) broadcast: bool,
}

/// Parses the arguments of `#[send_to]`: string literals (the caller refuses none).
pub(crate) fn parse_send_to(tokens: TokenStream) -> syn::Result<SendToArgs> {
    let destinations = Punctuated::<LitStr, Token![,]>::parse_terminated.parse2(tokens)?;
    Ok(SendToArgs {
        destinations: destinations.into_iter().collect(),
    })
}

/// One argument of `#[send_to_user(..)]`.
enum UserArg {
    Destination(LitStr),
    Option { name: Ident, value: Option<Expr> },
}

impl Parse for UserArg {
    fn parse(input: ParseStream<'_>) -> syn::Result<UserArg> {
        if input.peek(LitStr) {
            return Ok(UserArg::Destination(input.parse()?));
        }
        if input.peek(Ident) {
            let name: Ident = input.parse()?;
            let value = if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                Some(input.parse()?)
            } else {
                None
            };
            return Ok(UserArg::Option { name, value });
        }
        Err(input.error("expected a destination string or `broadcast = false`"))
    }
}

/// Parses the arguments of `#[send_to_user]`: destination strings and `broadcast = bool`,
/// reporting every bad option.
pub(crate) fn parse_send_to_user(tokens: TokenStream) -> syn::Result<SendToUserArgs> {
    let args = Punctuated::<UserArg, Token![,]>::parse_terminated.parse2(tokens)?;
    let mut errors = Errors::new();
    let mut destinations = Vec::new();
    let mut broadcast: Option<bool> = None;
    let mut seen_broadcast = false;
    for arg in args {
        match arg {
            UserArg::Destination(lit) => destinations.push(lit),
            UserArg::Option { name, value } if name == "broadcast" => {
                if seen_broadcast {
                    errors.spanned(&name, "duplicate option `broadcast`");
                }
                seen_broadcast = true;
                match value {
                    Some(Expr::Lit(ExprLit {
                        lit: Lit::Bool(value),
                        ..
                    })) => broadcast = Some(value.value),
                    Some(other) => errors.spanned(other, "`broadcast` expects `true` or `false`"),
                    None => errors.spanned(
                        &name,
                        "`broadcast` needs a value, as in `broadcast = false`",
                    ),
                }
            }
            UserArg::Option { name, .. } => errors.spanned(
                &name,
                format!("unknown option `{name}`; expected `broadcast`"),
            ),
        }
    }
    errors.finish()?;
    Ok(SendToUserArgs {
        destinations,
        broadcast: broadcast.unwrap_or(true),
    })
}

/// The tokens inside an attribute's parentheses (none for `#[send_to_user]`).
pub(crate) fn attr_args(attr: &Attribute) -> syn::Result<TokenStream> {
    match &attr.meta {
        Meta::Path(_) => Ok(TokenStream::new()),
        Meta::List(list) => Ok(list.tokens.clone()),
        Meta::NameValue(name_value) => Err(syn::Error::new_spanned(
            name_value,
            "expected parentheses, as in `#[send_to(\"/topic/chat\")]`",
        )),
    }
}

/// A destination template with its parsed pattern.
struct Template {
    lit: LitStr,
    pattern: DestinationPattern,
}

/// The reply routing of one function: its `#[send_to]` and `#[send_to_user]`.
#[derive(Default)]
pub(crate) struct Routing {
    send_to: Vec<Template>,
    send_to_user: Option<(Vec<Template>, bool)>,
}

impl Routing {
    /// Parses the `#[send_to]` and `#[send_to_user]` attributes among `attrs` (others are
    /// ignored), recording duplicates and bad destinations in `errors`.
    pub(crate) fn collect(attrs: &[(AttrKind, Attribute)], errors: &mut Errors) -> Routing {
        let mut routing = Routing::default();
        let mut seen_send_to = false;
        for (kind, attr) in attrs {
            match kind {
                AttrKind::SendTo => {
                    if seen_send_to {
                        errors.spanned(
                            attr,
                            "duplicate `#[send_to]` on one function; list every destination in one `#[send_to(..)]`",
                        );
                        continue;
                    }
                    seen_send_to = true;
                    let args = attr_args(attr).and_then(parse_send_to);
                    match errors.capture(args) {
                        Some(args) if args.destinations.is_empty() => errors.spanned(
                            attr,
                            "`#[send_to]` needs at least one destination, as in `#[send_to(\"/topic/chat\")]`",
                        ),
                        Some(args) => {
                            routing.send_to = templates(kind.name(), &args.destinations, errors);
                        }
                        None => {}
                    }
                }
                AttrKind::SendToUser => {
                    if routing.send_to_user.is_some() {
                        errors.spanned(
                            attr,
                            "duplicate `#[send_to_user]` on one function; list every destination in one `#[send_to_user(..)]`",
                        );
                        continue;
                    }
                    let args = attr_args(attr).and_then(parse_send_to_user);
                    // An invalid `#[send_to_user]` still counts as present for duplicates.
                    let (destinations, broadcast) = match errors.capture(args) {
                        Some(args) => (
                            templates(kind.name(), &args.destinations, errors),
                            args.broadcast,
                        ),
                        None => (Vec::new(), true),
                    };
                    routing.send_to_user = Some((destinations, broadcast));
                }
                _ => {}
            }
        }
        routing
    }

    /// Checks that every placeholder of every destination is a variable of `mapping`.
    pub(crate) fn check_placeholders(&self, mapping: &DestinationPattern, errors: &mut Errors) {
        let user = self
            .send_to_user
            .iter()
            .flat_map(|(templates, _)| templates);
        let all = self
            .send_to
            .iter()
            .map(|t| ("send_to", t))
            .chain(user.map(|t| ("send_to_user", t)));
        for (attr, template) in all {
            for placeholder in template.pattern.variables() {
                if !mapping.has_variable(placeholder) {
                    let hint = did_you_mean_suffix(placeholder, mapping.variables());
                    errors.at(
                        template.lit.span(),
                        format!(
                            "`{attr}` placeholder `<{placeholder}>` is not a variable of the mapping `{mapping}`{hint}"
                        ),
                    );
                }
            }
        }
    }

    /// The `::stomp_server::__private::ReplyRouting { .. }` expression.
    pub(crate) fn to_tokens(&self) -> TokenStream {
        let send_to = self.send_to.iter().map(|t| &t.lit);
        let send_to_user = match &self.send_to_user {
            Some((templates, broadcast)) => {
                let destinations = templates.iter().map(|t| &t.lit);
                quote! {
                    ::std::option::Option::Some(::stomp_server::__private::UserTarget {
                        destinations: &[#(#destinations),*],
                        broadcast: #broadcast,
                    })
                }
            }
            None => quote!(::std::option::Option::None),
        };
        quote! {
            ::stomp_server::__private::ReplyRouting {
                send_to: &[#(#send_to),*],
                send_to_user: #send_to_user,
            }
        }
    }
}

/// Parses each destination, keeping the valid ones.
fn templates(attr: &str, lits: &[LitStr], errors: &mut Errors) -> Vec<Template> {
    lits.iter()
        .filter_map(|lit| {
            let pattern = errors.capture(destination_template(attr, lit))?;
            Some(Template {
                lit: lit.clone(),
                pattern,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use syn::parse_quote;

    fn messages(error: syn::Error) -> Vec<String> {
        error.into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn send_to_takes_strings() {
        let args = parse_send_to(quote!("/topic/a", "/topic/b")).unwrap();
        assert_eq!(args.destinations.len(), 2);
        assert!(parse_send_to(quote!()).unwrap().destinations.is_empty());
        assert!(parse_send_to(quote!(topic)).is_err());
    }

    #[test]
    fn send_to_user_options() {
        let args = parse_send_to_user(quote!()).unwrap();
        assert!(args.destinations.is_empty());
        assert!(args.broadcast);
        let args = parse_send_to_user(quote!("/queue/reply", broadcast = false)).unwrap();
        assert_eq!(args.destinations[0].value(), "/queue/reply");
        assert!(!args.broadcast);
        let args = parse_send_to_user(quote!(broadcast = false)).unwrap();
        assert!(args.destinations.is_empty());
        assert!(!args.broadcast);
    }

    #[test]
    fn send_to_user_reports_every_bad_option() {
        let error =
            parse_send_to_user(quote!("/q", broadcst = false, x, broadcast = 1)).unwrap_err();
        assert_eq!(
            messages(error),
            [
                "unknown option `broadcst`; expected `broadcast`",
                "unknown option `x`; expected `broadcast`",
                "`broadcast` expects `true` or `false`",
            ]
        );
        let error = parse_send_to_user(quote!(broadcast, broadcast = true)).unwrap_err();
        assert_eq!(
            messages(error),
            [
                "`broadcast` needs a value, as in `broadcast = false`",
                "duplicate option `broadcast`",
            ]
        );
    }

    #[test]
    fn routing_tokens_and_placeholders() {
        let attrs: Vec<(AttrKind, Attribute)> = vec![
            (AttrKind::SendTo, parse_quote!(#[send_to("/topic/<room>")])),
            (
                AttrKind::SendToUser,
                parse_quote!(#[send_to_user("/queue/<rom>", broadcast = false)]),
            ),
        ];
        let mut errors = Errors::new();
        let routing = Routing::collect(&attrs, &mut errors);
        assert!(errors.finish().is_ok());
        let tokens = routing.to_tokens().to_string();
        assert!(
            tokens.contains("send_to : & [\"/topic/<room>\"]"),
            "{tokens}"
        );
        assert!(tokens.contains("broadcast : false"), "{tokens}");

        let mapping = DestinationPattern::parse("/chat/<room>").unwrap();
        let mut errors = Errors::new();
        routing.check_placeholders(&mapping, &mut errors);
        assert_eq!(
            messages(errors.finish().unwrap_err()),
            ["`send_to_user` placeholder `<rom>` is not a variable of the mapping `/chat/<room>`; did you mean `room`?"]
        );
    }

    #[test]
    fn duplicates_are_reported() {
        let attrs: Vec<(AttrKind, Attribute)> = vec![
            (AttrKind::SendTo, parse_quote!(#[send_to("/a")])),
            (AttrKind::SendTo, parse_quote!(#[send_to("/b")])),
            (AttrKind::SendToUser, parse_quote!(#[send_to_user])),
            (AttrKind::SendToUser, parse_quote!(#[send_to_user])),
        ];
        let mut errors = Errors::new();
        let _ = Routing::collect(&attrs, &mut errors);
        let messages = messages(errors.finish().unwrap_err());
        assert_eq!(messages.len(), 2);
        assert!(messages[0].starts_with("duplicate `#[send_to]`"));
        assert!(messages[1].starts_with("duplicate `#[send_to_user]`"));
    }
}
