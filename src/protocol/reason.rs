//! [`Reason`]: every error reason of the protocol, one enum (PROTOCOL
//! sections 3, 3a and 4). The wire spelling is in the serde attributes and
//! [`Reason::as_str`], nowhere else.

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
}

impl Reason {
    /// Every reason, for tests and docs.
    pub const ALL: [Reason; 14] = [
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
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
            ]
        );
    }
}
