//! # stomp-macros
//!
//! The attribute macros of `stomp-server`: `#[message_mapping]`, `#[subscribe_mapping]`,
//! `#[send_to]`, `#[send_to_user]` and `#[message_exception_handler]`. Use them through
//! `stomp-server`, which re-exports them; the generated code names the runtime as
//! `::stomp_server::__private`.
//!
//! The examples below are `ignore`d here because this crate cannot depend on `stomp-server`;
//! the same examples compile and register their handlers as doctests of `stomp-server`
//! (its crate documentation, section "The macros": `cargo test --doc -p stomp-server`).
//!
//! Each macro parses its input, validates it collecting every mistake (one compile shows them
//! all), then emits the user's function unchanged (minus the attributes it consumed) and a
//! `const _: () = { .. };` block holding a thunk and an `inventory::submit!` registration.
//!
//! Layout:
//! - `mapping`: `#[message_mapping]` / `#[subscribe_mapping]` on a function.
//! - `module_prefix`: `#[message_mapping("/prefix")]` on an inline module.
//! - `exception`: `#[message_exception_handler]`.
//! - `routing_attrs`: the arguments of `#[send_to]` / `#[send_to_user]`, consumed by the
//!   registering attribute on the same function; `relocate`: those attributes written above it.
//! - `params`: path variables, `#[header]` parameters and extractors.
//! - `signature`: the "plain free function" checks.
//! - `pattern_check`: destination patterns (and the pattern argument), parsed with `stomp-core`.
//! - `registration`: one registering attribute per function.
//! - `codegen`: generated pieces shared by the macros; `attr_kind`: recognising our
//!   attributes; `diagnostics`: error collection and "did you mean"; `fallback`: what is
//!   emitted beside errors; `names`: identifiers and types as text.
#![warn(clippy::too_many_lines)]

use proc_macro::TokenStream;

mod attr_kind;
mod codegen;
mod diagnostics;
mod exception;
mod fallback;
mod mapping;
mod module_prefix;
mod names;
mod params;
mod pattern_check;
mod registration;
mod relocate;
mod routing_attrs;
mod signature;

use attr_kind::AttrKind;

/// Handles `SEND` frames whose destination (application prefix removed) matches a pattern,
/// like Spring's `@MessageMapping`.
///
/// - `<room>` (or Spring's `{room}`) binds the parameter named `room`, of any `FromStr` type;
///   every pattern variable needs such a parameter.
/// - `*` matches one segment, `**` any tail; `.` works as separator as well as `/`.
/// - Other parameters are extractors (`Payload<T>`, `Principal`, `State<T>`, ...) or frame
///   headers marked `#[header("name")]` / `#[header]` (the parameter's name, `_` → `-`).
/// - The function may be `async`; its return value is sent to `#[send_to]` /
///   `#[send_to_user]` destinations, or to `/topic` + the destination by default.
///
/// On an inline module, it is a prefix for every mapping inside (Spring's class-level
/// `@MessageMapping`).
///
/// ```
/// use stomp_server::{message_mapping, send_to, Payload, Principal};
///
/// #[message_mapping("/chat")]
/// mod chat {
///     use super::*;
///
///     #[message_mapping("/<room>")]
///     #[send_to("/topic/chat/<room>")]
///     async fn post(room: String, user: Principal, Payload(text): Payload<String>) -> String {
///         format!("{room}: {}: {text}", user.name())
///     }
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn message_mapping(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let result = mapping::expand(AttrKind::MessageMapping, args.into(), item.clone());
    fallback::emit(result, item).into()
}

/// Handles `SUBSCRIBE` frames whose destination matches a pattern, like Spring's
/// `@SubscribeMapping`: the return value goes straight back to the subscribing client, once,
/// unless `#[send_to]` / `#[send_to_user]` route it to the broker.
///
/// Parameters and patterns work as for [`macro@message_mapping`].
///
/// ```
/// use stomp_server::{subscribe_mapping, State};
/// # #[derive(serde::Serialize)]
/// # struct ChatMessage { text: String }
/// # struct Rooms;
/// # impl Rooms {
/// #     fn history(&self, room: &str) -> Vec<ChatMessage> {
/// #         vec![ChatMessage { text: format!("welcome to {room}") }]
/// #     }
/// # }
///
/// #[subscribe_mapping("/chat/<room>/history")]
/// fn history(room: String, rooms: State<Rooms>) -> Vec<ChatMessage> {
///     rooms.history(&room)
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn subscribe_mapping(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let result = mapping::expand(AttrKind::SubscribeMapping, args.into(), item.clone());
    fallback::emit(result, item).into()
}

/// Sends a handler's return value to one or more broker destinations, like Spring's
/// `@SendTo`. Placeholders (`<room>`) are filled from the mapping's pattern variables.
///
/// Goes with `#[message_mapping]`, `#[subscribe_mapping]` or `#[message_exception_handler]`
/// on the same function, above or below it.
///
/// ```
/// use stomp_server::{message_mapping, send_to, Payload};
///
/// #[message_mapping("/chat/<room>")]
/// #[send_to("/topic/chat/<room>", "/topic/activity")]
/// fn post(room: String, Payload(text): Payload<String>) -> String {
///     format!("{room}: {text}")
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn send_to(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let result = relocate::expand(AttrKind::SendTo, args.into(), item.clone());
    fallback::emit(result, item).into()
}

/// Sends a handler's return value to the sending user's destinations, like Spring's
/// `@SendToUser`: `/user/{name}/queue/reply` for `#[send_to_user("/queue/reply")]`.
///
/// - No destination: Spring's default, `/queue` + the handled destination.
/// - `broadcast = false`: only the session that sent the message, not every session of the
///   user (default `true`).
///
/// Goes with `#[message_mapping]`, `#[subscribe_mapping]` or `#[message_exception_handler]`
/// on the same function, above or below it.
///
/// ```
/// use stomp_server::{message_exception_handler, send_to_user};
/// # #[derive(Debug)]
/// # struct ChatError;
/// # impl std::fmt::Display for ChatError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("no such room") }
/// # }
/// # impl std::error::Error for ChatError {}
///
/// #[message_exception_handler]
/// #[send_to_user("/queue/errors", broadcast = false)]
/// fn on_chat_error(error: ChatError) -> String {
///     error.to_string()
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn send_to_user(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let result = relocate::expand(AttrKind::SendToUser, args.into(), item.clone());
    fallback::emit(result, item).into()
}

/// Handles errors returned by handlers (or by their extractors), like Spring's
/// `@MessageExceptionHandler`.
///
/// The first parameter is the error; its type selects which errors the function handles
/// (any `E: std::error::Error + 'static`, or `HandlerError` for all). Other parameters are
/// extractors, as for [`macro@message_mapping`]. Handlers in the module of the failing
/// handler are tried first, then `#[message_exception_handler(global)]` ones (Spring's
/// `@ControllerAdvice`). The return value is routed like a handler's.
///
/// ```
/// use stomp_server::{message_exception_handler, send_to_user, Principal};
/// # #[derive(Debug)]
/// # struct ChatError;
/// # impl std::fmt::Display for ChatError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("no such room") }
/// # }
/// # impl std::error::Error for ChatError {}
///
/// #[message_exception_handler(global)]
/// #[send_to_user("/queue/errors", broadcast = false)]
/// fn on_error(error: ChatError, user: Principal) -> String {
///     format!("sorry {}: {error}", user.name())
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn message_exception_handler(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let result = exception::expand(args.into(), item.clone());
    fallback::emit(result, item).into()
}
