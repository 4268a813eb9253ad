//! How app code says no: [`AppError`] (an event refused, with the reply's
//! reason) and [`ConnectRefusal`] (a connection refused before upgrade).

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::protocol::Reason;
use crate::protocol::{AppReason, ErrorReason};

/// Why [`App::connect`] refused a connection; the upgrade is answered with
/// this HTTP status and the message as a plain-text body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectRefusal {
    /// HTTP 401: who this is is unknown (no or a bad credential).
    Unauthenticated(String),
    /// HTTP 403: known, and not allowed.
    Forbidden(String),
}

/// Which error reason an [`AppError`] replies with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppErrorKind {
    /// Reason `invalid_payload`: the event's data does not make sense.
    InvalidPayload,
    /// Reason `handler_error`: the event is well-formed but refused.
    Handler,
    /// Reason `unknown_event`: the app has no event of this name (for
    /// apps that decide that in the handler, such as the app proxy).
    UnknownEvent,
    /// The app's own reason (`out_of_stock`).
    Refused(AppReason),
}

/// A refused event: becomes the error reply `{"reason", "message",
/// "data"?}`. Every change the handler made is rolled back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppError {
    /// The reply's reason.
    pub kind: AppErrorKind,
    /// The reply's message, for humans.
    pub message: String,
    /// Data about the refusal for the client (`{"restock_in_days": 3}`).
    pub data: Option<Value>,
}

impl AppError {
    /// Reason `handler_error`.
    pub fn handler(message: impl Into<String>) -> Self {
        Self {
            kind: AppErrorKind::Handler,
            message: message.into(),
            data: None,
        }
    }

    /// Reason `invalid_payload`.
    pub fn invalid_payload(message: impl Into<String>) -> Self {
        Self {
            kind: AppErrorKind::InvalidPayload,
            message: message.into(),
            data: None,
        }
    }

    /// Reason `unknown_event`.
    pub fn unknown_event(message: impl Into<String>) -> Self {
        Self {
            kind: AppErrorKind::UnknownEvent,
            message: message.into(),
            data: None,
        }
    }

    /// The app's own reason, e.g. `AppError::refuse("out_of_stock", "sold
    /// out")`: snake_case, 1 to 64 bytes, starting with a letter, and not a
    /// protocol reason (see [`AppReason::parse`]). A reason that breaks
    /// these rules is the app's bug: the reply is `handler_error`, with a
    /// message that names the bad reason.
    pub fn refuse(reason: &str, message: impl Into<String>) -> Self {
        match AppReason::parse(reason) {
            Ok(reason) => Self {
                kind: AppErrorKind::Refused(reason),
                message: message.into(),
                data: None,
            },
            Err(why) => Self::handler(format!("{}: {why}", message.into())),
        }
    }

    /// Adds data about the refusal for the client. Data that does not
    /// serialize is logged and left out.
    pub fn with_data(mut self, data: impl Serialize) -> Self {
        match serde_json::to_value(data) {
            Ok(v) => self.data = Some(v),
            Err(e) => tracing::warn!(error = %e, "refusal data did not serialize"),
        }
        self
    }

    /// The wire reason.
    pub fn reason(&self) -> ErrorReason {
        match &self.kind {
            AppErrorKind::InvalidPayload => Reason::InvalidPayload.into(),
            AppErrorKind::Handler => Reason::HandlerError.into(),
            AppErrorKind::UnknownEvent => Reason::UnknownEvent.into(),
            AppErrorKind::Refused(reason) => ErrorReason::App(reason.clone()),
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason(), self.message)
    }
}

impl std::error::Error for AppError {}

/// A refused event's answer: the reason, message and data of the error
/// reply (docs/protocol.md section 6.2), whichever way it was submitted.
impl From<AppError> for crate::protocol::reply::Outcome {
    fn from(e: AppError) -> Self {
        Self::Error {
            reason: e.reason(),
            message: e.message,
            data: e.data,
        }
    }
}
