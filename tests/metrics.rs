//! `GET /metrics`: Prometheus text, read back with a real parser
//! (`prometheus-parse`), whose counters move as traffic flows over real
//! sockets: events by outcome, refusals by reason, joins by resume kind,
//! deltas sent, the registry's gauges, journal bytes, and the commit
//! histograms of a redb store. Each hub counts on its own. Needs the
//! features `metrics`, `demo` and `redb` (all default): without `metrics`
//! nothing is counted and `/metrics` is not mounted.
#![cfg(all(feature = "metrics", feature = "demo", feature = "redb"))]
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::App as WebApp;
use common::{new_key, start_server, Client, Server};
use prometheus_parse::{Scrape, Value};
use serde_json::json;
use tabhub::demo::Demo;
use tabhub::{App, Config, Hub, MemoryStore, RedbOptions, RedbStore};

/// A directory removed at the end of the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One scrape, parsed.
struct Metrics(Scrape);

impl Metrics {
    async fn scrape(url: &str) -> Self {
        let mut got = awc::Client::default().get(url).send().await.unwrap();
        assert_eq!(got.status(), 200);
        let kind = got.headers().get("content-type").unwrap().to_str().unwrap();
        assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
        let body = got.body().limit(1 << 20).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        Self(Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap())
    }

    async fn of<A: App>(server: &Server<A>) -> Self {
        Self::scrape(&server.srv.url("/metrics")).await
    }

    /// The value of the counter or gauge `name` with exactly `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let sample = self
            .0
            .samples
            .iter()
            .find(|s| {
                s.metric == name
                    && s.labels.len() == labels.len()
                    && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
            })
            .unwrap_or_else(|| panic!("no sample {name} {labels:?}"));
        match &sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            other => panic!("{name} is not a single value: {other:?}"),
        }
    }

    /// The observations of histogram `name` (its `+Inf` bucket) and their
    /// sum.
    fn histogram(&self, name: &str) -> (f64, f64) {
        let sample = self.0.samples.iter().find(|s| s.metric == name).unwrap();
        let Value::Histogram(buckets) = &sample.value else {
            panic!("{name} is not a histogram: {:?}", sample.value);
        };
        let all = buckets
            .iter()
            .find(|b| b.less_than == f64::INFINITY)
            .map(|b| b.count)
            .unwrap();
        (all, self.get(&format!("{name}_sum"), &[]))
    }
}

#[actix_rt::test]
async fn counters_move_as_traffic_flows_and_the_output_parses() {
    let dir = TempDir::new("tabhub-metrics");
    let store = RedbStore::open(RedbOptions {
        path: dir.0.join("sessions.redb"),
        recent_events: 64,
    })
    .unwrap();
    // A burst of 3 events per tab, refilled once a second: a fourth event
    // in a row is refused.
    let mut config = Config::default();
    config.rate_events_per_sec = 1;
    config.rate_burst = 3;
    let server = start_server(Demo::default(), config, Arc::new(store));

    let before = Metrics::of(&server).await;
    for outcome in ["ok", "error"] {
        assert_eq!(
            before.get("tabhub_events_total", &[("outcome", outcome)]),
            0.0
        );
    }
    assert_eq!(before.get("tabhub_sessions_live", &[]), 0.0);
    assert_eq!(before.histogram("tabhub_commit_seconds").0, 0.0);

    let key = new_key();
    let topic = format!("session:{key}");
    let mut resumes = Vec::new();
    let mut a = Client::connect(&server, "a").await;
    let joined = a.join(&key, None).await;
    resumes.push(joined["resume"].as_str().unwrap().to_owned());
    let epoch = joined["epoch"].clone();

    // An event handled: one delta, to a.
    let r = a.event(&key, "add_todo", json!({"text": "one"})).await;
    assert_eq!(r["status"], "ok", "{r}");
    // b joins from seq 0: a replay.
    let mut b = Client::connect(&server, "b").await;
    let cursor = json!({"epoch": epoch, "seq": 0});
    let joined = b.join(&key, Some(cursor)).await;
    resumes.push(joined["resume"].as_str().unwrap().to_owned());
    // Another: its delta to a and b.
    let r = a.event(&key, "add_todo", json!({"text": "two"})).await;
    assert_eq!(r["status"], "ok", "{r}");
    b.wait_event(&topic, "delta").await;
    // The app refuses one (empty text), and the fourth in a row is over
    // the burst.
    let r = a.event(&key, "add_todo", json!({"text": ""})).await;
    assert_eq!(r["response"]["reason"], "invalid_payload", "{r}");
    let r = a.event(&key, "add_todo", json!({"text": "four"})).await;
    assert_eq!(r["response"]["reason"], "rate_limited", "{r}");
    // c joins at the current seq.
    let mut c = Client::connect(&server, "c").await;
    let cursor = json!({"epoch": epoch, "seq": 2});
    let joined = c.join(&key, Some(cursor)).await;
    resumes.push(joined["resume"].as_str().unwrap().to_owned());
    assert_eq!(resumes, ["snapshot", "replay", "current"]);
    // An upgrade refused before it happens.
    let bad = awc::Client::default()
        .get(server.srv.url("/socket/websocket?vsn=1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let m = Metrics::of(&server).await;
    assert_eq!(m.get("tabhub_events_total", &[("outcome", "ok")]), 2.0);
    assert_eq!(m.get("tabhub_events_total", &[("outcome", "error")]), 2.0);
    let refusals = |reason| m.get("tabhub_refusals_total", &[("reason", reason)]);
    assert_eq!(refusals("invalid_payload"), 1.0);
    assert_eq!(refusals("rate_limited"), 1.0);
    assert_eq!(refusals("queue_full"), 0.0);
    for resume in ["snapshot", "replay", "current"] {
        assert_eq!(
            m.get("tabhub_joins_total", &[("resume", resume)]),
            1.0,
            "{resume}"
        );
    }
    assert_eq!(m.get("tabhub_joins_total", &[("resume", "summary")]), 0.0);
    // One delta to a, then one to a and one to b.
    assert_eq!(m.get("tabhub_deltas_sent_total", &[]), 3.0);
    assert_eq!(m.get("tabhub_sessions_live", &[]), 1.0);
    assert_eq!(m.get("tabhub_connections_open", &[]), 3.0);
    assert_eq!(m.get("tabhub_tabs_connected", &[]), 3.0);
    assert!(m.get("tabhub_journal_bytes", &[]) > 0.0);
    let bad = [("status", "400"), ("reason", "bad_request")];
    assert_eq!(m.get("tabhub_upgrades_refused_total", &bad), 1.0);
    let origin = [("status", "403"), ("reason", "origin")];
    assert_eq!(m.get("tabhub_upgrades_refused_total", &origin), 0.0);
    // Every step went through a group commit of redb.
    let (commits, seconds) = m.histogram("tabhub_commit_seconds");
    let (batches, steps) = m.histogram("tabhub_commit_batch_steps");
    assert!(
        commits >= 1.0 && seconds > 0.0,
        "{commits} commits in {seconds} s"
    );
    assert_eq!(batches, commits);
    // At least the two handled events and the refused one are steps.
    assert!(steps >= 3.0, "{steps} steps");
    assert_eq!(m.get("tabhub_commits_total", &[("outcome", "ok")]), commits);
    assert_eq!(m.get("tabhub_commits_total", &[("outcome", "error")]), 0.0);
    for zero in [
        "tabhub_pushes_dropped_total",
        "tabhub_effects_dropped_total",
        "tabhub_outbound_overflows_total",
        "tabhub_chains_reelected_total",
    ] {
        assert_eq!(m.get(zero, &[]), 0.0, "{zero}");
    }

    // Tabs gone: the registry's gauges follow at the next scrape.
    drop((a, b, c));
    let mut last = None;
    common::eventually("the connections to close", async || {
        let m = Metrics::of(&server).await;
        let closed = m.get("tabhub_connections_open", &[]) == 0.0;
        last = Some(m);
        closed
    })
    .await;
    // The same scrape that saw no connection sees no tab.
    let m = last.expect("eventually scraped at least once");
    assert_eq!(m.get("tabhub_tabs_connected", &[]), 0.0);
}

#[actix_rt::test]
async fn chains_are_counted_as_dispatched_and_reelected_when_their_tab_leaves() {
    let (server, _store) = common::start_demo(Config::default());
    let (key, mut a, mut b) = common::joined_pair(&server).await;
    let topic = format!("session:{key}");
    // b starts the chain, so b holds it; b leaves and it goes to a.
    let r = b.event(&key, "chain_demo", json!({"n": 1})).await;
    assert_eq!(r["status"], "ok", "{r}");
    b.wait_event(&topic, "chain").await;
    drop(b);
    a.wait_event(&topic, "chain").await;
    let m = Metrics::of(&server).await;
    assert_eq!(m.get("tabhub_chains_dispatched_total", &[]), 2.0);
    assert_eq!(m.get("tabhub_chains_reelected_total", &[]), 1.0);
}

#[actix_rt::test]
async fn the_journal_budget_holds_the_journal_bytes_and_counts_what_it_evicts() {
    let budget = 8 * 1024;
    let mut config = Config::default();
    config.journal_total_bytes = budget;
    let (server, _store) = common::start_demo(config);
    let (key, mut a, _b) = common::joined_pair(&server).await;
    let m = Metrics::of(&server).await;
    assert_eq!(m.get("tabhub_journal_evicted_total", &[]), 0.0);
    let text = "y".repeat(500);
    for i in 0..40 {
        let r = a
            .event(&key, "add_todo", json!({"text": format!("{i} {text}")}))
            .await;
        assert_eq!(r["status"], "ok", "{r}");
        let held = Metrics::of(&server).await.get("tabhub_journal_bytes", &[]);
        assert!(held <= budget as f64, "{held} bytes journaled after {i}");
    }
    let m = Metrics::of(&server).await;
    // 40 deltas of over 500 bytes do not fit in 8 KiB.
    assert!(m.get("tabhub_journal_evicted_total", &[]) >= 24.0);
    assert!(m.get("tabhub_journal_bytes", &[]) > 0.0);
}

#[actix_rt::test]
async fn two_hubs_in_one_process_count_apart_and_metrics_mount_alone() {
    let (busy, _store) = common::start_demo(Config::default());
    let hub = Hub::start(
        Demo::default(),
        Config::default(),
        Arc::new(MemoryStore::new()),
    );
    let metrics_only = hub.routes().metrics_only().configure();
    let quiet = actix_test::start(move || WebApp::new().configure(metrics_only.clone()));
    let main = hub.routes().without_metrics().configure();
    let main = actix_test::start(move || WebApp::new().configure(main.clone()));

    let key = new_key();
    let mut a = Client::connect(&busy, "a").await;
    a.join(&key, None).await;
    a.event(&key, "add_todo", json!({"text": "x"})).await;

    let busy = Metrics::of(&busy).await;
    assert_eq!(busy.get("tabhub_events_total", &[("outcome", "ok")]), 1.0);
    let quiet_metrics = Metrics::scrape(&quiet.url("/metrics")).await;
    assert_eq!(
        quiet_metrics.get("tabhub_events_total", &[("outcome", "ok")]),
        0.0
    );
    assert_eq!(quiet_metrics.get("tabhub_sessions_live", &[]), 0.0);
    let text = hub.metrics_text().await;
    assert!(
        text.contains("# TYPE tabhub_events_total counter"),
        "{text}"
    );

    let client = awc::Client::default();
    for gone in ["/healthz", "/tabhub.js", "/socket/websocket"] {
        let r = client.get(quiet.url(gone)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{gone} is not on the metrics listener");
    }
    let r = client.get(main.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 404, "/metrics is not on the main listener");
    let r = client.get(main.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[actix_rt::test]
async fn effects_dropped_when_a_tab_that_stops_reading_overflows_are_counted() {
    let mut config = Config::default();
    config.outbound_max_bytes = 256 * 1024;
    config.rate_events_per_sec = 0;
    config.slow_client_timeout = std::time::Duration::from_secs(120);
    let (server, _store) = common::start_demo(config);
    let key = new_key();
    let topic = format!("session:{key}");
    let mut slow = Client::connect(&server, "slow").await;
    slow.join(&key, None).await;
    // `slow` asks for ~24 MiB of toasts (effects, to itself only) and
    // reads nothing meanwhile: more than loopback buffers hold.
    let text = "x".repeat(64 * 1024);
    for i in 0..384 {
        let ev = json!({"id": format!("t{i}"), "name": "toast", "payload": {"text": text}});
        slow.push(&topic, "event", ev).await;
    }
    slow.wait_event(&topic, "phx_error").await;

    let m = Metrics::of(&server).await;
    let effects = m.get("tabhub_effects_dropped_total", &[]);
    assert!(effects >= 1.0, "{effects} effects dropped");
    assert_eq!(
        m.get("tabhub_pushes_dropped_total", &[]),
        effects,
        "only effects were pushed"
    );
    assert!(m.get("tabhub_outbound_overflows_total", &[]) >= 1.0);
    assert_eq!(m.get("tabhub_slow_clients_cut_total", &[]), 0.0);
    assert_eq!(m.get("tabhub_deltas_sent_total", &[]), 0.0);
}

#[actix_rt::test]
async fn connections_the_server_closes_are_counted_by_close_code() {
    let (server, _store) = common::start_demo(tabhub::Config::default());
    let before = Metrics::of(&server).await;
    assert_eq!(before.get("tabhub_closes_total", &[("code", "1003")]), 0.0);
    let mut binary = Client::connect(&server, "bin").await;
    binary
        .send_message(awc::ws::Message::Binary(vec![1, 2].into()))
        .await;
    assert_eq!(binary.expect_close().await, 1003);
    let mut junk = Client::connect(&server, "junk").await;
    junk.send_text("{not a frame").await;
    assert_eq!(junk.expect_close().await, 1007);
    let after = Metrics::of(&server).await;
    assert_eq!(after.get("tabhub_closes_total", &[("code", "1003")]), 1.0);
    assert_eq!(after.get("tabhub_closes_total", &[("code", "1007")]), 1.0);
    assert_eq!(after.get("tabhub_closes_total", &[("code", "1009")]), 0.0);
}
