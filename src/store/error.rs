//! [`StoreError`]: what failed in a store call, for which session, and
//! why ([`StoreCause`]); and [`blocking`], the one way tabhub runs a store
//! call off the actor threads.

use std::fmt;
use std::future::Future;

use crate::ids::SessionKey;

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreCause {
    /// The storage failed: an I/O error, the database or the network (a
    /// full disk, a refused commit). Trying again later may succeed.
    Backend(String),
    /// What the store keeps does not read back as it should: a record does
    /// not decode, a delta is missing, a checkpoint is at another seq.
    Corrupt(String),
    /// The call breaks the store's contract: a step that does not follow
    /// the key's saved seq and carries no checkpoint, say, or a step of a
    /// session whose earlier step failed.
    Invalid(String),
    /// This store cannot do what was asked (deleting, with a store that
    /// keeps every session).
    Unsupported(String),
    /// The app's code around the call failed: it gave no initial state, or
    /// its saved state does not decode as the app's state type.
    App(String),
    /// The store call panicked (the panic's message).
    Panicked(String),
    /// The commit thread has stopped (the hub is shutting down).
    Stopped,
    /// This node does not own the session (a shared store such as
    /// [`super::RedisStore`]): another node holds its lease, or took it
    /// over after this node's lease ran out, so this node's writes are
    /// refused (the fencing token; docs/scale-out.md).
    Fenced(String),
}

impl fmt::Display for StoreCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Backend(why) => write!(f, "the storage failed: {why}"),
            Self::Corrupt(why) => write!(f, "a kept record is corrupt: {why}"),
            Self::Invalid(why) => write!(f, "the call breaks the store's contract: {why}"),
            Self::Unsupported(why) => write!(f, "this store cannot do that: {why}"),
            Self::App(why) => write!(f, "the app failed: {why}"),
            Self::Panicked(why) => write!(f, "the store call panicked: {why}"),
            Self::Stopped => f.write_str("the commit thread has stopped"),
            Self::Fenced(why) => write!(f, "this node does not own the session: {why}"),
        }
    }
}

/// A store failure: the session it concerns (if one) and its cause.
///
/// `Display` is one sentence naming the key by its short form (a key is a
/// bearer secret: [`SessionKey`]'s `Display` and `Debug` show only its
/// first characters), e.g. `store error for session 3fA9x_…: the storage
/// failed: appending 2 steps: commit: No space left on device`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreError {
    /// The session the call concerned; `None` for calls about no single
    /// session (opening the store, listing keys, a batch of many keys).
    pub key: Option<SessionKey>,
    /// Why it failed.
    pub cause: StoreCause,
}

impl StoreError {
    /// An error with `cause`, about no session yet (see
    /// [`StoreError::for_key`]).
    pub fn new(cause: StoreCause) -> Self {
        Self { key: None, cause }
    }

    /// The storage failed ([`StoreCause::Backend`]).
    pub fn backend(why: impl fmt::Display) -> Self {
        Self::new(StoreCause::Backend(why.to_string()))
    }

    /// A kept record is corrupt ([`StoreCause::Corrupt`]).
    pub fn corrupt(why: impl fmt::Display) -> Self {
        Self::new(StoreCause::Corrupt(why.to_string()))
    }

    /// The call breaks the store's contract ([`StoreCause::Invalid`]).
    pub fn invalid(why: impl fmt::Display) -> Self {
        Self::new(StoreCause::Invalid(why.to_string()))
    }

    /// The store cannot do this ([`StoreCause::Unsupported`]).
    pub fn unsupported(why: impl fmt::Display) -> Self {
        Self::new(StoreCause::Unsupported(why.to_string()))
    }

    /// The error about `key`, unless it already names a session.
    #[must_use]
    pub fn for_key(mut self, key: &SessionKey) -> Self {
        if self.key.is_none() {
            self.key = Some(key.clone());
        }
        self
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "store error for session {key}: {}", self.cause),
            None => write!(f, "store error: {}", self.cause),
        }
    }
}

impl std::error::Error for StoreError {}

/// Runs a store call on the blocking pool, so no actor thread waits for
/// the store; a panic in it becomes a [`StoreError`] about `key` (if any)
/// with [`StoreCause::Panicked`]. Every store call tabhub makes but the
/// commit thread's goes through here.
pub(crate) fn blocking<T: Send + 'static>(
    key: Option<&SessionKey>,
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> impl Future<Output = Result<T, StoreError>> + 'static {
    let key = key.cloned();
    async move {
        actix_rt::task::spawn_blocking(call)
            .await
            .unwrap_or_else(|e| {
                let error = StoreError::new(StoreCause::Panicked(e.to_string()));
                Err(match &key {
                    Some(key) => error.for_key(key),
                    None => error,
                })
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_store_error_names_the_key_by_its_short_form_and_says_why() {
        let key = SessionKey::random();
        let error = StoreError::backend("commit: disk full").for_key(&key);
        let text = error.to_string();
        assert_eq!(
            text,
            format!("store error for session {key}: the storage failed: commit: disk full")
        );
        assert!(!text.contains(key.as_str()), "never the whole key: {text}");
        assert_eq!(
            StoreError::new(StoreCause::Stopped).to_string(),
            "store error: the commit thread has stopped"
        );
    }

    #[actix_rt::test]
    async fn a_panicking_store_call_is_an_error_with_the_cause_panicked() {
        let key = SessionKey::random();
        let got: Result<(), StoreError> = blocking(Some(&key), || panic!("boom")).await;
        let error = got.unwrap_err();
        assert_eq!(error.key, Some(key));
        assert!(matches!(error.cause, StoreCause::Panicked(_)), "{error}");
    }
}
