//! Recognising this crate's attributes on a function by the last segment of their path, so
//! `#[send_to]`, `#[stomp_server::send_to]` and `#[::stomp_server::send_to]` are all seen.

use syn::Attribute;

/// One of the attributes a handler function can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttrKind {
    /// `#[message_mapping("..")]`.
    MessageMapping,
    /// `#[subscribe_mapping("..")]`.
    SubscribeMapping,
    /// `#[message_exception_handler]`.
    ExceptionHandler,
    /// `#[send_to("..")]`.
    SendTo,
    /// `#[send_to_user(..)]`.
    SendToUser,
}

impl AttrKind {
    /// The kind of `attr`, when it is one of ours.
    pub(crate) fn of(attr: &Attribute) -> Option<AttrKind> {
        let last = attr.path().segments.last()?;
        let name = last.ident.to_string();
        AttrKind::from_name(&name)
    }

    /// The kind named `name` (`"send_to"`, ...).
    pub(crate) fn from_name(name: &str) -> Option<AttrKind> {
        Some(match name {
            "message_mapping" => AttrKind::MessageMapping,
            "subscribe_mapping" => AttrKind::SubscribeMapping,
            "message_exception_handler" => AttrKind::ExceptionHandler,
            "send_to" => AttrKind::SendTo,
            "send_to_user" => AttrKind::SendToUser,
            _ => return None,
        })
    }

    /// The attribute's name as written in messages: `message_mapping`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            AttrKind::MessageMapping => "message_mapping",
            AttrKind::SubscribeMapping => "subscribe_mapping",
            AttrKind::ExceptionHandler => "message_exception_handler",
            AttrKind::SendTo => "send_to",
            AttrKind::SendToUser => "send_to_user",
        }
    }

    /// True for the attributes that register a function: the mappings and the exception
    /// handler.
    pub(crate) fn is_registering(self) -> bool {
        matches!(
            self,
            AttrKind::MessageMapping | AttrKind::SubscribeMapping | AttrKind::ExceptionHandler
        )
    }
}

/// True when `attr` is a `#[header]` parameter attribute.
pub(crate) fn is_header(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "header")
}

/// Removes this crate's attributes from `attrs`, returning them in order with their kind.
pub(crate) fn take_ours(attrs: &mut Vec<Attribute>) -> Vec<(AttrKind, Attribute)> {
    let mut ours = Vec::new();
    attrs.retain(|attr| match AttrKind::of(attr) {
        Some(kind) => {
            ours.push((kind, attr.clone()));
            false
        }
        None => true,
    });
    ours
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn recognises_paths_by_last_segment() {
        let attr: Attribute = parse_quote!(#[::stomp_server::send_to("/a")]);
        assert_eq!(AttrKind::of(&attr), Some(AttrKind::SendTo));
        let attr: Attribute = parse_quote!(#[message_mapping("/a")]);
        assert_eq!(AttrKind::of(&attr), Some(AttrKind::MessageMapping));
        let attr: Attribute = parse_quote!(#[doc = "x"]);
        assert_eq!(AttrKind::of(&attr), None);
        let attr: Attribute = parse_quote!(#[header("x-id")]);
        assert!(is_header(&attr));
    }

    #[test]
    fn take_ours_keeps_the_rest() {
        let mut attrs: Vec<Attribute> = vec![
            parse_quote!(#[doc = "x"]),
            parse_quote!(#[send_to("/a")]),
            parse_quote!(#[allow(dead_code)]),
            parse_quote!(#[send_to_user]),
        ];
        let ours = take_ours(&mut attrs);
        assert_eq!(attrs.len(), 2);
        let kinds: Vec<AttrKind> = ours.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(kinds, [AttrKind::SendTo, AttrKind::SendToUser]);
    }
}
