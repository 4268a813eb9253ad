//! Identity from the HTTP request: the app's connect hook sees the upgrade
//! request (here a cookie) and names the connection's identity, or refuses
//! it with HTTP 401/403 before the upgrade; `authorize` gets the identity
//! with every join, and handlers see it and the submitting tab.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use actix_web::HttpRequest;
use common::{start_server, Client};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tabhub::{
    App, AppError, AuthorizeError, Config, ConnectRefusal, Context, JoinRequest, MemoryStore,
};

/// Users are named by a `user` cookie; each may join only keys that
/// start with its name; `mallory` is known and banned.
struct Accounts;

#[derive(Clone, Default, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct User(String);

#[derive(Default, Serialize, Deserialize)]
struct Notes {
    notes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
enum NoteEvent {
    Note { text: String },
}

impl App for Accounts {
    type State = Notes;
    type Event = NoteEvent;
    type Identity = User;

    async fn connect(&self, request: &HttpRequest) -> Result<User, ConnectRefusal> {
        match request.cookie("user").map(|c| c.value().to_owned()) {
            None => Err(ConnectRefusal::Unauthenticated("log in first".into())),
            Some(name) if name == "mallory" => Err(ConnectRefusal::Forbidden("banned".into())),
            Some(name) => Ok(User(name)),
        }
    }

    async fn authorize(&self, join: &JoinRequest<'_, User>) -> Result<(), AuthorizeError> {
        if join
            .key
            .as_str()
            .starts_with(&format!("{}_", join.identity.0))
        {
            Ok(())
        } else {
            Err(AuthorizeError::refused(format!(
                "{} may not join this key",
                join.identity.0
            )))
        }
    }

    async fn handle(
        &self,
        state: &mut Notes,
        event: NoteEvent,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        let NoteEvent::Note { text } = event;
        let who = cx.identity().map(|u| u.0.clone()).unwrap_or_default();
        let tab = cx.tab().map(|t| t.as_str().to_owned()).unwrap_or_default();
        state.notes.push(format!("{who}@{tab}: {text}"));
        Ok(())
    }
}

fn key_of(user: &str) -> String {
    format!("{user}_{}", uuid::Uuid::new_v4().simple())
}

#[actix_rt::test]
async fn a_connection_is_refused_with_401_without_a_cookie_and_403_when_banned() {
    let server = start_server(Accounts, Config::default(), Arc::new(MemoryStore::new()));
    let url = server.srv.url("/socket/websocket?vsn=2.0.0&tab_id=t1");
    for (headers, status) in [(vec![], 401), (vec![("cookie", "user=mallory")], 403)] {
        let refused = Client::try_connect_with(&url, "t1", &headers).await;
        match refused {
            Err(awc::error::WsClientError::InvalidResponseStatus(s)) => {
                assert_eq!(s.as_u16(), status, "{headers:?}")
            }
            Err(e) => panic!("expected HTTP {status}, got {e}"),
            Ok(_) => panic!("expected HTTP {status}, got a socket"),
        }
    }
    assert_eq!(server.hub.stats().await.unwrap().connections, 0);
}

#[actix_rt::test]
async fn authorize_and_handlers_see_the_identity_the_connect_hook_took_from_the_cookie() {
    let server = start_server(Accounts, Config::default(), Arc::new(MemoryStore::new()));
    let url = server.srv.url("/socket/websocket?vsn=2.0.0&tab_id=t1");
    let mut alice = Client::try_connect_with(&url, "t1", &[("cookie", "user=alice")])
        .await
        .unwrap();
    let own = key_of("alice");
    let (mut m, _) = alice.join_mirror(&own, None).await;
    let other = alice
        .join_with(&key_of("bob"), json!({"cursor": null}))
        .await;
    assert_eq!(other["response"]["reason"], "unauthorized", "{other}");

    let r = alice.event(&own, "note", json!({"text": "hi"})).await;
    assert_eq!(r["response"]["seq"], 1);
    alice.catch_up(&own, &mut m, 1).await;
    assert_eq!(m.state["notes"], json!(["alice@t1: hi"]));
}
