//! [`HandleError`]: why a [`super::SessionHandle`] call failed, and how
//! the errors of the actors it asks map to it. Serde, so an answer from
//! the node that owns a session crosses to the node that called
//! (`remote.rs`).

use std::fmt;

use actix::MailboxError;

use crate::session::{NotHandled, PushRefused};
use crate::supervisor::{LookupError, RetireError};

/// Why a session handle's call failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandleError {
    /// The service is shutting down (or has shut down).
    ShuttingDown,
    /// Starting the session would pass `--max-sessions`.
    Capacity,
    /// The session stopped or failed (its store) while the call was on its
    /// way, or (several nodes) the node that owns it was lost before it
    /// answered, so the call may or may not have run there; calling again
    /// starts it afresh, or reaches its next owner.
    SessionGone,
    /// The session could not do it: its store failed, or its state does
    /// not round-trip through serde. The message says which.
    Failed(String),
    /// The call names a background task that is not running (it ended, or
    /// was cancelled).
    TaskGone,
    /// A pushed change does not apply (a patch's path is missing, a `test`
    /// failed) or does not give a valid state; nothing changed. The
    /// message says why.
    InvalidChange(String),
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ShuttingDown => f.write_str("the service is shutting down"),
            Self::Capacity => f.write_str("the service is at its session limit"),
            Self::SessionGone => f.write_str("the session stopped before it answered; call again"),
            Self::Failed(why) => write!(f, "the session could not do it: {why}"),
            Self::TaskGone => f.write_str("the task is not running"),
            Self::InvalidChange(why) => write!(f, "the change was not applied: {why}"),
        }
    }
}

impl std::error::Error for HandleError {}

impl From<LookupError> for HandleError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::ShuttingDown => Self::ShuttingDown,
            LookupError::Capacity => Self::Capacity,
        }
    }
}

impl From<RetireError> for HandleError {
    fn from(e: RetireError) -> Self {
        match e {
            RetireError::ShuttingDown => Self::ShuttingDown,
            RetireError::Store(why) => Self::Failed(why),
        }
    }
}

impl From<PushRefused> for HandleError {
    fn from(e: PushRefused) -> Self {
        match e {
            PushRefused::TaskGone => Self::TaskGone,
            PushRefused::Invalid(why) => Self::InvalidChange(why),
            PushRefused::NotReady => {
                Self::Failed("the session's store failed; call again for a fresh session".into())
            }
        }
    }
}

impl From<NotHandled> for HandleError {
    fn from(e: NotHandled) -> Self {
        match e {
            NotHandled::Stopped => Self::SessionGone,
            NotHandled::StoreFailed => {
                Self::Failed("the session's store failed; call again for a fresh session".into())
            }
        }
    }
}

impl From<MailboxError> for HandleError {
    fn from(_: MailboxError) -> Self {
        Self::SessionGone
    }
}
