//! The connection to Redis: one `redis` [`ConnectionManager`] (a
//! multiplexed connection that reconnects by itself, with backoff), driven
//! by a runtime thread of the store's own; the blocking bridge through
//! which store calls (made on the blocking pool or the commit thread) wait
//! for it; the scripts; and what Redis errors mean as [`StoreError`]s.

use std::fmt;
use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};

use super::stats::RedisStats;
use crate::store::{StoreCause, StoreError};

/// The store's Lua scripts (`lua/`); writes start with the lease check.
pub(super) struct Scripts {
    pub(super) acquire: Script,
    pub(super) release: Script,
    pub(super) renew: Script,
    pub(super) append: Script,
    pub(super) save: Script,
    pub(super) delete: Script,
    pub(super) touch: Script,
}

impl Scripts {
    fn new() -> Self {
        let owned = |body: &str| Script::new(&format!("{}\n{body}", include_str!("lua/owns.lua")));
        Self {
            acquire: Script::new(include_str!("lua/acquire.lua")),
            release: Script::new(include_str!("lua/release.lua")),
            renew: owned(include_str!("lua/renew.lua")),
            append: owned(include_str!("lua/append.lua")),
            save: owned(include_str!("lua/save.lua")),
            delete: owned(include_str!("lua/delete.lua")),
            touch: owned(include_str!("lua/touch.lua")),
        }
    }

    /// Loads the scripts the store sends by hash in pipelines (after a
    /// Redis restart its script cache is empty).
    pub(super) async fn load(&self, con: &mut ConnectionManager) -> Result<(), RedisError> {
        for script in [
            &self.append,
            &self.renew,
            &self.save,
            &self.delete,
            &self.touch,
        ] {
            script.load_async(con).await?;
        }
        Ok(())
    }
}

/// The connection and the thread that drives it.
pub(super) struct Io {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pub(super) con: ConnectionManager,
    /// For connections of their own (the node's subscription).
    pub(super) client: redis::Client,
    pub(super) scripts: std::sync::Arc<Scripts>,
    pub(super) stats: std::sync::Arc<RedisStats>,
}

impl Io {
    /// Connects to `url` (`redis://host:port/db`, or `rediss://` for TLS
    /// if the build has it); `timeout` bounds each connection attempt and
    /// each command's answer.
    ///
    /// Redis need not be up: the connection is made by the first call,
    /// and until one is answered the store reports Redis unreachable.
    ///
    /// # Errors
    /// [`StoreCause::Backend`] when the URL is malformed or the Redis
    /// thread cannot start.
    pub(super) fn connect(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tabhub-redis")
            .enable_all()
            .build()
            .map_err(|e| StoreError::backend(format_args!("starting the Redis thread: {e}")))?;
        let handle = runtime.handle().clone();
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::backend(format_args!("the Redis URL: {e}")))?;
        // A reconnect gives up after two quick retries (0.1 s, 0.2 s), so
        // calls fail fast while Redis is down; the next call (a lease
        // renewal or ping comes a third of the lease time apart) starts
        // another, so the node is back as soon as Redis is.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let scripts = std::sync::Arc::new(Scripts::new());
        let managed = client.clone();
        // Lazy: the first call connects, so a node starts while Redis is
        // down (unhealthy, see below) and serves once it is back.
        let con = wait(&handle, async move {
            ConnectionManager::new_lazy_with_config(managed, config)
                .map_err(|e| cause("the Redis connection", &e))
        })?;
        let io = Self {
            runtime: Some(runtime),
            handle,
            con,
            client,
            scripts,
            stats: std::sync::Arc::default(),
        };
        // Pipelines send scripts by hash; a script Redis does not know
        // (not loaded here, or Redis restarted) is loaded when a call
        // meets NOSCRIPT, so a failure here only means Redis is down now.
        let (loading, mut con) = (io.scripts.clone(), io.con.clone());
        let loaded = io.run(async move {
            loading
                .load(&mut con)
                .await
                .map_err(|e| cause("loading the scripts", &e))
        });
        if let Err(e) = loaded {
            tracing::warn!(
                error = %e,
                "Redis cannot be reached: the node starts unhealthy and serves once Redis answers"
            );
        }
        Ok(io)
    }

    /// Runs `call` (one round trip) on the Redis thread and waits for its
    /// result (the calling thread blocks; store calls run off the actor
    /// threads).
    pub(super) fn run<T, F>(&self, call: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let result = wait(&self.handle, call);
        self.stats.answered(&result);
        result
    }

    /// Runs `task` on the Redis thread until the store is dropped.
    pub(super) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.handle.spawn(task);
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        // Allowed on any thread, async or not: the runtime's tasks (the
        // lease renewal) stop, its thread ends by itself.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn wait<T, F>(handle: &tokio::runtime::Handle, call: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, StoreError>> + Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(call.await);
    });
    rx.recv().unwrap_or_else(|_| {
        Err(StoreError::backend(
            "the Redis call ended without an answer (it panicked, or the store is closing)",
        ))
    })
}

/// What a Redis error means for a store call about `what`: a refused
/// write of a node that no longer holds the lease ([`StoreCause::Fenced`]),
/// a batch that breaks the step contract ([`StoreCause::Invalid`]), or a
/// failure of Redis or the network ([`StoreCause::Backend`]).
pub(super) fn cause(what: impl fmt::Display, e: &RedisError) -> StoreError {
    let text = e.to_string();
    if let Some(rest) = after(&text, "FENCED") {
        return StoreError::new(StoreCause::Fenced(format!("{what}: {rest}")));
    }
    if let Some(rest) = after(&text, "INVALID") {
        return StoreError::invalid(format_args!("{what}: {rest}"));
    }
    StoreError::backend(format_args!("{what}: {text}"))
}

/// The text after `tag` in a script's error, if it carries it.
fn after<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    text.find(tag).map(|i| text[i + tag.len()..].trim())
}

/// Whether Redis lost the scripts (it restarted): load them and send again.
pub(super) fn no_script(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
}
