//! Builder-style `with_*` setters for the `#[non_exhaustive]` settings structs
//! ([`Limits`], [`BrokerConfig`], [`SockJsOptions`], [`RelayConfig`]).
//!
//! Other crates cannot build those structs with a struct literal (`..Default::default()`),
//! so that adding a setting is not a breaking change; they start from `default()` and chain
//! these setters instead: `Limits::default().with_message_size(1024)`. The fields stay
//! public to read and assign.

use std::time::Duration;

use crate::config::{BrokerConfig, Limits};
use crate::relay::RelayConfig;
use crate::sockjs::SockJsOptions;

/// One `with_<field>(value) -> Self` setter per listed field, each documented with the field
/// it sets.
macro_rules! with_setters {
    ($target:ty { $($setter:ident => $field:ident: $ty:ty),* $(,)? }) => {
        impl $target {
            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field),
                    "), builder style.")]
                #[must_use]
                pub fn $setter(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

with_setters!(Limits {
    with_message_size => message_size: usize,
    with_max_headers => max_headers: usize,
    with_max_header_line => max_header_line: usize,
    with_send_buffer_size => send_buffer_size: usize,
    with_send_time => send_time: Duration,
    with_time_to_first_frame => time_to_first_frame: Duration,
    with_max_sessions => max_sessions: usize,
    with_max_subscriptions_per_session => max_subscriptions_per_session: usize,
    with_max_frames_per_second => max_frames_per_second: u32,
    with_max_transaction_bytes => max_transaction_bytes: usize,
    with_http_request_time => http_request_time: Duration,
    with_max_pending_connections => max_pending_connections: usize,
    with_max_pending_connections_per_address => max_pending_connections_per_address: usize,
    with_heartbeat_floor => heartbeat_floor: Duration,
    with_read_buffer_size => read_buffer_size: usize,
    with_interceptor_time => interceptor_time: Duration,
});

with_setters!(BrokerConfig {
    with_point_to_point_prefixes => point_to_point_prefixes: Vec<String>,
    with_max_unacked_per_subscription => max_unacked_per_subscription: usize,
    with_max_pending_per_subscription => max_pending_per_subscription: usize,
    with_max_held_per_queue => max_held_per_queue: usize,
    with_max_held_total => max_held_total: usize,
    with_max_held_bytes_per_queue => max_held_bytes_per_queue: usize,
    with_max_held_bytes_total => max_held_bytes_total: usize,
    with_max_unacked_bytes_per_session => max_unacked_bytes_per_session: usize,
    with_max_unacked_bytes_total => max_unacked_bytes_total: usize,
    with_max_delivery_attempts => max_delivery_attempts: u32,
    with_dead_letter_destination => dead_letter_destination: Option<String>,
});

with_setters!(SockJsOptions {
    with_heartbeat => heartbeat: Duration,
    with_disconnect_delay => disconnect_delay: Duration,
    with_stream_bytes_limit => stream_bytes_limit: usize,
    with_session_cookie_needed => session_cookie_needed: bool,
    with_client_library_url => client_library_url: String,
});

with_setters!(RelayConfig {
    with_prefixes => prefixes: Vec<String>,
    with_shared_prefixes => shared_prefixes: Vec<String>,
    with_host => host: String,
    with_port => port: u16,
    with_virtual_host => virtual_host: String,
    with_client_login => client_login: String,
    with_client_passcode => client_passcode: String,
    with_system_login => system_login: String,
    with_system_passcode => system_passcode: String,
    with_system_heartbeat_send_interval => system_heartbeat_send_interval: Duration,
    with_system_heartbeat_receive_interval => system_heartbeat_receive_interval: Duration,
    with_connect_timeout => connect_timeout: Duration,
    with_max_reconnect_delay => max_reconnect_delay: Duration,
    with_client_send_buffer_size => client_send_buffer_size: usize,
    with_system_send_buffer_size => system_send_buffer_size: usize,
    with_send_time_limit => send_time_limit: Duration,
    with_publish_batch => publish_batch: usize,
    with_publish_wait => publish_wait: Duration,
});

#[cfg(feature = "tls")]
with_setters!(RelayConfig {
    with_tls => tls: Option<crate::relay::RelayTls>,
});

#[cfg(feature = "redis")]
with_setters!(crate::redis::RedisConfig {
    with_url => url: String,
    with_channel_prefix => channel_prefix: String,
    with_connect_timeout => connect_timeout: Duration,
    with_max_reconnect_delay => max_reconnect_delay: Duration,
    with_publish_backlog => publish_backlog: usize,
    with_registry_refresh => registry_refresh: Duration,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setter_sets_its_own_field_and_keeps_the_others() {
        let limits = Limits::default()
            .with_message_size(1024)
            .with_send_time(Duration::from_millis(7));
        assert_eq!(limits.message_size, 1024);
        assert_eq!(limits.send_time, Duration::from_millis(7));
        assert_eq!(limits.max_headers, Limits::default().max_headers);

        let broker = BrokerConfig::default().with_dead_letter_destination(Some("/queue/dl".into()));
        assert_eq!(broker.dead_letter_destination.as_deref(), Some("/queue/dl"));
        assert_eq!(
            broker.max_held_total,
            BrokerConfig::default().max_held_total
        );

        let sockjs = SockJsOptions::default().with_stream_bytes_limit(9);
        assert_eq!(sockjs.stream_bytes_limit, 9);
        assert_eq!(sockjs.heartbeat, SockJsOptions::default().heartbeat);

        let relay = RelayConfig::default()
            .with_port(1)
            .with_host("broker".to_owned());
        assert_eq!((relay.host.as_str(), relay.port), ("broker", 1));
        assert_eq!(relay.virtual_host, RelayConfig::default().virtual_host);
    }
}
