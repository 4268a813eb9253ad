//! [`Config`]: every limit and timeout of the protocol, typed.
//!
//! Defaults are PROTOCOL.md's. The `tabhub` binary exposes each field as a
//! flag and an environment variable (see [`crate::cli`]).

use std::time::Duration;

/// Limits and timeouts of a tabhub service. `Config::default()` is the
/// protocol's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// A connection from which no frame (pongs included) arrived for this
    /// long is closed with 1001. Default 60 s. Pings are sent every third of
    /// it, so a client that only answers pings stays connected.
    pub client_timeout: Duration,
    /// How long a session with no tab and no running task stays alive before
    /// it is saved and stopped. Default 120 s.
    pub grace: Duration,
    /// How long a tab may hold a chained event without re-submitting it
    /// before it is re-sent to the leader. Default 10 s.
    pub chain_timeout: Duration,
    /// How long an app handler (an event's, or `restart_task`) may run,
    /// awaits included, before it fails with `handler_error` and its
    /// changes are rolled back. Default 10 s.
    pub handler_timeout: Duration,
    /// Journal bound in deltas. Default 1,024.
    pub journal_len: usize,
    /// Journal bound in bytes of encoded delta payloads. Default 4 MiB.
    pub journal_max_bytes: usize,
    /// Largest accepted WebSocket message in bytes (a fragmented message as
    /// a whole); larger ones close the socket with 1009. Default 256 KiB.
    pub max_frame_bytes: usize,
    /// Events waiting in one session's queue before pushes get `queue_full`.
    /// Default 1,024.
    pub queue_len: usize,
    /// Token-bucket refill rate per tab, in `event` pushes per second; 0
    /// turns rate limiting off. Default 100.
    pub rate_events_per_sec: u32,
    /// Token-bucket size per tab (the burst), in events. Default 200.
    pub rate_burst: u32,
    /// Tabs (full joins) per session; more get `too_many_tabs`. Default 64.
    pub max_tabs_per_session: usize,
    /// Joins per connection; more get `too_many_joins`. Default 100.
    pub max_joins_per_connection: usize,
    /// Live sessions per service; joins that would start more get
    /// `capacity`. Default 100,000.
    pub max_sessions: usize,
    /// Outbound buffer per connection, in messages. On overflow the join
    /// being written gets `phx_error` (the client rejoins with its cursor).
    /// Default 1,024.
    pub outbound_max_messages: usize,
    /// Outbound buffer per connection, in bytes. Default 8 MiB.
    pub outbound_max_bytes: usize,
    /// Event ids (and chain ids) remembered per session for idempotent
    /// replies. Default 1,024.
    pub recent_events: usize,
    /// Legacy mode (PROTOCOL section 8): a new `tab_id` joining a session
    /// that already has a live tab gets `new_key` instead. Default off.
    pub new_key_on_duplicate: bool,
    /// Threads that run session actors; 0 means one per CPU core. Default 0.
    pub session_threads: usize,
    /// With a durable store: how long a group commit may wait for more
    /// steps after its first one, in microseconds; while a commit is being
    /// written the next batch gathers anyway. Default 200 µs.
    pub commit_window: Duration,
    /// How long a stopped session may stay idle (no tab joined, no call
    /// from server code) before the retention sweeper deletes it from the
    /// store; `None` keeps sessions forever. A join after expiry starts
    /// from the app's initial state in a new epoch. Default 30 days.
    pub session_ttl: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            client_timeout: Duration::from_secs(60),
            grace: Duration::from_secs(120),
            chain_timeout: Duration::from_secs(10),
            handler_timeout: Duration::from_secs(10),
            journal_len: 1024,
            journal_max_bytes: 4 * 1024 * 1024,
            max_frame_bytes: 256 * 1024,
            queue_len: 1024,
            rate_events_per_sec: 100,
            rate_burst: 200,
            max_tabs_per_session: 64,
            max_joins_per_connection: 100,
            max_sessions: 100_000,
            outbound_max_messages: 1024,
            outbound_max_bytes: 8 * 1024 * 1024,
            recent_events: 1024,
            new_key_on_duplicate: false,
            session_threads: 0,
            commit_window: Duration::from_micros(200),
            session_ttl: Some(Duration::from_secs(30 * 24 * 3600)),
        }
    }
}

impl Config {
    /// Interval between server pings: a third of the client timeout, so two
    /// pings can be lost before a live client is taken for dead.
    pub fn ping_interval(&self) -> Duration {
        (self.client_timeout / 3).max(Duration::from_millis(10))
    }

    /// Number of session threads to start (resolves 0 to the core count).
    pub fn session_thread_count(&self) -> usize {
        if self.session_threads > 0 {
            self.session_threads
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}
