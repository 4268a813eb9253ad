//! [`Reason`]: every error reason of the protocol, one enum
//! (docs/protocol.md section 15 (error reasons)). The wire spelling is in
//! the serde attributes and [`Reason::as_str`], nowhere else. An app may
//! refuse an event with a reason of its own ([`AppReason`]); an error
//! reply's reason is either ([`ErrorReason`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a join or a push was refused: the `reason` of an error reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Join: the app's authorize hook refused it.
    Unauthorized,
    /// Join: a `session:` topic with a malformed key.
    InvalidKey,
    /// Join: the session already has the maximum number of tabs.
    TooManyTabs,
    /// Join: the connection already has the maximum number of joins.
    TooManyJoins,
    /// Join: the service is at its session limit (or shutting down).
    Capacity,
    /// Join, legacy duplicate-tab mode: join the key in `new_key` instead.
    NewKey,
    /// Join: the store could not load this session.
    StoreError,
    /// A topic that is not joined or not served (Phoenix's own wording,
    /// with a space, so Phoenix clients recognise it).
    #[serde(rename = "unmatched topic")]
    UnmatchedTopic,
    /// Push: an unknown frame event, or an event name the app does not know.
    UnknownEvent,
    /// Push: the payload does not fit its event.
    InvalidPayload,
    /// Event: the app's handler refused it.
    HandlerError,
    /// Event: the session's queue is full; retry later.
    QueueFull,
    /// Event: this tab exceeded its event rate; retry later.
    RateLimited,
    /// Push: anything but `phx_leave` on a summary join.
    SummaryOnly,
    /// Join: the app could not decide whether to let it in (its backend
    /// or database did not answer, or its authorize hook panicked or timed
    /// out); retry later, with backoff. Last, so the metrics' order of
    /// earlier reasons stays.
    Unavailable,
}

impl Reason {
    /// Every reason, for tests and docs.
    pub const ALL: [Reason; 15] = [
        Reason::Unauthorized,
        Reason::InvalidKey,
        Reason::TooManyTabs,
        Reason::TooManyJoins,
        Reason::Capacity,
        Reason::NewKey,
        Reason::StoreError,
        Reason::UnmatchedTopic,
        Reason::UnknownEvent,
        Reason::InvalidPayload,
        Reason::HandlerError,
        Reason::QueueFull,
        Reason::RateLimited,
        Reason::SummaryOnly,
        Reason::Unavailable,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unauthorized => "unauthorized",
            Reason::InvalidKey => "invalid_key",
            Reason::TooManyTabs => "too_many_tabs",
            Reason::TooManyJoins => "too_many_joins",
            Reason::Capacity => "capacity",
            Reason::NewKey => "new_key",
            Reason::StoreError => "store_error",
            Reason::UnmatchedTopic => "unmatched topic",
            Reason::UnknownEvent => "unknown_event",
            Reason::InvalidPayload => "invalid_payload",
            Reason::HandlerError => "handler_error",
            Reason::QueueFull => "queue_full",
            Reason::RateLimited => "rate_limited",
            Reason::SummaryOnly => "summary_only",
            Reason::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An app's own reason for refusing an event (`out_of_stock`): snake_case,
/// 1 to 64 bytes of `[a-z0-9_]` starting with a letter, and not one of the
/// protocol's [`Reason`]s (an app refusing with those uses them as they
/// are).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppReason(String);

impl AppReason {
    /// Longest reason, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Checks a reason.
    ///
    /// # Errors
    /// A message saying what was expected, when `reason` is not snake_case
    /// of 1 to 64 bytes starting with a letter, or is a protocol reason.
    pub fn parse(reason: &str) -> Result<Self, String> {
        let snake = reason.len() <= Self::MAX_LEN
            && reason.starts_with(|c: char| c.is_ascii_lowercase())
            && reason
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !snake {
            return Err(format!(
                "an app's reason is 1 to {} bytes of snake_case starting with a letter, got {reason:?}",
                Self::MAX_LEN
            ));
        }
        if Reason::ALL.iter().any(|r| r.as_str() == reason) {
            return Err(format!("{reason:?} is a protocol reason, not an app's own"));
        }
        Ok(Self(reason.to_owned()))
    }

    /// The reason as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AppReason {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<AppReason> for String {
    fn from(r: AppReason) -> String {
        r.0
    }
}

/// The `reason` of an error reply: one of the protocol's, or an app's own.
/// On the wire both are plain strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrorReason {
    /// A protocol reason (docs/protocol.md section 15 (error reasons)).
    Protocol(Reason),
    /// An app's own reason.
    App(AppReason),
}

impl From<Reason> for ErrorReason {
    fn from(r: Reason) -> Self {
        Self::Protocol(r)
    }
}

impl std::fmt::Display for ErrorReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Protocol(r) => f.write_str(r.as_str()),
            Self::App(r) => f.write_str(r.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_serializes_as_its_wire_spelling_and_back() {
        for r in Reason::ALL {
            let json = serde_json::to_value(r).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(json, serde_json::Value::String(r.as_str().to_owned()));
            let back: Reason = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, r);
        }
    }

    #[test]
    fn golden_reason_spellings() {
        let all: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            all,
            [
                "unauthorized",
                "invalid_key",
                "too_many_tabs",
                "too_many_joins",
                "capacity",
                "new_key",
                "store_error",
                "unmatched topic",
                "unknown_event",
                "invalid_payload",
                "handler_error",
                "queue_full",
                "rate_limited",
                "summary_only",
                "unavailable",
            ]
        );
    }
    #[test]
    fn an_apps_reason_is_snake_case_and_not_a_protocol_reason() {
        assert!(AppReason::parse("out_of_stock").is_ok());
        assert!(AppReason::parse("x1").is_ok());
        for bad in [
            "",
            "OutOfStock",
            "out-of-stock",
            "1st",
            "queue_full",
            &"a".repeat(65),
        ] {
            assert!(AppReason::parse(bad).is_err(), "{bad:?}");
        }
    }
}
