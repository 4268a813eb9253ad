//! The flags as the binary parses them: defaults, every flag into
//! `Config`, and refusals.

use super::*;

fn parse(args: &[&str]) -> Cli {
    Cli::load_from(std::iter::once("tabhub").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn no_flags_give_the_protocol_defaults() {
    // Run without TABHUB_* variables set in the test environment.
    if std::env::vars().any(|(k, _)| k.starts_with("TABHUB_")) {
        panic!("unset TABHUB_* variables to run this test");
    }
    assert_eq!(parse(&[]).config(), Config::default());
}

#[test]
fn flags_set_every_limit_with_units() {
    let cli = parse(&[
        "--client-timeout-ms",
        "500",
        "--grace-ms",
        "10",
        "--chain-timeout-ms",
        "20",
        "--handler-timeout-ms",
        "30",
        "--journal-len",
        "3",
        "--journal-total-bytes",
        "65536",
        "--queue-len",
        "4",
        "--max-frame-bytes",
        "99",
        "--max-tabs-per-session",
        "2",
        "--rate-events-per-sec",
        "7",
        "--rate-burst",
        "8",
        "--join-rate-per-sec",
        "5",
        "--join-burst",
        "6",
    ]);
    let c = cli.config();
    assert_eq!(c.client_timeout, Duration::from_millis(500));
    assert_eq!(c.grace, Duration::from_millis(10));
    assert_eq!(c.chain_timeout, Duration::from_millis(20));
    assert_eq!(c.handler_timeout, Duration::from_millis(30));
    assert_eq!((c.journal_len, c.queue_len, c.max_frame_bytes), (3, 4, 99));
    assert_eq!(c.journal_total_bytes, 65536);
    assert_eq!(
        (c.max_tabs_per_session, c.rate_events_per_sec, c.rate_burst),
        (2, 7, 8)
    );
    assert_eq!((c.join_rate_per_sec, c.join_burst), (5, 6));
}

#[test]
fn session_ttl_takes_a_duration_with_units_and_0_keeps_forever() {
    let day = Duration::from_secs(24 * 3600);
    assert_eq!(parse(&[]).config().session_ttl, Some(30 * day));
    assert_eq!(
        parse(&["--session-ttl", "7d"]).config().session_ttl,
        Some(7 * day)
    );
    assert_eq!(
        parse(&["--session-ttl=1h 30m"]).config().session_ttl,
        Some(Duration::from_secs(5400))
    );
    assert_eq!(
        parse(&["--session-ttl", "250ms"]).config().session_ttl,
        Some(Duration::from_millis(250))
    );
    assert_eq!(parse(&["--session-ttl", "0"]).config().session_ttl, None);
    assert_eq!(parse(&["--session-ttl", "0s"]).config().session_ttl, None);
    let bad = Cli::try_parse_from(["tabhub", "--session-ttl", "soon"])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(bad.contains("0 to keep sessions forever"), "{bad}");
}

#[test]
fn booleans_accept_true_false_1_0_and_a_bare_flag() {
    assert!(parse(&["--new-key-on-duplicate"]).new_key_on_duplicate);
    assert!(parse(&["--new-key-on-duplicate", "true"]).new_key_on_duplicate);
    assert!(parse(&["--new-key-on-duplicate=1"]).new_key_on_duplicate);
    assert!(!parse(&["--new-key-on-duplicate", "0"]).new_key_on_duplicate);
    assert!(!parse(&["--new-key-on-duplicate=false"]).new_key_on_duplicate);
}

#[test]
fn allowed_origins_repeat_or_take_commas_and_the_per_ip_limit_is_a_count() {
    let c = parse(&[
        "--allowed-origin",
        "https://app.example.com",
        "--allowed-origin=http://localhost:3000, https://admin.example.com",
        "--max-conns-per-ip",
        "8",
    ])
    .config();
    assert_eq!(
        c.allowed_origins,
        [
            "https://app.example.com",
            "http://localhost:3000",
            "https://admin.example.com"
        ]
    );
    assert_eq!(c.max_conns_per_ip, 8);
    assert_eq!(
        parse(&["--allowed-origin", "*"]).config().allowed_origins,
        ["*"]
    );
    let unlimited = parse(&["--max-conns-per-ip", "0"]).config();
    assert_eq!(unlimited.max_conns_per_ip, 0);
    assert!(parse(&[]).config().allowed_origins.is_empty());
    assert_eq!(parse(&[]).config().max_conns_per_ip, 256);
}

#[test]
fn metrics_bind_and_log_format_are_flags_outside_the_config() {
    let cli = parse(&["--metrics-bind", "127.0.0.1:9090", "--log-format", "json"]);
    assert_eq!(cli.metrics_bind.as_deref(), Some("127.0.0.1:9090"));
    assert_eq!(cli.log_format, LogFormat::Json);
    assert_eq!(cli.config(), Config::default());
    let none = parse(&[]);
    assert_eq!(
        (none.metrics_bind, none.log_format),
        (None, LogFormat::Text)
    );
    let bad = Cli::try_parse_from(["tabhub", "--log-format", "xml"])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(bad.contains("text") && bad.contains("json"), "{bad}");
}

#[test]
fn an_allowed_origin_must_be_scheme_host_and_port() {
    for bad in ["app.example.com", "https://app.example.com/app", "null"] {
        let error = Cli::try_parse_from(["tabhub", "--allowed-origin", bad])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("scheme://host[:port]"), "{bad}: {error}");
    }
}

#[test]
fn redis_flags_select_the_redis_store_which_opens_while_redis_is_down_and_a_lease_below_100_ms_is_refused(
) {
    let cli = parse(&[
        "--redis-url",
        "redis://127.0.0.1:1/0",
        "--redis-lease-ms",
        "750",
    ]);
    assert_eq!(cli.redis_url.as_deref(), Some("redis://127.0.0.1:1/0"));
    assert_eq!(cli.redis_lease, Duration::from_millis(750));
    // Nobody listens on port 1: the store opens anyway (a node starts
    // unhealthy while Redis is down) and says Redis cannot be reached.
    let store = cli
        .open_store()
        .unwrap_or_else(|e| panic!("opens while Redis is down: {e}"));
    assert_eq!(store.unreachable(), Some("redis"));
    // A malformed URL still stops the node at startup.
    let bad = parse(&["--redis-url", "not a url"]);
    let Err(e) = bad.open_store() else {
        panic!("a malformed Redis URL must not open a store");
    };
    assert!(e.to_string().contains("the Redis URL"), "{e}");
    let refused = Cli::load_from(["tabhub", "--redis-lease-ms", "99"]);
    assert!(refused.is_err(), "a lease under 100 ms is refused");
}

#[test]
fn trusted_proxies_are_networks_or_addresses_repeated_or_comma_separated() {
    let c = parse(&[
        "--trusted-proxy",
        "10.0.0.0/8,192.0.2.1",
        "--trusted-proxy",
        "::1",
    ])
    .config();
    let shown: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["10.0.0.0/8", "192.0.2.1/32", "::1/128"]);
    assert!(parse(&[]).config().trusted_proxies.is_empty());
    let refused = Cli::try_parse_from(["tabhub", "--trusted-proxy", "proxy.local"]);
    assert!(refused.is_err(), "a name is not a network");
}
