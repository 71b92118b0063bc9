//! STOMP commands, client and server.

use std::fmt;

/// A STOMP command: the first line of every frame.
///
/// Client commands are `CONNECT`, `STOMP`, `SEND`, `SUBSCRIBE`, `UNSUBSCRIBE`, `ACK`, `NACK`,
/// `BEGIN`, `COMMIT`, `ABORT` and `DISCONNECT`; server commands are `CONNECTED`, `MESSAGE`,
/// `RECEIPT` and `ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    /// `CONNECT`: opens a STOMP session (all versions).
    Connect,
    /// `STOMP`: the 1.1+ spelling of `CONNECT`.
    Stomp,
    /// `SEND`: sends a message to a destination.
    Send,
    /// `SUBSCRIBE`: registers interest in a destination.
    Subscribe,
    /// `UNSUBSCRIBE`: removes a subscription.
    Unsubscribe,
    /// `ACK`: acknowledges a message.
    Ack,
    /// `NACK`: refuses a message (1.1+).
    Nack,
    /// `BEGIN`: starts a transaction.
    Begin,
    /// `COMMIT`: commits a transaction.
    Commit,
    /// `ABORT`: rolls back a transaction.
    Abort,
    /// `DISCONNECT`: ends the session gracefully.
    Disconnect,
    /// `CONNECTED`: the server's answer to `CONNECT`.
    Connected,
    /// `MESSAGE`: a message delivered to a subscription.
    Message,
    /// `RECEIPT`: confirms that the server processed a client frame.
    Receipt,
    /// `ERROR`: reports a problem; the server closes the connection after it.
    Error,
}

impl Command {
    /// Every command, client commands first.
    pub const ALL: [Command; 15] = [
        Command::Connect,
        Command::Stomp,
        Command::Send,
        Command::Subscribe,
        Command::Unsubscribe,
        Command::Ack,
        Command::Nack,
        Command::Begin,
        Command::Commit,
        Command::Abort,
        Command::Disconnect,
        Command::Connected,
        Command::Message,
        Command::Receipt,
        Command::Error,
    ];

    /// The command as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Command::Connect => "CONNECT",
            Command::Stomp => "STOMP",
            Command::Send => "SEND",
            Command::Subscribe => "SUBSCRIBE",
            Command::Unsubscribe => "UNSUBSCRIBE",
            Command::Ack => "ACK",
            Command::Nack => "NACK",
            Command::Begin => "BEGIN",
            Command::Commit => "COMMIT",
            Command::Abort => "ABORT",
            Command::Disconnect => "DISCONNECT",
            Command::Connected => "CONNECTED",
            Command::Message => "MESSAGE",
            Command::Receipt => "RECEIPT",
            Command::Error => "ERROR",
        }
    }

    /// Parses a command from its wire bytes (case-sensitive, as the spec requires).
    pub fn from_bytes(bytes: &[u8]) -> Option<Command> {
        Some(match bytes {
            b"CONNECT" => Command::Connect,
            b"STOMP" => Command::Stomp,
            b"SEND" => Command::Send,
            b"SUBSCRIBE" => Command::Subscribe,
            b"UNSUBSCRIBE" => Command::Unsubscribe,
            b"ACK" => Command::Ack,
            b"NACK" => Command::Nack,
            b"BEGIN" => Command::Begin,
            b"COMMIT" => Command::Commit,
            b"ABORT" => Command::Abort,
            b"DISCONNECT" => Command::Disconnect,
            b"CONNECTED" => Command::Connected,
            b"MESSAGE" => Command::Message,
            b"RECEIPT" => Command::Receipt,
            b"ERROR" => Command::Error,
            _ => return None,
        })
    }

    /// True for commands a client sends to a server.
    pub const fn is_client(self) -> bool {
        !self.is_server()
    }

    /// True for commands a server sends to a client.
    pub const fn is_server(self) -> bool {
        matches!(
            self,
            Command::Connected | Command::Message | Command::Receipt | Command::Error
        )
    }

    /// True for `CONNECT`, `STOMP` and `CONNECTED`, whose headers are never escaped.
    pub const fn is_connect_family(self) -> bool {
        matches!(self, Command::Connect | Command::Stomp | Command::Connected)
    }

    /// True for the commands the spec allows to carry a body: `SEND`, `MESSAGE` and `ERROR`.
    pub const fn allows_body(self) -> bool {
        matches!(self, Command::Send | Command::Message | Command::Error)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_round_trips_through_its_wire_name() {
        for command in Command::ALL {
            assert_eq!(
                Command::from_bytes(command.as_str().as_bytes()),
                Some(command)
            );
        }
        assert_eq!(Command::from_bytes(b"send"), None);
        assert_eq!(Command::from_bytes(b""), None);
    }

    #[test]
    fn client_and_server_commands_are_disjoint() {
        let servers: Vec<_> = Command::ALL.iter().filter(|c| c.is_server()).collect();
        assert_eq!(servers.len(), 4);
        assert!(Command::Send.is_client());
        assert!(Command::Message.is_server());
    }
}
