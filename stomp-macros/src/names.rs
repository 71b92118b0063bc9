//! Names as the generated code and its log lines write them: identifiers without `r#`, types
//! as compact text. Both the code generation and the parameter analysis use them.

use proc_macro2::Ident;
use quote::ToTokens;

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
    use syn::{parse_quote, Signature, Type};

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
    fn raw_identifiers_lose_their_prefix() {
        let sig: Signature = parse_quote!(fn r#type());
        assert_eq!(unraw(&sig.ident), "type");
        let sig: Signature = parse_quote!(fn plain());
        assert_eq!(unraw(&sig.ident), "plain");
    }
}
