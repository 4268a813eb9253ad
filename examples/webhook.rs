//! A payment provider's webhook feeds a session: `POST
//! /webhooks/payment/{key}` submits a `paid` event into the session of
//! `key` through its session handle, while the shop's tabs are open; the
//! tabs see the delta, and the route answers with the event's outcome.
//! The provider's delivery id is the event id, so a redelivered webhook is
//! applied once and gets the first answer again.
//!
//! Run: `cargo run --example webhook`, join `session:<KEY>` from a tab,
//! then `curl -X POST localhost:4002/webhooks/payment/<KEY> -H
//! 'content-type: application/json' -d '{"delivery":"d1","order":"o1","amount_cents":500}'`.

use std::sync::Arc;

use actix_web::{web, App as WebApp, HttpResponse, HttpServer};
use serde::{Deserialize, Serialize};
use tabhub::{App, AppError, Config, Context, Hub, MemoryStore, Outcome, SessionKey};

/// A shop's orders, one session per shop key.
pub struct Shop;

/// The shop's state: every order paid so far.
#[derive(Default, Serialize, Deserialize)]
pub struct Orders {
    /// Paid orders, in the order the payments arrived.
    pub paid: Vec<Paid>,
}

/// One paid order.
#[derive(Clone, Serialize, Deserialize)]
pub struct Paid {
    /// The order's id.
    pub order: String,
    /// The amount paid, in cents.
    pub amount_cents: u64,
}

/// The shop's events.
#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
pub enum ShopEvent {
    /// The payment provider says this order is paid.
    Paid(Paid),
}

impl App for Shop {
    type State = Orders;
    type Event = ShopEvent;
    type Identity = ();

    async fn handle(
        &self,
        state: &mut Orders,
        event: ShopEvent,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        let ShopEvent::Paid(paid) = event;
        if state.paid.iter().any(|p| p.order == paid.order) {
            return Err(
                AppError::refuse("already_paid", "this order is paid already")
                    .with_data(serde_json::json!({ "order": paid.order })),
            );
        }
        cx.effect_to_all(
            "toast",
            serde_json::json!({ "text": format!("order {} paid", paid.order) }),
        );
        state.paid.push(paid);
        Ok(())
    }
}

/// The webhook's body, as the provider posts it.
#[derive(Deserialize)]
struct PaymentHook {
    delivery: String,
    order: String,
    amount_cents: u64,
}

async fn payment(
    hub: web::Data<Hub<Shop>>,
    key: web::Path<String>,
    body: web::Json<PaymentHook>,
) -> HttpResponse {
    let Ok(key) = SessionKey::parse(&key) else {
        return HttpResponse::BadRequest().body("not a session key");
    };
    let hook = body.into_inner();
    let event = ShopEvent::Paid(Paid {
        order: hook.order,
        amount_cents: hook.amount_cents,
    });
    match hub.session(&key).submit(&hook.delivery, event).await {
        Ok(outcome @ Outcome::Ok { .. }) => HttpResponse::Ok().json(outcome),
        Ok(outcome) => HttpResponse::UnprocessableEntity().json(outcome),
        Err(e) => HttpResponse::ServiceUnavailable().body(e.to_string()),
    }
}

/// The webhook route, for `App::configure`.
pub fn webhook_routes(hub: Hub<Shop>) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(hub))
            .route("/webhooks/payment/{key}", web::post().to(payment));
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let hub = Hub::start(Shop, Config::default(), Arc::new(MemoryStore::new()));
    let tabhub_routes = hub.configure();
    let webhook = webhook_routes(hub);
    HttpServer::new(move || {
        WebApp::new()
            .configure(tabhub_routes.clone())
            .configure(webhook.clone())
    })
    .tcp_nodelay(true)
    .bind(("127.0.0.1", 4002))?
    .run()
    .await
}
