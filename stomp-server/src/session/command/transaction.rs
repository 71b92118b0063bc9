//! `BEGIN`, `COMMIT` and `ABORT`, and the `SEND`, `ACK` and `NACK` frames a transaction
//! holds until it is committed. With the relay, the external broker runs transactions.

use std::ops::ControlFlow;

use stomp_core::{names, Command, Frame};

use super::ack::AckCommand;
use super::error::CommandError;
use super::send::{Body, SendRequest};
use crate::session::end::Flow;
use crate::session::state::SessionState;

/// A `BEGIN`, `COMMIT` or `ABORT`, read.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct TransactionRequest {
    /// `BEGIN`, `COMMIT` or `ABORT`.
    pub(super) command: Command,
    /// The `transaction` header.
    pub(super) name: String,
}

impl TransactionRequest {
    /// Reads a `BEGIN`, `COMMIT` or `ABORT`: it must name its transaction.
    pub(super) fn parse(frame: &Frame) -> Result<TransactionRequest, CommandError> {
        let name = frame
            .get(names::TRANSACTION)
            .ok_or(CommandError::MissingTransaction(frame.command))?;
        Ok(TransactionRequest {
            command: frame.command,
            name: name.to_owned(),
        })
    }

    /// Begins, commits or aborts the transaction, then answers the receipt.
    pub(super) async fn execute(
        self,
        state: &mut SessionState<'_>,
        frame: &Frame,
    ) -> Result<Flow, CommandError> {
        let broker = state.context.broker();
        if broker.forwards_transactions() {
            // The external broker runs the transaction (the relay: RabbitMQ's).
            broker.transaction(&state.session.id, self.command, &self.name)?;
        } else {
            match self.command {
                Command::Begin => state.transactions.begin(&self.name)?,
                Command::Commit => self.commit(state).await?,
                _ => drop(state.transactions.finish(&self.name)?),
            }
        }
        state.receipt(frame);
        Ok(ControlFlow::Continue(()))
    }

    /// Applies what the transaction held, in order; the first failure ends the session.
    async fn commit(&self, state: &mut SessionState<'_>) -> Result<(), CommandError> {
        for mut held in state.transactions.finish(&self.name)? {
            held.headers.remove(names::TRANSACTION);
            held.headers.remove(names::RECEIPT);
            if held.command == Command::Send {
                let sent = match SendRequest::parse(held) {
                    // Its receipt header was removed: a held SEND is answered by the COMMIT's.
                    Ok(request) => request.execute(state, Body::Detached, None).await.map(drop),
                    Err(error) => Err(error),
                };
                sent.map_err(|error| CommandError::HeldSend(Box::new(error)))?;
            } else {
                AckCommand::parse(&held, state.session.version)
                    .and_then(|ack| ack.apply(state))
                    .map_err(|cause| CommandError::CommitFailed {
                        transaction: self.name.clone(),
                        cause: Box::new(cause),
                    })?;
            }
        }
        Ok(())
    }
}

impl SessionState<'_> {
    /// A `SEND`, `ACK` or `NACK` with a `transaction` header: checked now, held until
    /// `COMMIT`, and its receipt answered now.
    pub(super) fn hold(&mut self, frame: Frame) -> Result<Flow, CommandError> {
        let tx = frame.get(names::TRANSACTION).unwrap_or_default().to_owned();
        if !self.transactions.is_open(&tx) {
            return Err(CommandError::UnknownTransaction(tx));
        }
        if let Some(text) = frame
            .destination()
            .and_then(|d| self.context.routing.prefixes.refuse_client_send(d))
        {
            // Refused now rather than at COMMIT, where the other held frames would go too.
            return Err(CommandError::Refused(text));
        }
        if matches!(frame.command, Command::Ack | Command::Nack) {
            // Checked now, applied at COMMIT.
            AckCommand::parse(&frame, self.session.version)?;
        }
        let receipt = frame.receipt().map(str::to_owned);
        self.transactions.hold(&tx, frame)?;
        self.receipt_id(receipt.as_deref());
        Ok(ControlFlow::Continue(()))
    }
}

#[cfg(test)]
mod tests {
    use stomp_core::{names, Command, Frame};

    use super::TransactionRequest;

    #[test]
    fn a_transaction_command_must_name_its_transaction() {
        for command in [Command::Begin, Command::Commit, Command::Abort] {
            let error = TransactionRequest::parse(&Frame::new(command)).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("{command} requires a transaction header")
            );
        }
        let frame = Frame::new(Command::Commit).header(names::TRANSACTION, "tx");
        let request = TransactionRequest::parse(&frame).unwrap();
        assert_eq!(
            (request.command, request.name.as_str()),
            (Command::Commit, "tx")
        );
    }
}
