//! [`Cli`]: the `tabhub` binary's settings. Each is a flag, an
//! environment variable and a key of the configuration file (`--grace` /
//! `TABHUB_GRACE` / `grace = "2m"`), declared once, here and in
//! `backend.rs`; [`Cli::load`] merges them (flags over the environment
//! over the file over the defaults, `load.rs`). Durations take their unit
//! (`10s`, `500ms`); the old `--*-ms` spellings still work
//! (`old_spellings.rs`). Booleans accept true/false/1/0 (and yes/no,
//! on/off). Beside the config: where to listen (`--bind`,
//! `--metrics-bind`), the store, the log format, the span export
//! (`--otlp-endpoint`), the demo page, and (in
//! `backend.rs`) the app proxy's backend and the server API.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::Parser;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

mod backend;
mod load;
mod old_spellings;
mod values;

pub use backend::BackendFlags;
pub use load::LoadError;
use values::{de, parse_allowed_origin, parse_duration, parse_trusted_proxy, ser};
pub use values::{CaFile, Durability, LogFormat, StoreKind, Ttl};

use crate::config::Config;
use crate::store::{
    MemoryStore, RedbOptions, RedbStore, RedisOptions, RedisStore, SessionStore, StoreError,
};

/// The settings of the `tabhub` service: flags, environment variables
/// and configuration file keys (the flag's long name without the dashes;
/// `docs/configuration.md`). Build it with [`Cli::load`].
#[derive(Debug, Clone, Parser, Serialize, Deserialize)]
#[command(
    name = "tabhub",
    version,
    about = "Many browser tabs, one server-side session."
)]
#[serde(rename_all = "kebab-case")]
pub struct Cli {
    /// Read settings from this TOML file (keys: the flags' names without
    /// the leading dashes); flags and variables win over it.
    #[arg(long, env = "TABHUB_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Print the effective settings (flags, variables, file and defaults
    /// merged) as TOML, secrets redacted, and exit.
    #[arg(long)]
    #[serde(skip)]
    pub print_config: bool,
    /// Address to listen on.
    #[arg(long, env = "TABHUB_BIND", default_value = "127.0.0.1:4000")]
    pub bind: String,
    /// Serve `GET /metrics` on this address only (say `127.0.0.1:9090`),
    /// not on `--bind`, so the metrics need not face the internet. None:
    /// `/metrics` is served on `--bind` with the other routes.
    #[arg(long, env = "TABHUB_METRICS_BIND")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_bind: Option<String>,
    /// Log format: `text` (human-readable) or `json` (one JSON object a
    /// line, with the span fields: `conn`, `tab`, the short session `key`).
    /// `RUST_LOG` chooses what is logged (default `info`).
    #[arg(long, env = "TABHUB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Export spans (joins, events, commits, backend calls) to this
    /// OpenTelemetry collector's OTLP/HTTP base URL
    /// (`http://127.0.0.1:4318`; they go to `URL/v1/traces`), and send the
    /// W3C `traceparent` header with every backend call. None: off, unless
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is set (docs/metrics.md, "Tracing").
    #[arg(long, env = "TABHUB_OTLP_ENDPOINT", value_name = "URL",
          value_parser = values::parse_otlp_endpoint)]
    #[serde(
        default,
        deserialize_with = "de::otlp_endpoint",
        skip_serializing_if = "Option::is_none"
    )]
    pub otlp_endpoint: Option<String>,
    /// Close a connection silent for this long, with 1001.
    #[arg(long, env = "TABHUB_CLIENT_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    #[serde(deserialize_with = "de::duration", serialize_with = "ser::duration")]
    pub client_timeout: Duration,
    /// Keep a session with no tab and no task this long before saving and stopping it.
    #[arg(long, env = "TABHUB_GRACE", default_value = "2m", value_parser = parse_duration)]
    #[serde(deserialize_with = "de::duration", serialize_with = "ser::duration")]
    pub grace: Duration,
    /// Re-send a chain to the leader if not re-submitted within this time.
    #[arg(long, env = "TABHUB_CHAIN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    #[serde(deserialize_with = "de::duration", serialize_with = "ser::duration")]
    pub chain_timeout: Duration,
    /// Fail an app handler still running after this long with `handler_error`; its changes are rolled back.
    #[arg(long, env = "TABHUB_HANDLER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    #[serde(deserialize_with = "de::duration", serialize_with = "ser::duration")]
    pub handler_timeout: Duration,
    /// Journal bound, in deltas.
    #[arg(long, env = "TABHUB_JOURNAL_LEN", default_value_t = 1024)]
    pub journal_len: usize,
    /// Journal bound, in bytes.
    #[arg(long, env = "TABHUB_JOURNAL_MAX_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub journal_max_bytes: usize,
    /// Bound on the journals of all live sessions together, in bytes (payloads plus 72 per delta); past it the largest journals lose their oldest deltas. 0 = unbounded.
    #[arg(long, env = "TABHUB_JOURNAL_TOTAL_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub journal_total_bytes: usize,
    /// Largest accepted WebSocket message, in bytes (1009 above).
    #[arg(long, env = "TABHUB_MAX_FRAME_BYTES", default_value_t = 256 * 1024)]
    pub max_frame_bytes: usize,
    /// Events waiting per session before `queue_full`.
    #[arg(long, env = "TABHUB_QUEUE_LEN", default_value_t = 1024)]
    pub queue_len: usize,
    /// Per-tab event rate (events/s); 0 = unlimited.
    #[arg(long, env = "TABHUB_RATE_EVENTS_PER_SEC", default_value_t = 100)]
    pub rate_events_per_sec: u32,
    /// Per-tab event burst (events).
    #[arg(long, env = "TABHUB_RATE_BURST", default_value_t = 200)]
    pub rate_burst: u32,
    /// Per-connection join rate (joins/s, rejoins included); 0 = unlimited.
    #[arg(long, env = "TABHUB_JOIN_RATE_PER_SEC", default_value_t = 10)]
    pub join_rate_per_sec: u32,
    /// Per-connection join burst (joins).
    #[arg(long, env = "TABHUB_JOIN_BURST", default_value_t = 100)]
    pub join_burst: u32,
    /// Tabs per session before `too_many_tabs`.
    #[arg(long, env = "TABHUB_MAX_TABS_PER_SESSION", default_value_t = 64)]
    pub max_tabs_per_session: usize,
    /// Joins per connection before `too_many_joins`.
    #[arg(long, env = "TABHUB_MAX_JOINS_PER_CONNECTION", default_value_t = 100)]
    pub max_joins_per_connection: usize,
    /// Live sessions before `capacity`.
    #[arg(long, env = "TABHUB_MAX_SESSIONS", default_value_t = 100_000)]
    pub max_sessions: usize,
    /// Outbound buffer per connection, in messages.
    #[arg(long, env = "TABHUB_OUTBOUND_MAX_MESSAGES", default_value_t = 1024)]
    pub outbound_max_messages: usize,
    /// Outbound buffer per connection, in bytes.
    #[arg(long, env = "TABHUB_OUTBOUND_MAX_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub outbound_max_bytes: usize,
    /// How long a client whose outbound buffer overflowed may take no
    /// write before it is closed with 1013.
    #[arg(long, env = "TABHUB_SLOW_CLIENT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    #[serde(deserialize_with = "de::duration", serialize_with = "ser::duration")]
    pub slow_client_timeout: Duration,
    /// Longest event id, event name, chain id or task key, in bytes.
    #[arg(long, env = "TABHUB_MAX_NAME_BYTES", default_value_t = 128)]
    pub max_name_bytes: usize,
    /// Most a join's app params may take as JSON, in bytes.
    #[arg(long, env = "TABHUB_MAX_JOIN_PARAMS_BYTES", default_value_t = 4096)]
    pub max_join_params_bytes: usize,
    /// How deep a client's payload may nest (1 to 120).
    #[arg(long, env = "TABHUB_MAX_JSON_DEPTH", default_value_t = 32,
          value_parser = values::parse_json_depth)]
    #[serde(deserialize_with = "de::json_depth")]
    pub max_json_depth: u16,
    /// Largest state a session keeps, in bytes of compact JSON; a change
    /// past it fails (`handler_error`, or the API's 422).
    #[arg(long, env = "TABHUB_MAX_STATE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_state_bytes: usize,
    /// Chains a session may hold waiting for a tab.
    #[arg(long, env = "TABHUB_MAX_PENDING_CHAINS", default_value_t = 1024)]
    pub max_pending_chains: usize,
    /// Event ids remembered per session for idempotent replies.
    #[arg(long, env = "TABHUB_RECENT_EVENTS", default_value_t = 1024)]
    pub recent_events: usize,
    /// Send a duplicated tab (new tab_id, live session) to a fresh key.
    #[arg(long, env = "TABHUB_NEW_KEY_ON_DUPLICATE", default_value_t = false,
          num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub new_key_on_duplicate: bool,
    /// Threads running sessions; 0 = one per core.
    #[arg(long, env = "TABHUB_SESSION_THREADS", default_value_t = 0)]
    pub session_threads: usize,
    /// Where sessions are kept: `redb` (on disk, under --data) or `memory`.
    #[arg(long, env = "TABHUB_STORE", value_enum, default_value_t = StoreKind::Redb)]
    pub store: StoreKind,
    /// Keep sessions in this Redis (`redis://host:port[/db]`) instead:
    /// several nodes sharing it serve the same sessions, each owned by one
    /// node at a time (docs/scale-out.md). Overrides `--store`.
    #[arg(long, env = "TABHUB_REDIS_URL", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// How long a node's ownership of a session lasts without renewal
    /// (renewed every third of it; at least 100ms): a node that dies gives
    /// its sessions up after at most this.
    #[arg(long, env = "TABHUB_REDIS_LEASE", default_value = "5s",
          value_parser = values::parse_lease)]
    #[serde(deserialize_with = "de::lease", serialize_with = "ser::duration")]
    pub redis_lease: Duration,
    /// Data directory of the redb store.
    #[arg(long, env = "TABHUB_DATA", default_value = "./tabhub-data")]
    pub data: std::path::PathBuf,
    /// Durability of the redb store: `strict` (a delta is sent, and an
    /// event acknowledged, only once it is on disk).
    #[arg(long, env = "TABHUB_DURABILITY", value_enum, default_value_t = Durability::Strict)]
    pub durability: Durability,
    /// Group commit window.
    #[arg(long, env = "TABHUB_COMMIT_WINDOW", default_value = "200us", value_parser = parse_duration)]
    #[serde(deserialize_with = "de::duration", serialize_with = "ser::duration")]
    pub commit_window: Duration,
    /// How long a stopped session may stay idle before it is deleted from
    /// the store: a duration such as `30d`, `12h`, `90s` or `500ms`; `0`
    /// keeps sessions forever.
    #[arg(long, env = "TABHUB_SESSION_TTL", default_value = "30d", value_parser = values::parse_ttl)]
    pub session_ttl: Ttl,
    /// An origin whose pages may open a socket (`https://app.example.com`),
    /// or `*` for any; repeat the flag, or separate with commas. None: the
    /// request's own host, or localhost.
    #[arg(long = "allowed-origin", env = "TABHUB_ALLOWED_ORIGIN", value_delimiter = ',',
          value_parser = parse_allowed_origin)]
    #[serde(deserialize_with = "de::origins")]
    pub allowed_origins: Vec<String>,
    /// Open WebSockets per peer IP address (IPv6: per /64); 0 = unlimited.
    #[arg(long, env = "TABHUB_MAX_CONNS_PER_IP", default_value_t = 256)]
    pub max_conns_per_ip: usize,
    /// A reverse proxy's network (`10.0.0.0/8`, or one address) whose
    /// `Forwarded` / `X-Forwarded-For` headers name the client, for the
    /// per-IP limit and the backend's peer; repeat, or separate with
    /// commas. None: every connection is its TCP peer.
    #[arg(long = "trusted-proxy", env = "TABHUB_TRUSTED_PROXY", value_delimiter = ',',
          value_parser = parse_trusted_proxy)]
    #[serde(deserialize_with = "de::proxies", serialize_with = "ser::proxies")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Do not serve the demo page (`/`, `/demo.js`, `/demo.css`); the
    /// client (`/tabhub.js`), the socket and the other routes stay.
    #[arg(long, env = "TABHUB_NO_DEMO", default_value_t = false,
          num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub no_demo: bool,
    /// Serve the demo without its presence list: its joins, leaves and
    /// visibility changes then make no delta (the demo as tests of the
    /// protocol's seqs use it).
    #[arg(long, env = "TABHUB_NO_DEMO_PRESENCE", default_value_t = false,
          num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub no_demo_presence: bool,
    /// The backend behind the app proxy, and the server API. In the file
    /// and `--print-config` its keys sit beside the others (read and
    /// written by `load.rs`, not as a table of their own).
    #[command(flatten)]
    #[serde(skip)]
    pub backend: BackendFlags,
}

impl Cli {
    /// The [`Config`] these flags describe.
    pub fn config(&self) -> Config {
        Config {
            client_timeout: self.client_timeout,
            grace: self.grace,
            chain_timeout: self.chain_timeout,
            handler_timeout: self.handler_timeout,
            journal_len: self.journal_len,
            journal_max_bytes: self.journal_max_bytes,
            journal_total_bytes: self.journal_total_bytes,
            max_frame_bytes: self.max_frame_bytes,
            queue_len: self.queue_len,
            rate_events_per_sec: self.rate_events_per_sec,
            rate_burst: self.rate_burst,
            join_rate_per_sec: self.join_rate_per_sec,
            join_burst: self.join_burst,
            max_tabs_per_session: self.max_tabs_per_session,
            max_joins_per_connection: self.max_joins_per_connection,
            max_sessions: self.max_sessions,
            outbound_max_messages: self.outbound_max_messages,
            outbound_max_bytes: self.outbound_max_bytes,
            slow_client_timeout: self.slow_client_timeout,
            max_name_bytes: self.max_name_bytes,
            max_join_params_bytes: self.max_join_params_bytes,
            max_json_depth: usize::from(self.max_json_depth),
            max_state_bytes: self.max_state_bytes,
            max_pending_chains: self.max_pending_chains,
            recent_events: self.recent_events,
            new_key_on_duplicate: self.new_key_on_duplicate,
            session_threads: self.session_threads,
            commit_window: self.commit_window,
            session_ttl: self.session_ttl.0,
            allowed_origins: self.allowed_origins.clone(),
            max_conns_per_ip: self.max_conns_per_ip,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }

    /// Opens the store these flags select: Redis with `--redis-url`, else
    /// `--store`.
    ///
    /// # Errors
    /// [`StoreError`] when the redb database cannot be opened or created,
    /// or Redis cannot be reached.
    pub fn open_store(&self) -> Result<Arc<dyn SessionStore>, StoreError> {
        if let Some(url) = &self.redis_url {
            let mut options = RedisOptions::new(url);
            options.lease = self.redis_lease;
            options.recent_events = self.recent_events;
            let store = RedisStore::open(options)?;
            tracing::info!(
                node = store.node(),
                lease = %humantime::format_duration(self.redis_lease),
                "sessions are kept in Redis"
            );
            return Ok(Arc::new(store));
        }
        match self.store {
            StoreKind::Memory => Ok(Arc::new(MemoryStore::new())),
            StoreKind::Redb => {
                let config = self.config();
                let store = RedbStore::open(RedbOptions {
                    path: self.data.join("tabhub.redb"),
                    recent_events: config.recent_events,
                })?;
                Ok(Arc::new(store))
            }
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod file_tests;
