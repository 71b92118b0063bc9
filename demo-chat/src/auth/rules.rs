//! The chat's authorization rules (Spring Security's message matchers): clients reach the
//! broker through the application, not around it.
//!
//! - No client `SEND` straight to `/topic/..` or `/queue/..`: it would skip the handlers'
//!   checks and let anyone post under any name; clients send to `/app/chat/{room}`.
//! - No `SUBSCRIBE` to raw `/queue/..` destinations (other sessions' private queues);
//!   clients subscribe to `/user/queue/..`, which the server keeps to their owner.
//! - Everything else is permitted: who may connect is the `CONNECT` interceptor's call.
//!
//! [`EXTRA`] holds 20 more rules of the kind a larger chat would have (administration,
//! moderation, billing, ...), none of which the chat's own frames match: `DEMO_EXTRA_RULES=N`
//! puts the first N ahead of the chat's rules, so that every frame is checked against them
//! first, to measure what rules cost (BENCHMARKS.md).

use stomp_server::authorization::{
    MessageSecurity, MessageSecurityBuilder, MessageType, SecurityConfigError,
};

/// One extra rule: its matcher and what it grants.
type Extra = fn(MessageSecurityBuilder) -> MessageSecurityBuilder;

/// Rules a larger chat would have that no frame of this one matches.
pub(crate) const EXTRA: [Extra; 20] = [
    |b| b.dest_matchers(["/app/admin/**"]).has_role("ADMIN"),
    |b| b.dest_matchers(["/topic/admin/**"]).has_role("ADMIN"),
    |b| {
        b.send_dest_matchers(["/app/moderation/<room>/**"])
            .has_any_role(["ADMIN", "MODERATOR"])
    },
    |b| {
        b.subscribe_dest_matchers(["/topic/moderation/**"])
            .has_any_role(["ADMIN", "MODERATOR"])
    },
    |b| {
        b.send_dest_matchers(["/app/chat/<room>/pin"])
            .has_role("MODERATOR")
    },
    |b| {
        b.send_dest_matchers(["/app/chat/<room>/delete/*"])
            .has_role("MODERATOR")
    },
    |b| {
        b.subscribe_dest_matchers(["/topic/chat/<room>/audit"])
            .has_role("ADMIN")
    },
    |b| b.send_dest_matchers(["/app/rooms/create"]).authenticated(),
    |b| {
        b.send_dest_matchers(["/app/rooms/<room>/invite/*"])
            .authenticated()
    },
    |b| {
        b.subscribe_dest_matchers(["/topic/presence/private/**"])
            .has_authority("presence:read")
    },
    |b| {
        b.send_dest_matchers(["/app/billing/**"])
            .has_authority("billing:write")
    },
    |b| {
        b.subscribe_dest_matchers(["/topic/billing/**"])
            .has_authority("billing:read")
    },
    |b| {
        b.send_dest_matchers(["/app/reports/**"])
            .has_any_authority(["reports:write", "ROLE_ADMIN"])
    },
    |b| b.subscribe_dest_matchers(["/queue/reports/**"]).deny_all(),
    |b| b.send_dest_matchers(["/app/system/**"]).deny_all(),
    |b| {
        b.subscribe_dest_matchers(["/topic/system/**"])
            .has_role("ADMIN")
    },
    |b| b.dest_matchers(["/app/debug/**"]).deny_all(),
    |b| b.dest_matchers(["/topic/debug/**"]).deny_all(),
    |b| {
        b.send_dest_matchers(["/app/chat/<room>/typing"])
            .authenticated()
    },
    |b| {
        b.type_matchers([MessageType::Ack, MessageType::Transaction])
            .authenticated()
    },
];

/// The chat's rules, after the first `extra` of [`EXTRA`] (at most all 20).
pub(crate) fn broker_rules(extra: usize) -> Result<MessageSecurity, SecurityConfigError> {
    let builder = EXTRA
        .iter()
        .take(extra)
        .fold(MessageSecurity::builder(), |builder, rule| rule(builder));
    builder
        .send_dest_matchers(["/topic/**", "/queue/**"])
        .deny_all()
        .subscribe_dest_matchers(["/queue/**"])
        .deny_all()
        .any_message()
        .permit_all()
        .build()
}
