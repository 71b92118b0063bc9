// Every public path the curated API promises, so that a move is a deliberate, visible change
// (and a CHANGELOG entry).
#![allow(unused_imports)]

use stomp_server::broker::{
    AckMode, BrokerError, LocalBroker, PublishedMessage, SimpleBroker, Upstream, UpstreamFactory,
};
use stomp_server::client::{ClientError, CloseReason, StompClient, StompSession, Subscription};
use stomp_server::config::{default_heartbeat, BrokerConfig, ClientUserSends, Limits, UnhandledErrors};
use stomp_server::event::{EventListener, SessionEvent};
use stomp_server::extract::{
    decode_payload, Destination, FromHeader, FromInvocation, HeaderError, Invocation, MappingKind,
    MessageHeaders, MissingPrincipal, MissingState, PathVariable, PathVariableError, Payload,
    PayloadError, Principal, SessionAttributes, SessionId, State,
};
use stomp_server::handler::{
    to_body, ExceptionType, HandlerError, Handlers, IntoReply, Json, Message, Outcome,
    RegistryError, ReplyMessage, SerializeError, APPLICATION_JSON, OCTET_STREAM, TEXT_PLAIN,
};
use stomp_server::http::{
    Bytes, Full, HttpHandler, Request, Response, ResponseBody, StaticResource, StatusCode,
    StompService,
};
use stomp_server::interceptor::{
    ChannelInterceptor, InterceptorContext, OutboundContext, OutboundInterceptor, Rejection,
};
use stomp_server::log::Escaped;
use stomp_server::relay::RelayConfig;
use stomp_server::sockjs::SockJsOptions;
use stomp_server::stats::{Stats, StatsSnapshot};
use stomp_server::user::{SimpUser, UserRegistry};
use stomp_server::{
    core, message_exception_handler, message_mapping, send_to, send_to_user, shutdown_signal,
    subscribe_mapping, Bytes as RootBytes, Command, Destination as RootDestination, Frame,
    HandlerError as RootHandlerError, Headers, IntoReply as RootIntoReply, Json as RootJson,
    Message as RootMessage, MessageHeaders as RootMessageHeaders, Payload as RootPayload,
    PayloadError as RootPayloadError, Principal as RootPrincipal,
    SessionAttributes as RootSessionAttributes, SessionId as RootSessionId, SendError, Server,
    StartError, State as RootState, StompServer, StompServerBuilder, Template,
};

fn main() {
    // Settings are non_exhaustive: built from default() with setters.
    let _ = Limits::default().with_message_size(1024);
    let _ = BrokerConfig::default().with_max_delivery_attempts(3);
    let _ = RelayConfig::default().with_port(61613);
    let _ = SockJsOptions::default().with_stream_bytes_limit(1024);
}
