//! [`StompClient::connect`]: TCP, WebSocket handshake, `CONNECT`/`CONNECTED`, then the
//! reader and writer tasks.

use std::net::SocketAddr;
use std::sync::Arc;

use ::http::{HeaderName, HeaderValue, Uri};
use futures_util::sink::SinkExt;
use futures_util::stream::StreamExt;
use stomp_core::{names, Command, Decoder, Frame, HeartBeat, Version};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::config::StompClient;
use super::error::{ClientError, CloseReason};
use super::reader::{ClientReader, Reader};
use super::session::{SessionParts, StompSession};
use super::state::Shared;
use super::stream::ClientStream;
use super::transport::ClientTransport;
use super::writer::{encode_frame, run_writer};
use crate::connection::{FrameReader, Messages, Next};
use crate::tcp::StompTcpStream;
use crate::tls::ClientIo;

impl StompClient {
    /// Connects to `url` (`ws://host:port/path`, or `tcp://host:port` for STOMP over plain
    /// TCP, port 61613 by default), sends `CONNECT` (or `STOMP`) and waits for `CONNECTED`,
    /// all within the connect timeout. With the `tls` cargo feature, `wss://host:port/path`
    /// (port 443 by default) and `stomp+ssl://host:port` (STOMP over TLS, as ActiveMQ names
    /// it; port 61614 by default, RabbitMQ's) connect over TLS, trusting what `tls(..)` says
    /// (default: the webpki roots) and checking the URL's host against the server's
    /// certificate.
    ///
    /// An `ERROR` instead of `CONNECTED` gives [`ClientError::Refused`]. Over TCP the
    /// WebSocket settings (sub-protocols, origin, handshake headers) are not used.
    pub async fn connect(&self, url: &str) -> Result<StompSession, ClientError> {
        match tokio::time::timeout(self.connect_timeout, self.connect_inner(url)).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout("CONNECTED")),
        }
    }

    /// Connects over `stream`, a byte stream already open to a STOMP server (an in-memory
    /// `tokio::io::duplex` pipe to a server in the same process, served by
    /// [`Server::serve_connection`](crate::Server::serve_connection); a Unix socket; a
    /// connection opened elsewhere), then does what [`connect`](StompClient::connect) does
    /// after opening TCP: the WebSocket handshake and `CONNECT`, within the connect timeout.
    ///
    /// `url` says what to speak and to whom: `ws://host/path` makes the handshake at `/path`
    /// (query included) with `Host: host`, `tcp://host` speaks STOMP over TCP; its port is
    /// not used. The stream is used as it is: TLS URLs are refused (wrap the stream in TLS
    /// yourself and give a `ws://` URL).
    pub async fn connect_over<S>(&self, stream: S, url: &str) -> Result<StompSession, ClientError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let connect = async {
            if !(url.starts_with("ws://") || url.starts_with("tcp://")) {
                return Err(ClientError::Config(format!(
                    "`{url}`: over a given stream the URL must start with ws:// or tcp:// (TLS is the stream's own business)"
                )));
            }
            let (uri, host, _port) = parse_url(url)?;
            let stream = ClientStream::Given(Box::new(stream));
            self.open_session(stream, uri, &host).await
        };
        match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout("CONNECTED")),
        }
    }

    async fn connect_inner(&self, url: &str) -> Result<StompSession, ClientError> {
        let (uri, host, port) = parse_url(url)?;
        let tcp = self.open_tcp(&host, port).await?;
        let io = self.secure(tcp, &uri, &host).await?;
        self.open_session(ClientStream::Socket(io), uri, &host)
            .await
    }

    /// Over an open `stream`: the WebSocket handshake (unless `uri` is STOMP over TCP),
    /// `CONNECT` and `CONNECTED`, then the reader and writer tasks.
    async fn open_session(
        &self,
        stream: ClientStream,
        uri: Uri,
        host: &str,
    ) -> Result<StompSession, ClientError> {
        let transport = if matches!(uri.scheme_str(), Some("tcp" | "stomp+ssl")) {
            ClientTransport::Tcp(StompTcpStream::new(stream, None))
        } else {
            let request = self.handshake_request(uri)?;
            let config = Some(self.ws_config());
            let (ws, _response) =
                tokio_tungstenite::client_async_with_config(request, stream, config).await?;
            ClientTransport::WebSocket(Box::new(ws))
        };
        self.start_session(transport, host).await
    }

    /// `CONNECT` over `transport`, and on `CONNECTED` the session with its reader and writer
    /// tasks.
    async fn start_session(
        &self,
        transport: ClientTransport,
        host: &str,
    ) -> Result<StompSession, ClientError> {
        let (mut sink, stream) = transport.split();
        sink.send(encode_frame(&self.connect_frame(host), Version::V1_2))
            .await?;
        let mut reader = FrameReader::new(Messages(stream), Decoder::new(self.limits), None);
        let first = read_first_frame(&mut reader).await?;
        let (version, remote) = read_connected(&first)?;
        reader.decoder_mut().set_version(version);
        let heartbeat = HeartBeat::negotiate(self.heartbeat, remote);
        tracing::debug!(
            %version,
            session = first.get(names::SESSION).unwrap_or_default(),
            ?heartbeat,
            "STOMP client connected"
        );

        let shared = Arc::new(Shared::new(self.unrouted_capacity));
        let (queue, queue_rx) = mpsc::channel(self.send_queue_capacity);
        let (reader_done, reader_done_rx) = oneshot::channel();
        let (writer_done, writer_done_rx) = oneshot::channel();
        tokio::spawn(run_writer(
            sink,
            queue_rx,
            reader_done_rx,
            writer_done,
            heartbeat.send_every,
            Arc::clone(&shared),
        ));
        // Spec tolerance: the server is dead after twice its interval of silence.
        reader
            .window_mut()
            .set(heartbeat.expect_every.map(|every| every * 2));
        let reader = Reader {
            reader,
            shared: Arc::clone(&shared),
            writer_done: writer_done_rx,
            reader_done,
            last_error: None,
        };
        tokio::spawn(reader.run());
        Ok(StompSession::new(SessionParts {
            queue,
            shared,
            connected: first,
            version,
            heartbeat,
            receipt_timeout: self.receipt_timeout,
            subscription_capacity: self.subscription_capacity,
        }))
    }

    /// Opens the TCP connection, from [`bind_addr`](StompClient::bind_addr) when set.
    async fn open_tcp(&self, host: &str, port: u16) -> Result<TcpStream, ClientError> {
        // `[::1]` in a URL is `::1` to the resolver.
        let name = host.trim_start_matches('[').trim_end_matches(']');
        let mut last_error = None;
        for addr in tokio::net::lookup_host((name, port)).await? {
            if let Some(local) = self.bind_addr {
                if local.is_ipv4() != addr.is_ipv4() {
                    continue;
                }
            }
            match self.connect_addr(addr).await {
                Ok(stream) => {
                    // STOMP frames are small and latency matters more than packet count; the
                    // writer already batches.
                    stream.set_nodelay(true)?;
                    return Ok(stream);
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(ClientError::Io(last_error.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("`{host}` resolves to no usable address"),
            )
        })))
    }

    /// The connection inside TLS for `wss://` and `stomp+ssl://`, as is otherwise.
    async fn secure(&self, tcp: TcpStream, uri: &Uri, host: &str) -> Result<ClientIo, ClientError> {
        let config = if matches!(uri.scheme_str(), Some("wss" | "stomp+ssl")) {
            self.tls_config()
        } else {
            None
        };
        Ok(crate::tls::connect(tcp, config.as_ref(), host).await?)
    }

    /// What a TLS connection trusts: the configured roots, else the webpki roots.
    #[cfg(feature = "tls")]
    fn tls_config(&self) -> Option<crate::tls::TlsClientConfig> {
        Some(
            self.tls
                .clone()
                .unwrap_or_else(crate::tls::TlsClientConfig::webpki_roots),
        )
    }

    /// Without the `tls` feature `parse_url` refuses TLS URLs: this is never reached.
    #[cfg(not(feature = "tls"))]
    fn tls_config(&self) -> Option<crate::tls::TlsClientConfig> {
        self.tls.clone()
    }

    async fn connect_addr(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        match self.bind_addr {
            None => TcpStream::connect(addr).await,
            Some(local) => {
                let socket = if local.is_ipv4() {
                    TcpSocket::new_v4()?
                } else {
                    TcpSocket::new_v6()?
                };
                socket.bind(SocketAddr::new(local, 0))?;
                socket.connect(addr).await
            }
        }
    }

    fn ws_config(&self) -> WebSocketConfig {
        // Several frames may share one WebSocket message, so allow a few frames' worth.
        let max_message = self.limits.max_frame_size.saturating_mul(8).max(1 << 20);
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size)
            .max_message_size(Some(max_message))
            .max_frame_size(Some(max_message))
    }

    fn handshake_request(&self, uri: Uri) -> Result<Request, ClientError> {
        let mut request = uri.into_client_request()?;
        let headers = request.headers_mut();
        let invalid =
            |name: &str| ClientError::Config(format!("invalid handshake header `{name}`"));
        if !self.subprotocols.is_empty() {
            let value = HeaderValue::from_str(&self.subprotocols.join(", "))
                .map_err(|_| invalid("Sec-WebSocket-Protocol"))?;
            headers.insert(::http::header::SEC_WEBSOCKET_PROTOCOL, value);
        }
        if let Some(origin) = &self.origin {
            let value = HeaderValue::from_str(origin).map_err(|_| invalid("Origin"))?;
            headers.insert(::http::header::ORIGIN, value);
        }
        for (name, value) in &self.handshake_headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(name))?;
            let value = HeaderValue::from_str(value).map_err(|_| invalid(name))?;
            headers.append(header, value);
        }
        Ok(request)
    }

    /// The `CONNECT` (or `STOMP`) frame: versions, host, credentials, heart-beat, extras.
    fn connect_frame(&self, url_host: &str) -> Frame {
        let command = if self.use_stomp_command {
            Command::Stomp
        } else {
            Command::Connect
        };
        let versions: Vec<&str> = self.accept_versions.iter().map(|v| v.as_str()).collect();
        let mut frame = Frame::new(command)
            .header(names::ACCEPT_VERSION, &versions.join(","))
            .header(names::HOST, self.host.as_deref().unwrap_or(url_host));
        if let Some((login, passcode)) = &self.login {
            frame = frame
                .header(names::LOGIN, login)
                .header(names::PASSCODE, passcode);
        }
        frame = frame.header(names::HEART_BEAT, &self.heartbeat.to_string());
        for (name, value) in &self.connect_headers {
            frame.headers.append(name, value);
        }
        frame
    }
}

/// Reads the server's answer to `CONNECT`. Bytes after it stay in the reader for the
/// reader task.
async fn read_first_frame(reader: &mut ClientReader) -> Result<Frame, ClientError> {
    match reader.read_frame().await {
        Next::Frame(frame) => Ok(frame),
        Next::Malformed(error) => Err(error.into()),
        Next::Failed(error) => Err(error.into()),
        Next::Closed(frame) => Err(ClientError::Closed(CloseReason::ServerClosed {
            code: frame.as_ref().map(|f| f.code),
            reason: frame.map(|f| f.reason).unwrap_or_default(),
        })),
        // No heart-beat window before CONNECTED: the connect timeout bounds the wait.
        Next::Silent => Err(ClientError::Timeout("CONNECTED")),
    }
}

/// The URI, host and port of a `ws://`, `wss://`, `tcp://` or `stomp+ssl://` URL; other
/// schemes are refused (and the TLS ones without the `tls` feature).
fn parse_url(url: &str) -> Result<(Uri, String, u16), ClientError> {
    let uri: Uri = url
        .parse()
        .map_err(|error| ClientError::Config(format!("invalid URL `{url}`: {error}")))?;
    let tls = cfg!(feature = "tls");
    let default_port = match uri.scheme_str() {
        Some("ws") => 80,
        // STOMP's registered port, RabbitMQ's and ActiveMQ's.
        Some("tcp") => 61613,
        Some("wss") if tls => 443,
        // RabbitMQ's and ActiveMQ's STOMP over TLS.
        Some("stomp+ssl") if tls => 61614,
        Some("wss" | "stomp+ssl") => {
            return Err(ClientError::Config(format!(
                "`{url}`: TLS needs stomp-server's `tls` cargo feature"
            )))
        }
        _ => {
            return Err(ClientError::Config(format!(
                "`{url}`: the URL must start with ws:// or wss:// (or tcp:// or stomp+ssl:// for STOMP over TCP)"
            )))
        }
    };
    let host = uri
        .host()
        .ok_or_else(|| ClientError::Config(format!("`{url}` has no host")))?
        .to_owned();
    let port = uri.port_u16().unwrap_or(default_port);
    Ok((uri, host, port))
}

/// The version and the server's heart-beats from the server's answer to `CONNECT`; an
/// `ERROR` is the server's refusal.
fn read_connected(first: &Frame) -> Result<(Version, HeartBeat), ClientError> {
    match first.command {
        Command::Connected => {}
        Command::Error => {
            return Err(ClientError::Refused {
                message: first.get(names::MESSAGE).unwrap_or_default().to_owned(),
                body: String::from_utf8_lossy(&first.body).into_owned(),
            })
        }
        other => {
            return Err(ClientError::Protocol(format!(
                "expected CONNECTED, the server sent {other}"
            )))
        }
    }
    let version = match first.get(names::VERSION) {
        None => Version::V1_0,
        Some(text) => Version::parse(text).ok_or_else(|| {
            ClientError::Protocol(format!("CONNECTED has an unknown version `{text}`"))
        })?,
    };
    let remote = match (version, first.get(names::HEART_BEAT)) {
        (Version::V1_0, _) | (_, None) => HeartBeat::default(),
        (_, Some(text)) => HeartBeat::parse(text).ok_or_else(|| {
            ClientError::Protocol(format!("CONNECTED has a malformed heart-beat `{text}`"))
        })?,
    };
    Ok((version, remote))
}
