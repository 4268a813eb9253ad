//! [`BackendFlags`]: the app proxy's backend (`--app-*`) and the server
//! API (`--api-*`); `docs/app-proxy.md` describes both.

use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use super::values::{de, parse_app_timeout, parse_ca_file, parse_concurrency, parse_duration, ser};
use super::CaFile;
use crate::proxy::ProxyConfig;

/// Settings of the app proxy and the server API: flags, variables and
/// file keys, as [`super::Cli`]'s.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BackendFlags {
    /// Serve the app whose logic is behind this URL (the app proxy):
    /// calls go to `URL/event`, `URL/join`, `URL/initial_state` and
    /// `URL/cancel`. None: the built-in demo app.
    #[arg(long, env = "TABHUB_APP_URL", value_parser = parse_app_url)]
    #[serde(
        default,
        deserialize_with = "de::app_url",
        skip_serializing_if = "Option::is_none"
    )]
    pub app_url: Option<String>,
    /// Deadline of one backend call (at least 1ms), from waiting for a
    /// turn to the answer's last byte; an event whose call misses it fails
    /// with `backend_timeout`.
    #[arg(long, env = "TABHUB_APP_TIMEOUT", default_value = "5s",
          value_parser = parse_app_timeout)]
    #[serde(deserialize_with = "de::app_timeout", serialize_with = "ser::duration")]
    pub app_timeout: Duration,
    /// Backend calls in flight at once, over every session, in each of two
    /// bounds (calls tabs cause; calls the server API, loads and cancels
    /// cause); more wait for a turn (within their deadline), shared fairly
    /// by session.
    #[arg(long, env = "TABHUB_APP_MAX_CONCURRENCY", default_value_t = 64,
          value_parser = parse_concurrency)]
    #[serde(deserialize_with = "de::concurrency")]
    pub app_max_concurrency: u64,
    /// Largest backend answer accepted, in bytes.
    #[arg(long, env = "TABHUB_APP_MAX_ANSWER_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub app_max_answer_bytes: usize,
    /// An upgrade request header passed to `URL/join` and with each of the
    /// connection's events (repeat the flag, or separate with commas):
    /// `Cookie`, `Authorization`.
    #[arg(
        long = "app-forward-header",
        env = "TABHUB_APP_FORWARD_HEADER",
        value_delimiter = ','
    )]
    pub app_forward_headers: Vec<String>,
    /// Pass the connection's peer address (`ip:port`) likewise.
    #[arg(long, env = "TABHUB_APP_FORWARD_PEER", default_value_t = false)]
    pub app_forward_peer: bool,
    /// Leave the state out of `URL/event` and `URL/cancel` calls (the
    /// backend answers with patches, or keeps its own copy).
    #[arg(long, env = "TABHUB_APP_NO_STATE", default_value_t = false)]
    pub app_no_state: bool,
    /// Sent to the backend as `Authorization: Bearer TOKEN` with every
    /// call, so it can tell tabhub's calls from others.
    #[arg(long, env = "TABHUB_APP_TOKEN", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_token: Option<String>,
    /// A PEM file of certificate authorities trusted for an `https://`
    /// backend besides Mozilla's roots (a private CA, or the backend's
    /// self-signed certificate). Read at start-up: a missing file, or one
    /// with no valid certificate, stops tabhub with the reason.
    #[arg(long, env = "TABHUB_APP_CA_FILE", value_name = "PATH", value_parser = parse_ca_file)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_ca_file: Option<CaFile>,
    /// Fail a backend task with no push for this long (no progress
    /// through `POST .../state` with `"task"`, no end), so a backend that
    /// crashed mid-job does not keep its session alive; 0 = never.
    #[arg(long, env = "TABHUB_APP_TASK_IDLE", default_value = "5m", value_parser = parse_duration)]
    #[serde(deserialize_with = "de::duration", serialize_with = "ser::duration")]
    pub app_task_idle: Duration,
    /// Tell the backend when a tab joins, leaves, or is shown or hidden
    /// (`POST URL/presence`, answered like a cancel: a new state or patch,
    /// effects, a summary), so it can show who is here.
    #[arg(long, env = "TABHUB_APP_PRESENCE", default_value_t = false,
          num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub app_presence: bool,
    /// Enables the server API: requests must carry `Authorization: Bearer
    /// TOKEN`. None: the API is not served.
    #[arg(long, env = "TABHUB_API_TOKEN", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_token: Option<String>,
    /// Where the server API is mounted.
    #[arg(long, env = "TABHUB_API_PREFIX", default_value = "/api", value_parser = parse_prefix)]
    #[serde(deserialize_with = "de::api_prefix")]
    pub api_prefix: String,
    /// Do not serve the read-only admin page (`/admin`) beside the server
    /// API. The page holds no data (it asks for the API token), so this
    /// only hides that it exists.
    #[arg(long, env = "TABHUB_NO_ADMIN", default_value_t = false,
          num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub no_admin: bool,
}

impl BackendFlags {
    /// The app proxy's configuration, with `--app-url`.
    pub fn proxy(&self) -> Option<ProxyConfig> {
        let url = self.app_url.clone()?;
        let mut config = ProxyConfig::new(url);
        config.timeout = self.app_timeout;
        config.max_concurrency = usize::try_from(self.app_max_concurrency).unwrap_or(64);
        config.max_answer_bytes = self.app_max_answer_bytes;
        config.forward_headers = self
            .app_forward_headers
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        config.forward_peer = self.app_forward_peer;
        config.send_state = !self.app_no_state;
        config.token = self.app_token.clone();
        config.extra_roots = self
            .app_ca_file
            .as_ref()
            .map(|file| file.roots.clone())
            .unwrap_or_default();
        config.task_idle = (!self.app_task_idle.is_zero()).then_some(self.app_task_idle);
        config.presence = self.app_presence;
        Some(config)
    }
}

impl Default for BackendFlags {
    /// The settings with no flag, variable or file: the flags' defaults.
    fn default() -> Self {
        super::load::defaults().backend
    }
}

/// An `--app-url`: absolute `http` or `https`, with a host.
pub(super) fn parse_app_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text.trim())
        .map_err(|e| format!("{e}: give a URL such as http://127.0.0.1:8000/tabhub"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("the backend's URL must be http:// or https:// with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(
            "the backend's URL takes no query or fragment: calls append /event, /join, ...".into(),
        );
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// An `--api-prefix`: starts with `/`, no trailing `/` (but `/` alone).
pub(super) fn parse_prefix(text: &str) -> Result<String, String> {
    let text = text.trim();
    if !text.starts_with('/') {
        return Err("the API prefix starts with /, e.g. /api".into());
    }
    Ok(match text.trim_end_matches('/') {
        "" => "/".to_owned(),
        trimmed => trimmed.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;

    fn parse(args: &[&str]) -> Result<Cli, crate::cli::LoadError> {
        Cli::load_from(std::iter::once("tabhub").chain(args.iter().copied()))
    }

    #[test]
    fn without_an_app_url_there_is_no_proxy_and_no_api() {
        let cli = parse(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(cli.backend.proxy().is_none());
        assert_eq!(cli.backend.api_token, None);
        assert_eq!(cli.backend.api_prefix, "/api");
    }

    #[test]
    fn the_app_flags_make_the_proxy_config() {
        let cli = parse(&[
            "--app-url",
            "http://127.0.0.1:8000/tabhub/",
            "--app-timeout-ms",
            "250",
            "--app-forward-header",
            "Cookie,Authorization",
            "--app-forward-peer",
            "--app-no-state",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let proxy = cli
            .backend
            .proxy()
            .unwrap_or_else(|| panic!("a proxy config"));
        assert_eq!(proxy.url, "http://127.0.0.1:8000/tabhub");
        assert_eq!(proxy.timeout, Duration::from_millis(250));
        assert_eq!(proxy.forward_headers, ["cookie", "authorization"]);
        assert!(proxy.forward_peer);
        assert!(!proxy.send_state);
        assert_eq!(proxy.task_idle, Some(Duration::from_secs(300)));
        let never = parse(&["--app-url", "http://h/x", "--app-task-idle-ms", "0"])
            .unwrap_or_else(|e| panic!("{e}"));
        let never = never
            .backend
            .proxy()
            .unwrap_or_else(|| panic!("a proxy config"));
        assert_eq!(never.task_idle, None);
    }

    #[test]
    fn a_bad_app_url_or_prefix_is_refused_with_a_reason() {
        for url in ["ftp://x/y", "127.0.0.1:8000", "http://h/p?q=1"] {
            let e = parse(&["--app-url", url])
                .err()
                .unwrap_or_else(|| panic!("{url} accepted"));
            assert!(e.to_string().contains("URL"), "{url}: {e}");
        }
        assert!(parse(&["--api-prefix", "api"]).is_err());
        assert!(parse(&["--app-timeout-ms", "0"]).is_err());
    }

    #[test]
    fn a_missing_or_certificateless_ca_file_is_refused_naming_the_file() {
        let missing = std::env::temp_dir().join("tabhub-no-such-ca-file.pem");
        let e = parse(&["--app-ca-file", &missing.to_string_lossy()])
            .err()
            .unwrap_or_else(|| panic!("a missing CA file accepted"));
        assert!(e.to_string().contains("tabhub-no-such-ca-file.pem"), "{e}");
        let not_pem =
            std::env::temp_dir().join(format!("tabhub-not-pem-{}.pem", std::process::id()));
        std::fs::write(&not_pem, "not a certificate\n").unwrap_or_else(|e| panic!("{e}"));
        let e = parse(&["--app-ca-file", &not_pem.to_string_lossy()])
            .err()
            .unwrap_or_else(|| panic!("a file with no certificate accepted"));
        let _ = std::fs::remove_file(&not_pem);
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
    }
}
