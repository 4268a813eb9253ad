//! WebSocket close codes (RFC 6455 section 7.4; docs/protocol.md section 14
//! (close codes)).

/// Why the server closes a connection. The numeric code tells a client
/// whether to reconnect: all but [`CloseCode::Replaced`] and
/// [`CloseCode::Policy`] mean "reconnect with backoff, rejoin with cursors".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseCode {
    /// 1000: normal closure (echo of a client's close).
    Normal,
    /// 1001: no frame arrived within the client timeout.
    ClientTimeout,
    /// 1002: a WebSocket protocol violation (RFC 6455), e.g. a bad
    /// continuation sequence.
    ProtocolError,
    /// 1003: a binary frame; the protocol is text only.
    BinaryFrame,
    /// 1007: a text frame that is not a protocol frame.
    MalformedFrame,
    /// 1008: refused by policy (origin or auth).
    Policy,
    /// 1009: a message larger than `max_frame_bytes`.
    TooLarge,
    /// 1011: an internal error.
    Internal,
    /// 1012: the service is restarting; reconnect later.
    ServiceRestart,
    /// 1013: overloaded (e.g. outbound buffer hopelessly full); reconnect later.
    Overloaded,
    /// 4001: replaced by a newer connection of the same tab; do not reconnect.
    Replaced,
}

impl CloseCode {
    /// The numeric close code sent on the wire.
    pub fn code(self) -> u16 {
        match self {
            Self::Normal => 1000,
            Self::ClientTimeout => 1001,
            Self::ProtocolError => 1002,
            Self::BinaryFrame => 1003,
            Self::MalformedFrame => 1007,
            Self::Policy => 1008,
            Self::TooLarge => 1009,
            Self::Internal => 1011,
            Self::ServiceRestart => 1012,
            Self::Overloaded => 1013,
            Self::Replaced => 4001,
        }
    }

    /// The close code numbered `code`, if it is one of these.
    pub fn from_code(code: u16) -> Option<Self> {
        [
            Self::Normal,
            Self::ClientTimeout,
            Self::ProtocolError,
            Self::BinaryFrame,
            Self::MalformedFrame,
            Self::Policy,
            Self::TooLarge,
            Self::Internal,
            Self::ServiceRestart,
            Self::Overloaded,
            Self::Replaced,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }

    /// Whether a client should reconnect after this close.
    pub fn should_reconnect(self) -> bool {
        !matches!(self, Self::Replaced | Self::Policy)
    }

    /// A short human description, sent as the close reason.
    pub fn description(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::ClientTimeout => "client timeout",
            Self::ProtocolError => "websocket protocol error",
            Self::BinaryFrame => "binary frames are not supported",
            Self::MalformedFrame => "malformed frame",
            Self::Policy => "policy",
            Self::TooLarge => "frame too large",
            Self::Internal => "internal error",
            Self::ServiceRestart => "service restart",
            Self::Overloaded => "overloaded",
            Self::Replaced => "replaced by a newer connection of this tab",
        }
    }
}
