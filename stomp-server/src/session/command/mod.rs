//! One unit per client command: each parses its frame into a typed request and executes
//! it, failing with a [`CommandError`] that [`SessionState::reject`] turns into the
//! `ERROR` frame. Executing returns [`ControlFlow::Break`] when the session ends.

mod ack;
mod disconnect;
pub(super) mod error;
pub(super) mod held;
mod send;
mod subscribe;
mod transaction;
mod unsubscribe;

use std::ops::ControlFlow;

use stomp_core::{names, Command, Frame};

use super::end::Flow;
use super::state::SessionState;
use crate::interceptor::InterceptorContext;
use ack::AckCommand;
use send::{Body, SendRequest};
use subscribe::SubscribeRequest;
use transaction::TransactionRequest;
use unsubscribe::UnsubscribeRequest;

use error::CommandError;

impl SessionState<'_> {
    /// Handles one client frame; [`ControlFlow::Break`] ends the session.
    pub(in crate::session) async fn handle(&mut self, frame: Frame) -> Flow {
        let receipt = frame.receipt().map(str::to_owned);
        match self.execute(frame).await {
            Ok(flow) => flow,
            Err(error) => ControlFlow::Break(self.reject(&error, receipt.as_deref())),
        }
    }

    /// Runs the client's interceptors, then the command.
    async fn execute(&mut self, mut frame: Frame) -> Result<Flow, CommandError> {
        self.context.stats.frame_in(frame.command);
        self.intercept(&mut frame)?;
        let version = self.session.version;
        match frame.command {
            Command::Connect | Command::Stomp => Err(CommandError::AlreadyConnected),
            Command::Send | Command::Ack | Command::Nack
                if frame.get(names::TRANSACTION).is_some()
                    && !self.context.broker().forwards_transactions() =>
            {
                self.hold(frame)
            }
            Command::Send => {
                SendRequest::parse(frame)?
                    .execute(self, Body::Received)
                    .await
            }
            Command::Subscribe => {
                SubscribeRequest::parse(&frame, version)?
                    .execute(self, frame)
                    .await
            }
            Command::Unsubscribe => {
                UnsubscribeRequest::parse(&frame, version)?.execute(self, &frame)
            }
            Command::Ack | Command::Nack => {
                AckCommand::parse(&frame, version)?.execute(self, &frame)
            }
            Command::Begin | Command::Commit | Command::Abort => {
                TransactionRequest::parse(&frame)?
                    .execute(self, &frame)
                    .await
            }
            Command::Disconnect => Ok(disconnect::execute(self, &frame)),
            Command::Connected | Command::Message | Command::Receipt | Command::Error => {
                Err(CommandError::ServerCommand(frame.command))
            }
        }
    }

    /// Hands the frame to every channel interceptor; the first refusal refuses it.
    fn intercept(&self, frame: &mut Frame) -> Result<(), CommandError> {
        if self.context.interceptors.is_empty() {
            return Ok(());
        }
        let mut principal = self.session.principal.clone();
        let mut context = InterceptorContext {
            session_id: &self.session.id,
            principal: &mut principal,
            attributes: &self.session.attributes,
        };
        for interceptor in &self.context.interceptors {
            interceptor
                .pre_send(frame, &mut context)
                .map_err(|rejection| CommandError::Rejected(rejection.message))?;
        }
        Ok(())
    }
}
