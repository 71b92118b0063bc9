//! [`delegate_io!`]: `AsyncRead` and `AsyncWrite` for an enum of byte streams, each call
//! passed on to the stream its variant holds (a plain or TLS socket, a given stream).

/// Implements `AsyncRead` and `AsyncWrite` for the enum `$name`, whose every listed
/// variant holds one `Unpin` byte stream (a `Box` of one too), by passing each call on to
/// that stream.
macro_rules! delegate_io {
    ($name:ident { $($variant:ident),+ $(,)? }) => {
        // In a block of its own: the traits' methods are called on the variants' streams.
        const _: () = {
            use tokio::io::{AsyncRead, AsyncWrite};

            impl AsyncRead for $name {
                fn poll_read(
                    self: std::pin::Pin<&mut Self>,
                    cx: &mut std::task::Context<'_>,
                    buf: &mut tokio::io::ReadBuf<'_>,
                ) -> std::task::Poll<std::io::Result<()>> {
                    match self.get_mut() {
                        $($name::$variant(io) => std::pin::Pin::new(io).poll_read(cx, buf),)+
                    }
                }
            }

            impl AsyncWrite for $name {
                fn poll_write(
                    self: std::pin::Pin<&mut Self>,
                    cx: &mut std::task::Context<'_>,
                    buf: &[u8],
                ) -> std::task::Poll<std::io::Result<usize>> {
                    match self.get_mut() {
                        $($name::$variant(io) => std::pin::Pin::new(io).poll_write(cx, buf),)+
                    }
                }

                fn poll_write_vectored(
                    self: std::pin::Pin<&mut Self>,
                    cx: &mut std::task::Context<'_>,
                    bufs: &[std::io::IoSlice<'_>],
                ) -> std::task::Poll<std::io::Result<usize>> {
                    match self.get_mut() {
                        $($name::$variant(io) => std::pin::Pin::new(io).poll_write_vectored(cx, bufs),)+
                    }
                }

                fn is_write_vectored(&self) -> bool {
                    match self {
                        $($name::$variant(io) => io.is_write_vectored(),)+
                    }
                }

                fn poll_flush(
                    self: std::pin::Pin<&mut Self>,
                    cx: &mut std::task::Context<'_>,
                ) -> std::task::Poll<std::io::Result<()>> {
                    match self.get_mut() {
                        $($name::$variant(io) => std::pin::Pin::new(io).poll_flush(cx),)+
                    }
                }

                fn poll_shutdown(
                    self: std::pin::Pin<&mut Self>,
                    cx: &mut std::task::Context<'_>,
                ) -> std::task::Poll<std::io::Result<()>> {
                    match self.get_mut() {
                        $($name::$variant(io) => std::pin::Pin::new(io).poll_shutdown(cx),)+
                    }
                }
            }
        };
    };
}

pub(crate) use delegate_io;
