//! What [`super::App::authorize`] sees of a join ([`JoinRequest`]) and its
//! two kinds of "no" ([`AuthorizeError`]): a final refusal, or no decision.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::ids::{SessionKey, TabId};
use crate::protocol::Reason;

/// Why [`super::App::authorize`] did not let a join in: a final answer, or
/// none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The app decided: this join may not happen. The client gets reason
    /// `unauthorized`, which `tabhub.js` treats as final (the session is
    /// closed until the page asks again). The message goes to the log.
    Refused(String),
    /// The app could not decide now (its database or backend did not
    /// answer). The client gets reason `unavailable` and rejoins with its
    /// backoff, so a short outage heals by itself. The message goes to the
    /// log.
    Unavailable(String),
}

impl AuthorizeError {
    /// [`AuthorizeError::Refused`]: final, reason `unauthorized`.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::Refused(message.into())
    }

    /// [`AuthorizeError::Unavailable`]: retryable, reason `unavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(message.into())
    }

    /// The join refusal's wire reason: `unauthorized` or `unavailable`.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Refused(_) => Reason::Unauthorized,
            Self::Unavailable(_) => Reason::Unavailable,
        }
    }

    /// The message for the log.
    pub fn message(&self) -> &str {
        match self {
            Self::Refused(m) | Self::Unavailable(m) => m,
        }
    }
}

impl fmt::Display for AuthorizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason(), self.message())
    }
}

impl std::error::Error for AuthorizeError {}

/// What the authorize hook sees of a join. `I` is the app's
/// [`super::App::Identity`].
#[derive(Debug)]
pub struct JoinRequest<'a, I = ()> {
    /// Who the connection is, as [`super::App::connect`] decided.
    pub identity: &'a I,
    /// The session being joined.
    pub key: &'a SessionKey,
    /// The joining tab.
    pub tab_id: &'a TabId,
    /// App members of the `phx_join` payload (all but `cursor`, `visibility`).
    pub params: &'a Map<String, Value>,
    /// The socket URL's query params, except `vsn` and `tab_id`.
    pub connect_params: &'a BTreeMap<String, String>,
}
