//! Checks that a handler is a plain free function: the generated thunk calls it by name with
//! owned arguments, so methods, generics and special function kinds cannot work.

use syn::{FnArg, Signature, Type};

use crate::attr_kind::AttrKind;
use crate::diagnostics::Errors;

/// Records an error for each way `sig` is not a plain free function.
pub(crate) fn check_free_fn(kind: AttrKind, sig: &Signature, errors: &mut Errors) {
    let attr = kind.name();
    if let Some(token) = &sig.constness {
        errors.spanned(token, format!("`#[{attr}]` cannot be used on a `const fn`"));
    }
    if let Some(token) = &sig.unsafety {
        errors.spanned(
            token,
            format!("`#[{attr}]` cannot be used on an `unsafe fn`"),
        );
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(
            abi,
            format!("`#[{attr}]` cannot be used on an `extern` function"),
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let generics = &sig.generics;
        let where_clause = &generics.where_clause;
        errors.spanned(
            quote::quote!(#generics #where_clause),
            format!(
                "`#[{attr}]` functions cannot be generic: the server calls them through a plain function pointer"
            ),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(
            variadic,
            format!("`#[{attr}]` functions cannot be variadic"),
        );
    }
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.spanned(
                receiver,
                format!(
                    "`#[{attr}]` goes on a free function, not a method: move it out of the `impl` block and take what you need as arguments (`State<T>` for shared state)"
                ),
            ),
            FnArg::Typed(typed) => {
                if let Type::ImplTrait(impl_trait) = &*typed.ty {
                    errors.spanned(
                        impl_trait,
                        format!("`impl Trait` parameters are not supported by `#[{attr}]`; name the type"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::{parse_quote, ItemFn};

    fn messages(item: &ItemFn) -> Vec<String> {
        let mut errors = Errors::new();
        check_free_fn(AttrKind::MessageMapping, &item.sig, &mut errors);
        match errors.finish() {
            Ok(()) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn accepts_plain_functions() {
        assert!(messages(&parse_quote!(
            fn f(a: String) {}
        ))
        .is_empty());
        assert!(messages(&parse_quote!(
            pub async fn f(a: String) -> u8 {
                1
            }
        ))
        .is_empty());
    }

    #[test]
    fn reports_each_problem() {
        let found = messages(&parse_quote!(
            const unsafe extern "C" fn f<T>(&self, x: impl Sized) {}
        ));
        assert_eq!(found.len(), 6, "{found:?}");
        assert!(found[0].contains("`const fn`"));
        assert!(found[4].contains("not a method"));
    }
}
