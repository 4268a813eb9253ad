//! [`Config`]: every limit and timeout of the protocol, typed.
//!
//! The defaults are those of docs/protocol.md section 13 (limits). The
//! `tabhub` binary exposes each field as a flag and an environment variable
//! (see `tabhub::cli`, with the default feature `cli`).

use std::time::Duration;

/// Limits and timeouts of a tabhub service. `Config::default()` is the
/// protocol's defaults.
///
/// It gains fields as tabhub grows, so outside this crate it is built from
/// the defaults and adjusted field by field:
///
/// ```
/// use std::time::Duration;
/// let mut config = tabhub::Config::default();
/// config.grace = Duration::from_secs(60);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Bound on what the journals of all live sessions hold together, in
    /// bytes: each delta counts its payload plus 72 bytes for its entry.
    /// A delta that takes the total past it evicts the oldest deltas of
    /// the largest journals (all lowered to one level) until the total is
    /// at 7/8 of it; a cursor behind an evicted delta resumes by
    /// `snapshot`. 0 = unbounded. Default 1 GiB.
    pub journal_total_bytes: usize,
    /// Largest accepted WebSocket message in bytes (a fragmented message as
    /// a whole); larger ones close the socket with 1009. Default 256 KiB.
    pub max_frame_bytes: usize,
    /// Events waiting in one session's queue before pushes get `queue_full`.
    /// Default 1,024.
    pub queue_len: usize,
    /// Token-bucket refill rate per tab, in `event` and `visibility` pushes
    /// per second; 0 turns rate limiting off. Default 100.
    pub rate_events_per_sec: u32,
    /// Token-bucket size per tab (the burst), in events. Default 200.
    pub rate_burst: u32,
    /// Token-bucket refill rate per connection, in joins (`phx_join`
    /// frames, rejoins included) per second; a join with no token gets
    /// `rate_limited` and changes nothing. 0 turns it off. Default 10.
    pub join_rate_per_sec: u32,
    /// Token-bucket size per connection (the burst), in joins. Default
    /// 100, the default `max_joins_per_connection`: a client that
    /// reconnects and rejoins every topic it held at once is never
    /// refused; a client re-joining in a loop is held to the rate.
    pub join_burst: u32,
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
    /// How long a connection whose outbound buffer overflowed may go
    /// without the socket taking a single write before it is closed with
    /// 1013 (a client that stopped reading). Default 10 s.
    pub slow_client_timeout: Duration,
    /// The longest event id, event name, chain id or task key a client may
    /// send, in bytes (these are kept: recent ids, running tasks). Longer
    /// ones get `invalid_payload`. Default 128.
    pub max_name_bytes: usize,
    /// The most a join's app params may take, serialized as JSON, in bytes
    /// (they are kept for every rejoin's `authorize`). Default 4,096.
    pub max_join_params_bytes: usize,
    /// How deep a client's payload may nest (the payload object is level
    /// 1; at most 120). Deeper ones get `invalid_payload`. Default 32.
    pub max_json_depth: usize,
    /// The most a session's state may take serialized as compact JSON, in
    /// bytes. Checked after every change (an event's handler, a task's
    /// update, a change pushed by server code or a backend), before it is
    /// kept or sent: a change that would pass it fails as a whole (an
    /// event gets `handler_error`, the server API `422 invalid_change`)
    /// and nothing is kept. A pushed patch is checked operation by
    /// operation, so it cannot grow the state past it first. Default
    /// 4 MiB.
    pub max_state_bytes: usize,
    /// Chains a session may hold waiting for a tab to re-submit them. A
    /// handler that would create more fails with `handler_error` and
    /// changes nothing. Default 1,024.
    pub max_pending_chains: usize,
    /// Event ids (and chain ids) remembered per session for idempotent
    /// replies. Default 1,024.
    pub recent_events: usize,
    /// Legacy mode: a new `tab_id` joining a session that already has a
    /// live tab gets `new_key` instead (docs/protocol.md section 5.5 (join
    /// refusals)). Default off.
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
    /// Where a browser page may open a socket from, by the upgrade's
    /// `Origin` header: exact origins (`https://app.example.com`: scheme,
    /// host and port; a port left out is the scheme's default), or `*` for
    /// any origin. Empty (the default): a page from the request's own
    /// `Host`, or from `localhost` or a loopback address on any port. A
    /// request without `Origin` (not a browser) is always accepted; a
    /// refused one gets HTTP 403 before the upgrade. The rules in full:
    /// `docs/protocol.md`, section 2.3.
    pub allowed_origins: Vec<String>,
    /// Open WebSockets per peer IP address (IPv6: per /64 network); one
    /// more upgrade gets HTTP 429 until one of them closes. 0 = unlimited.
    /// Behind a reverse proxy every connection has the proxy's address.
    /// Default 256.
    pub max_conns_per_ip: usize,
    /// Reverse proxies whose `Forwarded` (RFC 7239) or `X-Forwarded-For`
    /// headers name the client: a connection from one of these networks is
    /// counted by `max_conns_per_ip`, and reported to an app proxy's
    /// backend (`--app-forward-peer`), by the nearest forwarded address
    /// that is not itself a trusted proxy. Headers from any other peer are
    /// ignored. Default: none (every connection is its TCP peer).
    pub trusted_proxies: Vec<ipnet::IpNet>,
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
            journal_total_bytes: 1024 * 1024 * 1024,
            max_frame_bytes: 256 * 1024,
            queue_len: 1024,
            rate_events_per_sec: 100,
            rate_burst: 200,
            join_rate_per_sec: 10,
            join_burst: 100,
            max_tabs_per_session: 64,
            max_joins_per_connection: 100,
            max_sessions: 100_000,
            outbound_max_messages: 1024,
            outbound_max_bytes: 8 * 1024 * 1024,
            slow_client_timeout: Duration::from_secs(10),
            max_name_bytes: 128,
            max_join_params_bytes: 4096,
            max_json_depth: 32,
            max_state_bytes: 4 * 1024 * 1024,
            max_pending_chains: 1024,
            recent_events: 1024,
            new_key_on_duplicate: false,
            session_threads: 0,
            commit_window: Duration::from_micros(200),
            session_ttl: Some(Duration::from_secs(30 * 24 * 3600)),
            allowed_origins: Vec::new(),
            max_conns_per_ip: 256,
            trusted_proxies: Vec::new(),
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
