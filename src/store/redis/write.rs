//! Writes: [`StepLog::append`] (each key's steps of a batch in one script
//! call, every key of the batch in one pipeline: one round trip), and the
//! whole-session save, delete and touch of [`SessionStore`]. Every script
//! first checks the lease (`lua/owns.lua`).
//!
//! [`StepLog::append`]: crate::store::StepLog::append
//! [`SessionStore`]: crate::store::SessionStore

use std::collections::HashMap;
use std::time::SystemTime;

use serde::Serialize;

use super::io::{cause, no_script};
use super::keys::{idle_index, task_index, SessionKeys};
use super::lease::Held;
use super::RedisStore;
use crate::ids::SessionKey;
use crate::store::{unix_ms, SavedSession, Step, StoreError};

/// A step as `lua/append.lua` reads it (absent fields are `None`: Lua's
/// JSON decoder turns `null` into a value that is not `nil`).
#[derive(Serialize)]
struct WireStep<'a> {
    seq: u64,
    epoch: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    first: Option<u64>,
    deltas: Vec<&'a str>,
    journal_from: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chain: Option<String>,
    chains_added: Vec<(&'a str, String)>,
    chains_removed: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    tasks_started: Vec<(&'a str, String)>,
    tasks_ended: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint: Option<String>,
}

/// A whole session as `lua/save.lua` reads it.
#[derive(Serialize)]
struct WireSession<'a> {
    seq: u64,
    epoch: &'a str,
    state: String,
    journal: Vec<&'a str>,
    recent: Vec<String>,
    recent_chains: Vec<String>,
    pending: Vec<(&'a str, String)>,
    tasks: Vec<(&'a str, String)>,
    summary: String,
}

/// `value` as JSON text.
fn json(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::invalid(format_args!("a record does not serialize: {e}")))
}

fn wire_step(step: &Step) -> Result<WireStep<'_>, StoreError> {
    let entry = |(id, outcome): &(String, _)| json(&(id, outcome));
    Ok(WireStep {
        seq: step.seq,
        epoch: step.epoch.as_str(),
        first: step.deltas.first().map(|d| d.seq),
        deltas: step.deltas.iter().map(|d| d.payload.get()).collect(),
        journal_from: step.journal_from,
        event: step.event.as_ref().map(entry).transpose()?,
        chain: step.chain.as_ref().map(entry).transpose()?,
        chains_added: step
            .chains_added
            .iter()
            .map(|c| Ok((c.chain.as_str(), json(c)?)))
            .collect::<Result<_, StoreError>>()?,
        chains_removed: step.chains_removed.iter().map(|c| c.as_str()).collect(),
        summary: step.summary.as_ref().map(json).transpose()?,
        tasks_started: step
            .tasks_started
            .iter()
            .map(|t| Ok((t.key.as_str(), json(t)?)))
            .collect::<Result<_, StoreError>>()?,
        tasks_ended: step.tasks_ended.iter().map(String::as_str).collect(),
        checkpoint: step.checkpoint.as_ref().map(json).transpose()?,
    })
}

impl RedisStore {
    /// Appends `steps`: per key, its steps in one script call that checks
    /// the lease and the contract before it writes anything; the calls of
    /// every key in one pipeline, with the activity index. A batch sent
    /// again after a lost answer is not applied twice (the script keeps
    /// the hash of the last batch it applied per key).
    pub(super) fn append_steps(&self, steps: &[Step]) -> Result<(), StoreError> {
        let mut order: Vec<&SessionKey> = Vec::new();
        let mut by_key: HashMap<&SessionKey, Vec<&Step>> = HashMap::new();
        for step in steps {
            step.check_deltas()?;
            by_key
                .entry(&step.key)
                .or_insert_with(|| {
                    order.push(&step.key);
                    Vec::new()
                })
                .push(step);
        }
        let now = unix_ms(SystemTime::now());
        let mut pipe = redis::pipe();
        let mut ended_tasks = Vec::new();
        for key in &order {
            let own = by_key.get(key).map(Vec::as_slice).unwrap_or_default();
            let held = self.owner.leases.required(key)?;
            let wire: Vec<WireStep<'_>> = own
                .iter()
                .map(|s| wire_step(s))
                .collect::<Result<_, _>>()
                .map_err(|e| e.for_key(key))?;
            let keys = SessionKeys::new(&self.options.prefix, key);
            self.invoke(&mut pipe, &self.io.scripts.append, &keys, &held)
                .arg(self.options.recent_events.max(1))
                .arg(json(&wire)?)
                .arg(now);
            let prefix = &self.options.prefix;
            on_index(&mut pipe, "ZADD", idle_index(prefix), Some(now), key);
            if own.iter().any(|s| !s.tasks_started.is_empty()) {
                on_index(&mut pipe, "SADD", task_index(prefix), None, key);
            }
            if own.iter().any(|s| !s.tasks_ended.is_empty()) {
                ended_tasks.push(*key);
            }
        }
        let what = format!("appending {} steps", steps.len());
        let tasks_left: Vec<i64> = self.send(pipe, &what, &order)?;
        self.io.stats.appended(steps.len());
        // A key whose last restartable task ended leaves the index (one more
        // round trip, only then).
        let done: Vec<&SessionKey> = order
            .iter()
            .zip(&tasks_left)
            .filter(|(k, left)| **left == 0 && ended_tasks.contains(k))
            .map(|(k, _)| *k)
            .collect();
        if !done.is_empty() {
            let mut pipe = redis::pipe();
            for key in done {
                on_index(
                    &mut pipe,
                    "SREM",
                    task_index(&self.options.prefix),
                    None,
                    key,
                );
            }
            self.send::<()>(pipe, "updating the task index", &[])?;
        }
        Ok(())
    }

    /// Replaces everything kept for `key` with `session` (the lease held).
    pub(super) fn save_session(
        &self,
        key: &SessionKey,
        session: &SavedSession,
    ) -> Result<(), StoreError> {
        let held = self.owner.leases.required(key)?;
        let entry = |(id, outcome): &(String, _)| json(&(id, outcome));
        let skip = |n: usize| n.saturating_sub(self.options.recent_events);
        let journal = match session.epoch {
            Some(_) => crate::store::gapless_tail(&session.journal, session.seq),
            None => &[],
        };
        let wire = WireSession {
            seq: session.seq,
            epoch: session.epoch.as_ref().map_or("", |e| e.as_str()),
            state: json(&session.state)?,
            journal: journal.iter().map(|d| d.payload.get()).collect(),
            recent: (session.recent.iter().skip(skip(session.recent.len())))
                .map(entry)
                .collect::<Result<_, _>>()?,
            recent_chains: (session.recent_chains.iter())
                .skip(skip(session.recent_chains.len()))
                .map(entry)
                .collect::<Result<_, _>>()?,
            pending: (session.pending_chains.iter())
                .map(|c| Ok((c.chain.as_str(), json(c)?)))
                .collect::<Result<_, StoreError>>()?,
            tasks: (session.tasks.iter())
                .map(|t| Ok((t.key.as_str(), json(t)?)))
                .collect::<Result<_, StoreError>>()?,
            summary: json(&session.summary)?,
        };
        let now = unix_ms(SystemTime::now());
        let keys = SessionKeys::new(&self.options.prefix, key);
        let mut pipe = redis::pipe();
        self.invoke(&mut pipe, &self.io.scripts.save, &keys, &held)
            .arg(self.options.recent_events.max(1))
            .arg(json(&wire)?)
            .arg(now);
        let prefix = &self.options.prefix;
        on_index(&mut pipe, "ZADD", idle_index(prefix), Some(now), key);
        let tasks = if session.tasks.is_empty() {
            "SREM"
        } else {
            "SADD"
        };
        on_index(&mut pipe, tasks, task_index(prefix), None, key);
        self.send::<i64>(pipe, &format!("saving {key}"), &[key])?;
        Ok(())
    }

    /// Deletes what is kept for `key` if it was last active before
    /// `cutoff_ms` (`None`: whatever its age), taking its lease first so a
    /// session live on another node is never deleted. Returns whether the
    /// key held a session and was deleted.
    pub(super) fn delete_key(
        &self,
        key: &SessionKey,
        cutoff_ms: Option<u64>,
    ) -> Result<bool, StoreError> {
        let held = self.owner.acquire(&self.io, key)?;
        let keys = SessionKeys::new(&self.options.prefix, key);
        let mut pipe = redis::pipe();
        let cutoff = cutoff_ms.map_or_else(|| "+inf".to_owned(), |ms| ms.to_string());
        self.invoke(&mut pipe, &self.io.scripts.delete, &keys, &held)
            .arg(cutoff)
            .arg(FENCE_KEPT_MS);
        let answer = self.send::<i64>(pipe, &format!("deleting {key}"), &[key]);
        let existed = match answer.as_deref() {
            // Deleted, and its lease with it.
            Ok([n, ..]) if *n >= 0 => {
                self.owner.leases.forget(key);
                *n == 1
            }
            // Active since the cutoff, or the call failed: the key stays,
            // and so does nobody's lease.
            _ => {
                self.owner.release(&self.io, key);
                return answer.map(|_| false);
            }
        };
        let mut pipe = redis::pipe();
        let prefix = &self.options.prefix;
        on_index(&mut pipe, "ZREM", idle_index(prefix), None, key);
        on_index(&mut pipe, "SREM", task_index(prefix), None, key);
        self.send::<()>(pipe, "updating the indexes", &[key])?;
        Ok(existed)
    }

    /// Stamps `key` as active now (its lease held).
    pub(super) fn touch_key(&self, key: &SessionKey) -> Result<(), StoreError> {
        let held = self.owner.leases.required(key)?;
        let keys = SessionKeys::new(&self.options.prefix, key);
        let now = unix_ms(SystemTime::now());
        let mut pipe = redis::pipe();
        self.invoke(&mut pipe, &self.io.scripts.touch, &keys, &held)
            .arg(now);
        on_index(
            &mut pipe,
            "ZADD",
            idle_index(&self.options.prefix),
            Some(now),
            key,
        );
        self.send::<i64>(pipe, &format!("stamping {key} active"), &[key])?;
        Ok(())
    }

    /// Adds a call of the write script `script` on `keys` to `pipe`, with
    /// the lease arguments every write script starts with; the caller adds
    /// the script's own arguments.
    fn invoke<'p>(
        &self,
        pipe: &'p mut redis::Pipeline,
        script: &redis::Script,
        keys: &SessionKeys,
        held: &Held,
    ) -> &'p mut redis::Pipeline {
        let all = keys.all();
        pipe.cmd("EVALSHA").arg(script.get_hash()).arg(all.len());
        for k in all {
            pipe.arg(k);
        }
        pipe.arg(&held.value)
            .arg(self.owner.lease.as_millis().to_string())
            .arg(&held.token)
    }

    /// Sends `pipe`; the answers of its scripts (the commands not ignored),
    /// in order. Scripts Redis lost (a restart) are loaded and the pipeline
    /// sent once more (a write already applied is not applied again). An
    /// error names the key of `keys` in the place it failed, if one.
    fn send<T: redis::FromRedisValue + Send + 'static>(
        &self,
        pipe: redis::Pipeline,
        what: &str,
        keys: &[&SessionKey],
    ) -> Result<Vec<T>, StoreError> {
        let mut con = self.io.con.clone();
        let scripts = self.io.scripts.clone();
        let what = what.to_owned();
        let answers = self.io.run(async move {
            let mut pipe = pipe;
            let mut tries = 0;
            loop {
                let answers: Vec<redis::RedisResult<T>> = pipe
                    .ignore_errors()
                    .query_async(&mut con)
                    .await
                    .map_err(|e| cause(&what, &e))?;
                tries += 1;
                if tries == 1 && answers.iter().any(|a| matches!(a, Err(e) if no_script(e))) {
                    scripts
                        .load(&mut con)
                        .await
                        .map_err(|e| cause("loading the scripts", &e))?;
                    continue;
                }
                return Ok(answers
                    .into_iter()
                    .map(|a| a.map_err(|e| cause(&what, &e)))
                    .collect::<Vec<_>>());
            }
        })?;
        let mut out = Vec::with_capacity(answers.len());
        for (i, answer) in answers.into_iter().enumerate() {
            match answer {
                Ok(v) => out.push(v),
                Err(e) => {
                    return Err(match keys.get(i) {
                        Some(key) => e.for_key(key),
                        None => e,
                    })
                }
            }
        }
        Ok(out)
    }
}

/// Adds `command` (`ZADD` with `score`, `ZREM`, `SADD`, `SREM`) of `key`
/// on the hub-wide `index` to `pipe`, its answer ignored.
fn on_index(
    pipe: &mut redis::Pipeline,
    command: &str,
    index: String,
    score: Option<u64>,
    key: &SessionKey,
) {
    pipe.cmd(command).arg(index);
    if let Some(score) = score {
        pipe.arg(score);
    }
    pipe.arg(key.as_str()).ignore();
}

/// How long a deleted key's fencing counter is kept (a day), so a key
/// started again soon after continues its tokens. Writes are checked
/// against the exact lease value, node id included, so a counter that
/// started over later could not let a stale writer in either.
const FENCE_KEPT_MS: u64 = 24 * 60 * 60 * 1000;
