//! The app proxy to an `https://` backend: the fault backend
//! (`common::fault_backend`) over TLS with a self-signed certificate made
//! for the test, trusted through `--app-ca-file` or not at all.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::fault_backend::{start_proxy as start, FaultBackend};
use common::process::start_tabhub;
use common::{joined_pair, new_key, Client};
use serde_json::json;
use tabhub::proxy::ExtraRoots;

/// `pem` in a file of its own under the temporary directory.
struct PemFile(PathBuf);

impl PemFile {
    fn new(pem: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "tabhub-test-ca-{}-{}.pem",
            std::process::id(),
            common::process::free_port()
        ));
        std::fs::write(&path, pem).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for PemFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[actix_rt::test]
async fn the_binary_calls_an_https_backend_whose_certificate_the_ca_file_names() {
    let (backend, pem) = FaultBackend::start_tls();
    assert!(backend.url().starts_with("https://"), "{}", backend.url());
    let ca = PemFile::new(&pem);
    let (server, addr) = start_tabhub(&["--app-url", &backend.url(), "--app-ca-file", ca.path()]);
    let url = format!("http://{addr}/socket/websocket?vsn=2.0.0&tab_id=a");
    let mut a = Client::connect_url(&url, "a").await;
    let key = new_key();
    a.join(&key, None).await;
    let r = a.event(&key, "echo", json!({"over": "tls"})).await;
    assert_eq!(r["status"], "ok", "{r}\n{}", server.output());
    assert_eq!(
        r["response"]["data"]["event"]["payload"],
        json!({"over": "tls"})
    );
    assert_eq!(backend.calls_to("join").len(), 1);
}

#[actix_rt::test]
async fn the_proxy_trusts_the_extra_roots_it_is_given() {
    let (backend, pem) = FaultBackend::start_tls();
    let roots = ExtraRoots::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(roots.len(), 1);
    let server = start(&backend, |c| c.extra_roots = roots);
    let (key, mut a, _b) = joined_pair(&server).await;
    let r = a.event(&key, "echo", json!({})).await;
    assert_eq!(r["status"], "ok", "{r}");
}

#[actix_rt::test]
async fn without_the_ca_file_a_self_signed_backend_is_not_trusted_and_its_calls_are_unavailable() {
    let (backend, _pem) = FaultBackend::start_tls();
    let server = start(&backend, |_| {});
    let mut a = Client::connect(&server, "a").await;
    let r = a.join_with(&new_key(), json!({})).await;
    assert_eq!(r["status"], "error", "{r}");
    assert!(
        backend.calls.lock().unwrap().is_empty(),
        "no request got through the handshake"
    );
    let text = server.hub.metrics_text().await;
    assert!(
        text.contains("tabhub_backend_calls_total{call=\"join\",outcome=\"unavailable\"} 1"),
        "the certificate is not trusted: the backend is unavailable\n{text}"
    );
}

#[test]
fn a_missing_or_certificateless_ca_file_stops_the_binary_at_start_up_with_the_reason() {
    let missing = std::env::temp_dir().join("tabhub-test-no-such-ca.pem");
    let not_pem = PemFile::new("this is not a certificate\n");
    for (file, why) in [
        (missing.to_str().unwrap(), "cannot read"),
        (not_pem.path(), "no PEM certificate"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tabhub"))
            .args([
                "--app-url",
                "https://127.0.0.1:1/tabhub",
                "--app-ca-file",
                file,
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file}: started anyway");
        assert!(
            stderr.contains("--app-ca-file") && stderr.contains(file) && stderr.contains(why),
            "{file}: {stderr}"
        );
    }
}
