//! What a rule matches: the frame's type ([`MessageType`]) and its destination (patterns, no
//! destination, or any), compiled once so that matching a frame allocates nothing.

use std::fmt;

use stomp_core::{Command, DestinationPattern};

/// The kind of frame a rule matches (Spring's `SimpMessageType`, in STOMP's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// `CONNECT` or `STOMP` (Spring's `CONNECT`).
    Connect,
    /// `SEND` (Spring's `MESSAGE`).
    Send,
    /// `SUBSCRIBE`.
    Subscribe,
    /// `UNSUBSCRIBE`.
    Unsubscribe,
    /// `ACK` or `NACK`.
    Ack,
    /// `BEGIN`, `COMMIT` or `ABORT`.
    Transaction,
    /// `DISCONNECT`.
    Disconnect,
    /// Anything else a client sends (a server command, which is refused anyway).
    Other,
}

impl MessageType {
    /// Every type, in declaration order.
    pub const ALL: [MessageType; 8] = [
        MessageType::Connect,
        MessageType::Send,
        MessageType::Subscribe,
        MessageType::Unsubscribe,
        MessageType::Ack,
        MessageType::Transaction,
        MessageType::Disconnect,
        MessageType::Other,
    ];

    /// The type of a frame with this command.
    pub fn of(command: Command) -> MessageType {
        match command {
            Command::Connect | Command::Stomp => MessageType::Connect,
            Command::Send => MessageType::Send,
            Command::Subscribe => MessageType::Subscribe,
            Command::Unsubscribe => MessageType::Unsubscribe,
            Command::Ack | Command::Nack => MessageType::Ack,
            Command::Begin | Command::Commit | Command::Abort => MessageType::Transaction,
            Command::Disconnect => MessageType::Disconnect,
            _ => MessageType::Other,
        }
    }

    /// The name rules are described with (`SEND`, `ACK/NACK`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Connect => "CONNECT",
            MessageType::Send => "SEND",
            MessageType::Subscribe => "SUBSCRIBE",
            MessageType::Unsubscribe => "UNSUBSCRIBE",
            MessageType::Ack => "ACK/NACK",
            MessageType::Transaction => "BEGIN/COMMIT/ABORT",
            MessageType::Disconnect => "DISCONNECT",
            MessageType::Other => "OTHER",
        }
    }

    /// This type's bit in a [`TypeSet`].
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`MessageType`]s as bits (one per type: eight fit a byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TypeSet(u8);

impl TypeSet {
    /// Every type.
    pub(super) const ANY: TypeSet = TypeSet(u8::MAX);
    /// No type (a matcher given an empty list, refused when the rules are built).
    pub(super) const NONE: TypeSet = TypeSet(0);

    /// The set of these types.
    pub(super) fn of(types: impl IntoIterator<Item = MessageType>) -> TypeSet {
        TypeSet(types.into_iter().fold(0, |bits, t| bits | t.bit()))
    }

    fn contains(self, message_type: MessageType) -> bool {
        self.0 & message_type.bit() != 0
    }
}

/// What a rule asks of the destination.
#[derive(Debug, Clone)]
pub(super) enum DestinationMatch {
    /// Any destination, or none.
    Any,
    /// Frames without a `destination` header (Spring's `nullDestMatcher`).
    Null,
    /// A destination that matches one of these patterns.
    Patterns(Vec<DestinationPattern>),
}

/// The frames one rule applies to.
#[derive(Debug, Clone)]
pub(super) struct MessageMatcher {
    pub(super) types: TypeSet,
    pub(super) destinations: DestinationMatch,
}

impl MessageMatcher {
    /// True when a frame of this type and destination is the rule's.
    pub(super) fn matches(&self, message_type: MessageType, destination: Option<&str>) -> bool {
        if !self.types.contains(message_type) {
            return false;
        }
        match (&self.destinations, destination) {
            (DestinationMatch::Any, _) | (DestinationMatch::Null, None) => true,
            (DestinationMatch::Null, Some(_)) | (DestinationMatch::Patterns(_), None) => false,
            (DestinationMatch::Patterns(patterns), Some(destination)) => {
                patterns.iter().any(|p| p.is_match(destination))
            }
        }
    }
}

impl fmt::Display for MessageMatcher {
    /// `SEND /topic/**`, `SUBSCRIBE|SEND /a /b`, `no destination`, `any message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let types: Vec<&str> = MessageType::ALL
            .into_iter()
            .filter(|t| self.types != TypeSet::ANY && self.types.contains(*t))
            .map(MessageType::as_str)
            .collect();
        let types = types.join("|");
        let destinations = match &self.destinations {
            DestinationMatch::Any => String::new(),
            DestinationMatch::Null => "no destination".to_owned(),
            DestinationMatch::Patterns(patterns) => patterns
                .iter()
                .map(DestinationPattern::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        };
        match (types.is_empty(), destinations.is_empty()) {
            (true, true) => f.write_str("any message"),
            (false, true) => f.write_str(&types),
            (true, false) => f.write_str(&destinations),
            (false, false) => write!(f, "{types} {destinations}"),
        }
    }
}
