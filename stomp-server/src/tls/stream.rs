//! [`ClientIo`]: a client's (or the relay's) connection, over TLS or not, as one type.

use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::connection::delegate_io;

/// A TCP connection, plain or inside TLS.
#[derive(Debug)]
pub(crate) enum ClientIo {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: its buffers make it large).
    Tls(Box<TlsStream<TcpStream>>),
}

impl From<TcpStream> for ClientIo {
    fn from(tcp: TcpStream) -> ClientIo {
        ClientIo::Plain(tcp)
    }
}

delegate_io!(ClientIo { Plain, Tls });
