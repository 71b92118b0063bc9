//! Handler parameters: where each argument comes from, and the code that extracts it.
//!
//! - a parameter named like a pattern variable (`room: u32` for `<room>`) is a path variable;
//! - a parameter marked `#[header("x-id")]` or `#[header]` reads a frame header (the bare
//!   form uses the parameter's name with `_` turned into `-`);
//! - anything else is an extractor (`Payload<T>`, `Principal`, `State<T>`, ...).
//!
//! `#[header]` is not a macro of its own (attribute macros cannot sit on parameters): the
//! handler macro reads it and removes it from the function it re-emits.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Lit, Meta, Pat, PatType, Type};

use crate::attr_kind::is_header;
use crate::diagnostics::Errors;
use crate::names::unraw;

/// Where an argument comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// The pattern variable of that name.
    PathVariable(String),
    /// The frame header of that name.
    Header(String),
    /// A `FromInvocation` extractor.
    Extractor,
}

/// One analysed parameter.
#[derive(Debug)]
pub(crate) struct Param {
    /// The binding's name when the parameter is a plain `name: Type` (`r#` removed).
    pub(crate) name: Option<String>,
    /// The declared type.
    pub(crate) ty: Type,
    /// Where its value comes from.
    pub(crate) source: Source,
}

/// Analyses one parameter, removing its `#[header]` attribute. `variables` are the names of
/// the mapping's pattern variables (none for exception handlers).
pub(crate) fn analyse(param: &mut PatType, variables: &[&str], errors: &mut Errors) -> Param {
    let ident = binding_name(&param.pat);
    let headers = take_header_attrs(&mut param.attrs);
    let name = ident.as_ref().map(unraw);
    let is_variable = name
        .as_ref()
        .is_some_and(|name| variables.contains(&name.as_str()));

    let mut source = match &name {
        Some(name) if is_variable => Source::PathVariable(name.clone()),
        _ => Source::Extractor,
    };
    for (index, attr) in headers.iter().enumerate() {
        if index > 0 {
            errors.spanned(attr, "duplicate `#[header]` on one parameter");
            continue;
        }
        if is_variable {
            errors.spanned(
                attr,
                format!(
                    "`{}` is a pattern variable, so it cannot also be a `#[header]`; rename the parameter or remove `#[header]`",
                    name.as_deref().unwrap_or_default()
                ),
            );
            continue;
        }
        if let Some(name) = errors.capture(header_name(attr, ident.as_ref(), &param.pat)) {
            source = Source::Header(name);
        }
    }
    Param {
        name,
        ty: (*param.ty).clone(),
        source,
    }
}

/// `name` for a parameter written `name: T` or `mut name: T`.
pub(crate) fn binding_name(pat: &Pat) -> Option<Ident> {
    match pat {
        Pat::Ident(pat_ident) if pat_ident.subpat.is_none() => Some(pat_ident.ident.clone()),
        _ => None,
    }
}

fn take_header_attrs(attrs: &mut Vec<Attribute>) -> Vec<Attribute> {
    let mut headers = Vec::new();
    attrs.retain(|attr| {
        if is_header(attr) {
            headers.push(attr.clone());
            false
        } else {
            true
        }
    });
    headers
}

/// The header a `#[header]` / `#[header("name")]` attribute reads.
fn header_name(attr: &Attribute, ident: Option<&Ident>, pat: &Pat) -> syn::Result<String> {
    const USAGE: &str =
        "`#[header]` takes the header's name as a string literal, as in `#[header(\"x-id\")]`";
    match &attr.meta {
        Meta::Path(_) => match ident {
            Some(ident) => Ok(default_header_name(ident)),
            None => Err(syn::Error::new_spanned(
                pat,
                "a `#[header]` parameter written as a pattern needs the header's name, as in `#[header(\"x-id\")]`",
            )),
        },
        Meta::List(list) => {
            let lit: Expr = list.parse_args().map_err(|_| syn::Error::new_spanned(list, USAGE))?;
            match lit {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(lit), ..
                }) if !lit.value().is_empty() => Ok(lit.value()),
                other => Err(syn::Error::new_spanned(other, USAGE)),
            }
        }
        Meta::NameValue(name_value) => Err(syn::Error::new_spanned(name_value, USAGE)),
    }
}

/// `content_type` → `content-type`, `x_request_id` → `x-request-id`.
pub(crate) fn default_header_name(ident: &Ident) -> String {
    unraw(ident).replace('_', "-")
}

impl Param {
    /// The name of the `index`th argument variable: `__arg0`, `__arg1`, ...
    pub(crate) fn arg_ident(index: usize) -> Ident {
        format_ident!("__arg{}", index)
    }

    /// `let __argN = match <extraction> { Ok(v) => v, Err(e) => return Outcome::Failed(e) };`
    ///
    /// The extraction call carries the type's span, so an unimplemented `FromInvocation`,
    /// `FromHeader` or `FromStr` is reported on the parameter's type.
    pub(crate) fn extraction(&self, index: usize, invocation: &Ident) -> TokenStream {
        let arg = Param::arg_ident(index);
        let ty = &self.ty;
        let span = type_span(ty);
        let call = match &self.source {
            Source::PathVariable(name) => quote_spanned! {span=>
                ::stomp_server::__private::path_variable::<#ty>(&#invocation, #name)
            },
            Source::Header(name) => quote_spanned! {span=>
                ::stomp_server::__private::header::<#ty>(&#invocation, #name)
            },
            Source::Extractor => quote_spanned! {span=>
                ::stomp_server::__private::extract::<#ty>(&#invocation)
            },
        };
        quote! {
            let #arg = match #call {
                ::std::result::Result::Ok(v) => v,
                ::std::result::Result::Err(e) => {
                    return ::stomp_server::__private::Outcome::Failed(e)
                }
            };
        }
    }
}

/// The span of a type: the whole type where the compiler can join spans, else its first
/// token.
pub(crate) fn type_span(ty: &Type) -> Span {
    ty.span()
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::{parse_quote, FnArg};

    fn pat_type(arg: FnArg) -> PatType {
        match arg {
            FnArg::Typed(pat_type) => pat_type,
            FnArg::Receiver(_) => panic!("receiver"),
        }
    }

    fn analyse_one(arg: FnArg, variables: &[&str]) -> (syn::Result<()>, Param, PatType) {
        let mut arg = pat_type(arg);
        let mut errors = Errors::new();
        let param = analyse(&mut arg, variables, &mut errors);
        (errors.finish(), param, arg)
    }

    #[test]
    fn classifies_parameters() {
        let (ok, param, _) = analyse_one(parse_quote!(room: String), &["room"]);
        assert!(ok.is_ok());
        assert_eq!(param.source, Source::PathVariable("room".into()));

        let (ok, param, _) = analyse_one(parse_quote!(mut room: u32), &["room"]);
        assert!(ok.is_ok());
        assert_eq!(param.source, Source::PathVariable("room".into()));

        let (_, param, _) = analyse_one(parse_quote!(Payload(p): Payload<Post>), &["p"]);
        assert_eq!(param.source, Source::Extractor);
        assert!(param.name.is_none());

        let (_, param, _) = analyse_one(parse_quote!(r#type: String), &["type"]);
        assert_eq!(param.source, Source::PathVariable("type".into()));

        let (_, param, _) = analyse_one(parse_quote!(user: Principal), &["room"]);
        assert_eq!(param.source, Source::Extractor);
    }

    #[test]
    fn header_attributes_are_read_and_removed() {
        let (ok, param, arg) = analyse_one(parse_quote!(#[header("x-id")] id: String), &[]);
        assert!(ok.is_ok());
        assert_eq!(param.source, Source::Header("x-id".into()));
        assert!(arg.attrs.is_empty());

        let (ok, param, _) = analyse_one(
            parse_quote!(#[allow(unused)] #[header] content_type: String),
            &[],
        );
        assert!(ok.is_ok());
        assert_eq!(param.source, Source::Header("content-type".into()));
    }

    #[test]
    fn header_mistakes() {
        let (error, _, arg) = analyse_one(parse_quote!(#[header(7)] id: String), &[]);
        assert!(error.unwrap_err().to_string().contains("string literal"));
        assert!(arg.attrs.is_empty());

        let (error, _, _) = analyse_one(parse_quote!(#[header] room: String), &["room"]);
        assert!(error.unwrap_err().to_string().contains("pattern variable"));

        let (error, _, _) = analyse_one(parse_quote!(#[header] (a, b): (u8, u8)), &[]);
        assert!(error
            .unwrap_err()
            .to_string()
            .contains("needs the header's name"));

        let (error, _, _) = analyse_one(parse_quote!(#[header] #[header] a: u8), &[]);
        assert!(error.unwrap_err().to_string().contains("duplicate"));
    }

    #[test]
    fn extraction_code() {
        let (_, param, _) = analyse_one(parse_quote!(room: u32), &["room"]);
        let code = param.extraction(0, &format_ident!("__inv")).to_string();
        assert!(
            code.contains("path_variable :: < u32 > (& __inv , \"room\")"),
            "{code}"
        );
        assert!(code.starts_with("let __arg0 = match"), "{code}");
    }
}
