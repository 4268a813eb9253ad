//! Validated identifiers: [`SessionKey`], [`TabId`], [`Epoch`], and the
//! opaque ids a session hands out ([`ChainId`]).
//!
//! Each newtype is checked once, where it enters the system (the socket's
//! query string, a topic, a join payload), so the rest of the code never
//! re-validates a string.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Whether every byte of `s` is in the base64url alphabet `[A-Za-z0-9_-]`.
fn is_url_safe(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Why an identifier was refused: what was expected and how long the input was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId {
    /// Which identifier was being parsed (`"session key"`, `"tab_id"`).
    pub what: &'static str,
    /// The rule it broke, in words.
    pub expected: &'static str,
    /// Length of the refused input, in bytes.
    pub len: usize,
}

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {}: expected {}, got {} bytes",
            self.what, self.expected, self.len
        )
    }
}

impl std::error::Error for InvalidId {}

/// The stable key of a session (docs/protocol.md section 5.1 (topics and
/// keys)): 22-128 chars of `[A-Za-z0-9_-]`, e.g. a uuid or 22+ chars of
/// base64url (128+ random bits).
///
/// A key is a bearer secret: logs print only its first 6 chars.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionKey(Arc<str>);

impl SessionKey {
    /// Minimum length in chars.
    pub const MIN_LEN: usize = 22;
    /// Maximum length in chars.
    pub const MAX_LEN: usize = 128;
    /// Prefix of the topic that names a session (docs/protocol.md section
    /// 5.1 (topics and keys)).
    pub const TOPIC_PREFIX: &'static str = "session:";

    /// Parses a key.
    ///
    /// # Errors
    /// [`InvalidId`] when the length is outside 22..=128 or a char is not in
    /// `[A-Za-z0-9_-]`.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        if (Self::MIN_LEN..=Self::MAX_LEN).contains(&s.len()) && is_url_safe(s) {
            Ok(Self(Arc::from(s)))
        } else {
            Err(InvalidId {
                what: "session key",
                expected: "22-128 chars of [A-Za-z0-9_-]",
                len: s.len(),
            })
        }
    }

    /// A fresh random key: a uuid v4 in its 32-hex-digit simple form.
    pub fn random() -> Self {
        Self(Arc::from(uuid::Uuid::new_v4().simple().to_string()))
    }

    /// The key as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The topic that names this session: `session:<KEY>`.
    pub fn topic(&self) -> String {
        format!("{}{}", Self::TOPIC_PREFIX, self.0)
    }
}

impl TryFrom<String> for SessionKey {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<SessionKey> for String {
    fn from(k: SessionKey) -> String {
        k.0.to_string()
    }
}

/// Only a prefix: the key is a secret and must not end up whole in logs.
impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionKey({}…)", &self.0[..6])
    }
}

/// Only a prefix, as for `Debug`.
impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", &self.0[..6])
    }
}

/// One page instance (docs/protocol.md section 2.1 (URL)): 1-64 chars of
/// `[A-Za-z0-9_-]`, chosen by the client and kept in page memory, so a
/// reconnect of the same page reuses it and a duplicated or reloaded tab
/// gets a new one.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TabId(Arc<str>);

impl TabId {
    /// Maximum length in chars.
    pub const MAX_LEN: usize = 64;

    /// Parses a tab id.
    ///
    /// # Errors
    /// [`InvalidId`] when empty, longer than 64 chars, or a char is not in
    /// `[A-Za-z0-9_-]`.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        if (1..=Self::MAX_LEN).contains(&s.len()) && is_url_safe(s) {
            Ok(Self(Arc::from(s)))
        } else {
            Err(InvalidId {
                what: "tab_id",
                expected: "1-64 chars of [A-Za-z0-9_-]",
                len: s.len(),
            })
        }
    }

    /// A server-assigned id, for connections that did not send one.
    pub fn random() -> Self {
        Self(Arc::from(uuid::Uuid::new_v4().simple().to_string()))
    }

    /// The id as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TabId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<TabId> for String {
    fn from(t: TabId) -> String {
        t.0.to_string()
    }
}

impl fmt::Debug for TabId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TabId({})", self.0)
    }
}

impl fmt::Display for TabId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One lifetime of a session's seq numbering. A cursor `(epoch, seq)` is
/// only comparable with a session of the same epoch; a new epoch means
/// "resync by snapshot". Opaque string on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Epoch(Arc<str>);

impl Epoch {
    /// A fresh epoch (uuid v4, simple form).
    pub fn random() -> Self {
        Self(Arc::from(uuid::Uuid::new_v4().simple().to_string()))
    }

    /// Wraps an epoch received from a client or a store.
    pub fn new(s: &str) -> Self {
        Self(Arc::from(s))
    }

    /// The epoch as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id of one chained event (docs/protocol.md section 10 (chains)),
/// unique within a session.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChainId(Arc<str>);

impl ChainId {
    /// A fresh chain id (uuid v4, simple form).
    pub fn random() -> Self {
        Self(Arc::from(uuid::Uuid::new_v4().simple().to_string()))
    }

    /// Wraps a chain id received from a client.
    pub fn new(s: &str) -> Self {
        Self(Arc::from(s))
    }

    /// The id as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Process-unique id of one WebSocket connection. Two connections can carry
/// the same [`TabId`] (a reconnect); this tells them apart. Ids come from a
/// counter that only grows, so the larger id is the newer connection: the
/// order fences takeovers (docs/architecture.md invariant 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ConnId(pub(crate) u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_key_must_be_22_to_128_url_safe_chars() {
        assert!(SessionKey::parse(&"a".repeat(22)).is_ok());
        assert!(SessionKey::parse(&"a".repeat(128)).is_ok());
        assert!(SessionKey::parse(&"a".repeat(21)).is_err());
        assert!(SessionKey::parse(&"a".repeat(129)).is_err());
        assert!(SessionKey::parse("abcdefghijklmnopqrstu/").is_err());
        assert!(SessionKey::parse(SessionKey::random().as_str()).is_ok());
    }

    #[test]
    fn a_tab_id_must_be_1_to_64_url_safe_chars() {
        assert!(TabId::parse("a").is_ok());
        assert!(TabId::parse("").is_err());
        assert!(TabId::parse(&"a".repeat(65)).is_err());
        assert!(TabId::parse("tab 1").is_err());
    }

    #[test]
    fn a_session_key_never_prints_whole() {
        let key = SessionKey::parse("0123456789abcdefghijklmnop").unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{key:?} {key}").contains("abcdef"));
    }
}
