//! [`ClientStream`]: the bytes under a client connection, either a socket the client opened
//! itself (TCP, inside TLS for `wss://` and `stomp+ssl://`) or a stream it was given
//! ([`StompClient::connect_over`](super::StompClient::connect_over): an in-memory pipe to a
//! server in the same process, a Unix socket, a connection opened elsewhere).

use std::fmt;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::connection::delegate_io;
use crate::tls::ClientIo;

/// A byte stream a client can speak over.
pub(super) trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> ByteStream for T {}

/// What a client's WebSocket (or STOMP over TCP) runs on.
pub(super) enum ClientStream {
    /// A TCP connection the client opened, plain or in TLS.
    Socket(ClientIo),
    /// A stream given to the client (boxed: its type is the caller's).
    Given(Box<dyn ByteStream>),
}

impl fmt::Debug for ClientStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientStream::Socket(io) => f.debug_tuple("Socket").field(io).finish(),
            ClientStream::Given(_) => f.write_str("Given(..)"),
        }
    }
}

delegate_io!(ClientStream { Socket, Given });
