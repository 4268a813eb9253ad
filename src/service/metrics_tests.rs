//! What the crate feature `metrics` changes about a hub's routes: with it,
//! `GET /metrics` answers the Prometheus text [`crate::Hub::metrics_text`]
//! returns; without it, nothing is counted, `/metrics` is not mounted
//! (404) and `metrics_text` is empty. The library's tests run both ways:
//! `cargo test --lib` and `cargo test --no-default-features --lib`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::test::{call_service, init_service, read_body, TestRequest};
use actix_web::App as WebApp;
use serde::{Deserialize, Serialize};

use super::Hub;
use crate::app::{App, AppError, Context};
use crate::config::Config;
use crate::store::MemoryStore;

/// An app with nothing to count but what the hub counts.
struct Tally;

#[derive(Default, Serialize, Deserialize)]
struct Count {
    n: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
enum Bump {
    Bump,
}

impl App for Tally {
    type State = Count;
    type Event = Bump;
    type Identity = ();

    async fn handle(
        &self,
        state: &mut Count,
        Bump::Bump: Bump,
        _cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        state.n += 1;
        Ok(())
    }
}

#[actix_web::test]
async fn metrics_are_served_only_with_the_metrics_feature() {
    let hub = Hub::start(Tally, Config::default(), Arc::new(MemoryStore::new()));
    let service = init_service(WebApp::new().configure(hub.routes().configure())).await;

    let health = call_service(&service, TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(health.status(), StatusCode::OK, "the other routes stay");

    let scrape = call_service(&service, TestRequest::get().uri("/metrics").to_request()).await;
    let text = hub.metrics_text().await;
    if cfg!(feature = "metrics") {
        assert_eq!(scrape.status(), StatusCode::OK);
        let body = read_body(scrape).await;
        assert!(
            String::from_utf8_lossy(&body).contains("tabhub_sessions_live 0"),
            "{body:?}"
        );
        assert!(
            text.contains("tabhub_events_total{outcome=\"ok\"} 0"),
            "{text}"
        );
    } else {
        assert_eq!(scrape.status(), StatusCode::NOT_FOUND);
        assert_eq!(text, "");
    }
}
