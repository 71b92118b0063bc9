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
use super::intercept::run_async_interceptors;
use super::state::SessionState;
use crate::interceptor::{InboundMessage, InterceptorContext};
use ack::AckCommand;
use send::{Body, SendRequest};
use subscribe::SubscribeRequest;
use transaction::TransactionRequest;
use unsubscribe::UnsubscribeRequest;

use error::CommandError;

impl SessionState<'_> {
    /// Handles one client frame, after the channel interceptors; [`ControlFlow::Break`]
    /// ends the session. One function rather than a parse-and-execute helper awaited here:
    /// every nested future would add its arguments to every idle session's task.
    pub(in crate::session) async fn handle(&mut self, mut frame: Frame) -> Flow {
        self.context.stats.frame_in(frame.command);
        if let Err(error) = self.intercept(&mut frame) {
            return ControlFlow::Break(self.reject(&error, frame.receipt()));
        }
        if !self.context.async_interceptors.is_empty() {
            // Boxed: only sessions of servers with async interceptors pay for its state,
            // not every idle session's task.
            frame = match Box::pin(self.intercept_async(frame)).await {
                Ok(frame) => frame,
                Err((error, receipt)) => {
                    return ControlFlow::Break(self.reject(&error, receipt.as_deref()))
                }
            };
        }
        if let Err(denied) = self.authorize(&frame) {
            return ControlFlow::Break(self.reject(&denied.into(), frame.receipt()));
        }
        // Taken after the interceptors, which may have changed the frame.
        let receipt = frame.receipt().map(str::to_owned);
        let version = self.session.version;
        let done = match frame.command {
            Command::Connect | Command::Stomp => Err(CommandError::AlreadyConnected),
            Command::Send | Command::Ack | Command::Nack if self.holds(&frame) => self.hold(frame),
            Command::Send => match SendRequest::parse(frame) {
                Ok(request) => {
                    request
                        .execute(self, Body::Received, receipt.as_deref())
                        .await
                }
                Err(error) => Err(error),
            },
            Command::Subscribe => match SubscribeRequest::parse(&frame, version) {
                Ok(request) => request.execute(self, frame).await,
                Err(error) => Err(error),
            },
            Command::Unsubscribe => UnsubscribeRequest::parse(&frame, version)
                .and_then(|request| request.execute(self, &frame)),
            Command::Ack | Command::Nack => {
                AckCommand::parse(&frame, version).and_then(|ack| ack.execute(self, &frame))
            }
            Command::Begin | Command::Commit | Command::Abort => {
                match TransactionRequest::parse(&frame) {
                    Ok(request) => request.execute(self, &frame).await,
                    Err(error) => Err(error),
                }
            }
            Command::Disconnect => Ok(disconnect::execute(self, &frame)),
            command => Err(CommandError::ServerCommand(command)),
        };
        match done {
            Ok(flow) => flow,
            Err(error) => ControlFlow::Break(self.reject(&error, receipt.as_deref())),
        }
    }

    /// True when this `SEND`, `ACK` or `NACK` is held by a transaction of this session
    /// (the relay's broker runs transactions itself).
    fn holds(&self, frame: &Frame) -> bool {
        frame.get(names::TRANSACTION).is_some() && !self.context.broker().forwards_transactions()
    }

    /// Checks the frame against the authorization rules, with the session's principal.
    fn authorize(&self, frame: &Frame) -> Result<(), crate::authorization::AccessDenied> {
        let session = &**self.session;
        self.context.authorize(
            frame,
            session.principal.as_ref(),
            &session.id,
            &session.attributes,
        )
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
            expires_at: None,
        };
        for interceptor in &self.context.interceptors {
            interceptor
                .pre_send(frame, &mut context)
                .map_err(|rejection| CommandError::Rejected(rejection.message))?;
        }
        Ok(())
    }

    /// Hands the frame to every async interceptor (after the plain ones); `Err` carries the
    /// refusal and the frame's receipt.
    async fn intercept_async(&self, frame: Frame) -> Result<Frame, (CommandError, Option<String>)> {
        let receipt = frame.receipt().map(str::to_owned);
        let mut message = InboundMessage::new(frame, self.session.id.clone());
        message.principal = self.session.principal.clone();
        message.attributes = self.session.attributes.clone();
        match run_async_interceptors(self.context, message).await {
            Ok(message) => Ok(message.frame),
            Err(text) => Err((CommandError::Rejected(text), receipt)),
        }
    }
}
