//! Reads: a key's checkpoint and deltas ([`StepLog::load_steps`], in one
//! transaction), its summary, and the hub-wide indexes (idle keys, keys
//! with tasks). Reads take no lease: loading a session takes it first
//! (`mod.rs`).
//!
//! [`StepLog::load_steps`]: crate::store::StepLog::load_steps

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;

use super::io::cause;
use super::keys::{idle_index, task_index, SessionKeys};
use super::RedisStore;
use crate::ids::{Epoch, SessionKey};
use crate::store::{
    LoggedSession, Outcome, SavedChain, SavedDelta, SavedTask, StoreCause, StoreError,
};

/// What one read of a key returns, in the order it is asked.
type Records = (
    HashMap<String, String>,
    Option<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    HashMap<String, String>,
    Vec<String>,
);

fn decode<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::corrupt(format_args!("the {what} does not decode: {e}")))
}

fn number(meta: &HashMap<String, String>, field: &str) -> Result<u64, StoreError> {
    let text = meta
        .get(field)
        .ok_or_else(|| StoreError::corrupt(format_args!("the meta has no {field}")))?;
    text.parse()
        .map_err(|e| StoreError::corrupt(format_args!("the meta's {field} {text:?}: {e}")))
}

impl RedisStore {
    /// Reads what is kept for `key`; `None` if nothing is.
    pub(super) fn read_steps(&self, key: &SessionKey) -> Result<Option<LoggedSession>, StoreError> {
        let keys = SessionKeys::new(&self.options.prefix, key);
        let mut con = self.io.con.clone();
        let records: Records = self
            .io
            .run(async move {
                redis::pipe()
                    .atomic()
                    .hgetall(&keys.meta)
                    .get(&keys.checkpoint)
                    .lrange(&keys.deltas, 0, -1)
                    .lrange(&keys.events, 0, -1)
                    .lrange(&keys.chains, 0, -1)
                    .lrange(&keys.order, 0, -1)
                    .hgetall(&keys.pending)
                    .hvals(&keys.tasks)
                    .query_async(&mut con)
                    .await
                    .map_err(|e| cause("reading the session", &e))
            })
            .map_err(|e| e.for_key(key))?;
        logged(records).map_err(|e| e.for_key(key))
    }

    /// The summary kept for `key` (`None` for a key never saved).
    pub(super) fn read_summary(&self, key: &SessionKey) -> Result<Option<Value>, StoreError> {
        let meta = SessionKeys::new(&self.options.prefix, key).meta;
        let mut con = self.io.con.clone();
        let answer: (bool, Option<String>) = self
            .io
            .run(async move {
                redis::pipe()
                    .exists(&meta)
                    .hget(&meta, "summary")
                    .query_async(&mut con)
                    .await
                    .map_err(|e| cause("reading the summary", &e))
            })
            .map_err(|e| e.for_key(key))?;
        match answer {
            (false, _) => Ok(None),
            (true, None) => Ok(Some(Value::Null)),
            (true, Some(text)) => decode("summary", &text).map(Some),
        }
    }

    /// The keys in the hub-wide `index` command's answer (`ZRANGEBYSCORE`
    /// or `SMEMBERS`), parsed; a member that is no session key is skipped.
    fn keys_of(
        &self,
        command: redis::Cmd,
        what: &'static str,
    ) -> Result<Vec<SessionKey>, StoreError> {
        let mut con = self.io.con.clone();
        let members: Vec<String> = self.io.run(async move {
            command
                .query_async(&mut con)
                .await
                .map_err(|e| cause(what, &e))
        })?;
        Ok(members
            .iter()
            .filter_map(|m| match SessionKey::parse(m) {
                Ok(key) => Some(key),
                Err(e) => {
                    tracing::warn!(error = %e, "an index of the Redis store holds a member that is no session key");
                    None
                }
            })
            .collect())
    }

    /// The rows `offset..offset + limit` of the activity index, newest
    /// first, each with its score (ms since the Unix epoch).
    pub(super) fn recent_keys(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(SessionKey, u64)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let what = "listing recent sessions";
        let mut command = redis::cmd("ZREVRANGE");
        command
            .arg(idle_index(&self.options.prefix))
            .arg(offset)
            .arg(offset.saturating_add(limit - 1))
            .arg("WITHSCORES");
        let mut con = self.io.con.clone();
        let rows: Vec<(String, f64)> = self.io.run(async move {
            command
                .query_async(&mut con)
                .await
                .map_err(|e| cause(what, &e))
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(member, score)| match SessionKey::parse(&member) {
                // Scores are whole ms, far below 2^53: exact in an f64.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(key) => Some((key, score.max(0.0) as u64)),
                Err(e) => {
                    tracing::warn!(error = %e, "an index of the Redis store holds a member that is no session key");
                    None
                }
            })
            .collect())
    }

    /// Keys last active before `cutoff_ms`, oldest first, at most `limit`.
    pub(super) fn idle_keys(
        &self,
        cutoff_ms: u64,
        limit: usize,
    ) -> Result<Vec<SessionKey>, StoreError> {
        let mut command = redis::cmd("ZRANGEBYSCORE");
        command
            .arg(idle_index(&self.options.prefix))
            .arg("-inf")
            .arg(format!("({cutoff_ms}"))
            .arg("LIMIT")
            .arg(0)
            .arg(limit);
        self.keys_of(command, "listing idle sessions")
    }

    /// Keys saved with restartable tasks running.
    /// Keys with restartable tasks that no node owns now and that were
    /// not given up on purpose: their owner died (or never stopped them),
    /// so their tasks should go on somewhere.
    pub(super) fn keys_with_tasks(&self) -> Result<Vec<SessionKey>, StoreError> {
        let mut command = redis::cmd("SMEMBERS");
        command.arg(task_index(&self.options.prefix));
        let keys = self.keys_of(command, "listing sessions with tasks")?;
        if keys.is_empty() {
            return Ok(keys);
        }
        let mut pipe = redis::pipe();
        for key in &keys {
            let keys = super::keys::SessionKeys::new(&self.options.prefix, key);
            pipe.cmd("EXISTS").arg(&keys.lease).arg(&keys.released);
        }
        let mut con = self.io.con.clone();
        let owned_or_released: Vec<u8> = self.io.run(async move {
            pipe.query_async(&mut con)
                .await
                .map_err(|e| cause("asking which sessions with tasks are owned", &e))
        })?;
        Ok(keys
            .into_iter()
            .zip(owned_or_released)
            .filter_map(|(key, found)| (found == 0).then_some(key))
            .collect())
    }
}

/// The [`LoggedSession`] of a key's records; `None` without a meta.
fn logged(records: Records) -> Result<Option<LoggedSession>, StoreError> {
    let (meta, checkpoint, deltas, events, chains, order, pending, tasks) = records;
    if meta.is_empty() {
        return Ok(None);
    }
    let seq = number(&meta, "seq")?;
    let epoch = match meta.get("epoch").map(String::as_str) {
        None | Some("") => None,
        Some(e) => Some(Epoch::new(e)),
    };
    let checkpoint = checkpoint
        .ok_or_else(|| StoreError::new(StoreCause::Corrupt("the checkpoint is missing".into())))?;
    let mut s = LoggedSession::new(seq, epoch, decode("checkpoint", &checkpoint)?);
    s.checkpoint_seq = number(&meta, "cp_seq")?;
    s.journal_from = number(&meta, "journal_from")?;
    let first = (seq + 1).saturating_sub(deltas.len() as u64);
    s.deltas = deltas
        .into_iter()
        .zip(first..)
        .map(|(text, seq)| {
            let payload: Arc<RawValue> = Arc::from(
                RawValue::from_string(text)
                    .map_err(|e| StoreError::corrupt(format_args!("delta {seq}: {e}")))?,
            );
            Ok(SavedDelta { seq, payload })
        })
        .collect::<Result<_, StoreError>>()?;
    let entries = |list: Vec<String>, what: &str| -> Result<Vec<(String, Outcome)>, StoreError> {
        list.iter().map(|e| decode(what, e)).collect()
    };
    s.recent = entries(events, "recent event id")?;
    s.recent_chains = entries(chains, "recent chain id")?;
    s.pending_chains = order
        .iter()
        .filter_map(|id| pending.get(id))
        .map(|text| decode::<SavedChain>("pending chain", text))
        .collect::<Result<_, _>>()?;
    s.summary = match meta.get("summary") {
        Some(text) => decode("summary", text)?,
        None => Value::Null,
    };
    s.tasks = tasks
        .iter()
        .map(|text| decode::<SavedTask>("task", text))
        .collect::<Result<_, _>>()?;
    Ok(Some(s))
}
