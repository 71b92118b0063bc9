//! A server with STOMP over TCP as well as its WebSocket endpoint, on free ports.

use std::net::SocketAddr;

use stomp_server::stats::Stats;
use stomp_server::StompServerBuilder;

/// A server with a STOMP-over-TCP endpoint on a free port, and its WebSocket endpoint.
pub(crate) struct TcpServer {
    pub(crate) tcp: SocketAddr,
    pub(crate) ws_port: u16,
    pub(crate) stats: std::sync::Arc<Stats>,
    pub(crate) template: stomp_server::Template,
    pub(crate) stop: tokio::sync::oneshot::Sender<()>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl TcpServer {
    pub(crate) async fn start(builder: StompServerBuilder) -> TcpServer {
        let mut server = builder
            .stomp_tcp("127.0.0.1:0")
            .stats_log_interval(None)
            .build()
            .expect("builds");
        let tcp = server
            .bind_stomp_tcp()
            .await
            .expect("bind")
            .expect("asked for");
        let listener = server.bind("127.0.0.1:0").await.expect("bind");
        let ws_port = listener.local_addr().expect("addr").port();
        let (stats, template) = (server.stats(), server.template());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(listener, async move {
            let _ = stopped.await;
        }));
        TcpServer {
            tcp,
            ws_port,
            stats,
            template,
            stop,
            task,
        }
    }
}
