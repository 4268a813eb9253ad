//! [`ProxyConfig`]: where the backend is and how tabhub calls it.

use std::time::Duration;

use super::ExtraRoots;

/// Where the backend is and how tabhub calls it (`--app-*` flags).
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// The backend's base URL: calls go to `URL/event`, `URL/join`,
    /// `URL/initial_state`, `URL/cancel`.
    pub url: String,
    /// Deadline of one call, from waiting for a turn to the answer's last
    /// byte. Keep it under [`crate::Config::handler_timeout`].
    pub timeout: Duration,
    /// Calls in flight at once over every session, in each of two bounds:
    /// calls tabs cause (their events, joins) and calls server code causes
    /// (API events, loads, cancels). A session holds at most half of a
    /// bound's turns. Each thread's connection pool holds twice this.
    pub max_concurrency: usize,
    /// Largest answer accepted, in bytes.
    pub max_answer_bytes: usize,
    /// Upgrade request headers passed to `URL/join` and with each of the
    /// connection's events, lower-case names.
    pub forward_headers: Vec<String>,
    /// Whether `URL/join` and events get the connection's peer address.
    pub forward_peer: bool,
    /// Reverse proxies whose forwarded headers name the client
    /// (`Config::trusted_proxies`, `--trusted-proxy`): behind one, the
    /// forwarded peer is the client's address (no port) from them.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Whether `URL/event` and `URL/cancel` carry the state.
    pub send_state: bool,
    /// Sent as `Authorization: Bearer TOKEN` with every call.
    pub token: Option<String>,
    /// A backend task with no push for this long (no progress, no end)
    /// fails with "no word from the backend"; `None`: never.
    pub task_idle: Option<Duration>,
    /// Certificate authorities trusted for an `https://` URL besides
    /// Mozilla's roots (`--app-ca-file`).
    pub extra_roots: ExtraRoots,
    /// Whether tabs joining, leaving, and being shown or hidden are told
    /// to `URL/presence` (`--app-presence`). Off: joins make no call and
    /// no delta.
    pub presence: bool,
}

impl ProxyConfig {
    /// The defaults of the `--app-*` flags for a backend at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout: Duration::from_millis(5_000),
            max_concurrency: 64,
            max_answer_bytes: 8 * 1024 * 1024,
            forward_headers: Vec::new(),
            forward_peer: false,
            trusted_proxies: Vec::new(),
            send_state: true,
            token: None,
            task_idle: Some(Duration::from_millis(300_000)),
            extra_roots: ExtraRoots::default(),
            presence: false,
        }
    }
}
