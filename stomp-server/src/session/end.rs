//! [`End`]: why a session ended, and what follows from it (the close status, the log).

use std::ops::ControlFlow;

use crate::peer::CloseCause;
use crate::peer::CloseStatus;
use crate::stats::SessionCloseCause;

/// Why a session ended, for the log and the disconnect event.
pub(super) enum End {
    /// The client sent `DISCONNECT` or closed the socket.
    Client(&'static str),
    /// The server sent an `ERROR` frame with this message, and closes with this status.
    Error(String, CloseStatus),
    /// The server closed it for this cause.
    Closed(CloseCause),
    /// The client went silent past the heart-beat window.
    HeartBeat,
}

impl End {
    /// Why, in words, for the log and the disconnect event.
    pub(super) fn reason(&self) -> String {
        match self {
            End::Client(why) => (*why).to_owned(),
            End::Error(message, _) => format!("ERROR sent: {message}"),
            End::Closed(CloseCause::SendBufferLimit) => {
                "send buffer limit exceeded (slow consumer)".to_owned()
            }
            End::Closed(CloseCause::SendTimeLimit) => {
                "send time limit exceeded (slow consumer)".to_owned()
            }
            End::Closed(CloseCause::Shutdown) => "server shutting down".to_owned(),
            End::Closed(CloseCause::AckBacklog) => {
                "too many messages waiting for acknowledgement (slow consumer)".to_owned()
            }
            End::Closed(CloseCause::Ended) => {
                "ended by the application (an ERROR said why)".to_owned()
            }
            End::Closed(_) => "connection lost".to_owned(),
            End::HeartBeat => "no heart-beat from client".to_owned(),
        }
    }

    /// Why, as counted by [`Stats`](crate::stats::Stats) and the metrics.
    pub(super) fn cause(&self) -> SessionCloseCause {
        match self {
            End::Client("DISCONNECT") => SessionCloseCause::Disconnect,
            End::Client("connection lost") => SessionCloseCause::ConnectionLost,
            End::Client(_) => SessionCloseCause::ClientClosed,
            End::Error(..) => SessionCloseCause::Error,
            End::HeartBeat => SessionCloseCause::HeartBeat,
            End::Closed(CloseCause::SendBufferLimit) => SessionCloseCause::SendBufferLimit,
            End::Closed(CloseCause::SendTimeLimit) => SessionCloseCause::SendTimeLimit,
            End::Closed(CloseCause::AckBacklog) => SessionCloseCause::AckBacklog,
            End::Closed(CloseCause::Shutdown) => SessionCloseCause::Shutdown,
            End::Closed(CloseCause::Ended) => SessionCloseCause::Ended,
            End::Closed(_) => SessionCloseCause::ConnectionLost,
        }
    }

    /// The status of the close frame the client gets.
    pub(super) fn close_status(&self) -> CloseStatus {
        match self {
            End::Client(_) => CloseStatus::Normal,
            End::Error(_, status) => *status,
            End::HeartBeat => CloseStatus::Protocol,
            End::Closed(CloseCause::Shutdown) => CloseStatus::GoingAway,
            End::Closed(_) => CloseStatus::Policy,
        }
    }

    /// True when the client is owed a last read until its close: it was told why (an
    /// `ERROR` or `RECEIPT`) and unread input must not reset the connection before it reads
    /// that.
    pub(super) fn lingers(&self) -> bool {
        matches!(
            self,
            End::Error(..)
                | End::HeartBeat
                | End::Client(_)
                | End::Closed(CloseCause::Shutdown | CloseCause::Ended)
        )
    }
}

/// What handling a client frame leaves: the session goes on, or ends for this reason.
pub(super) type Flow = ControlFlow<End>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_is_counted_under_its_own_cause() {
        let error = End::Error("bad".to_owned(), CloseStatus::Protocol);
        let ends = [
            (End::Client("DISCONNECT"), SessionCloseCause::Disconnect),
            (
                End::Client("connection closed by client"),
                SessionCloseCause::ClientClosed,
            ),
            (
                End::Client("connection lost"),
                SessionCloseCause::ConnectionLost,
            ),
            (error, SessionCloseCause::Error),
            (End::HeartBeat, SessionCloseCause::HeartBeat),
            (
                End::Closed(CloseCause::SendBufferLimit),
                SessionCloseCause::SendBufferLimit,
            ),
            (
                End::Closed(CloseCause::SendTimeLimit),
                SessionCloseCause::SendTimeLimit,
            ),
            (
                End::Closed(CloseCause::AckBacklog),
                SessionCloseCause::AckBacklog,
            ),
            (
                End::Closed(CloseCause::Shutdown),
                SessionCloseCause::Shutdown,
            ),
            (End::Closed(CloseCause::Ended), SessionCloseCause::Ended),
            (
                End::Closed(CloseCause::WriteFailed),
                SessionCloseCause::ConnectionLost,
            ),
        ];
        for (end, cause) in ends {
            assert_eq!(end.cause(), cause, "{}", end.reason());
        }
    }
}
