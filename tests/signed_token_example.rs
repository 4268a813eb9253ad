//! `examples/signed_token.rs`, exercised: a join carries a JWT that names
//! a user, the keys they may join and an expiry, signed HS256 by the
//! server or RS256 by the holder of a key in the JWKS file
//! (`examples/jwt/`); `authorize` accepts it only while it is genuine,
//! unexpired and names the key, on the first join and on every rejoin.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub, missing_docs)]

mod common;
#[path = "../examples/signed_token.rs"]
mod signed_token;

use std::sync::Arc;

use actix_web::App as WebApp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{new_key, Client};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use signed_token::{token_routes, Claims, Clock, Notes, Signer, TokenError, Verifier};
use tabhub::{Config, Hub, MemoryStore};

/// The fixed "now" of these tests, in Unix seconds.
const NOW: u64 = 1_800_000_000;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-only";

fn signer() -> Signer {
    Signer::new(SECRET).unwrap()
}

/// The example's JWKS file: the public half of `rs256-demo-key.pem`, kid
/// `demo-2026`.
const JWKS: &str = include_str!("../examples/jwt/jwks.json");

/// What the server trusts: the secret and the JWKS.
fn verifier() -> Verifier {
    Verifier::default()
        .with_secret(SECRET)
        .unwrap()
        .with_jwks(JWKS)
        .unwrap()
}

/// An RS256 token for `claims`, signed with the private key in `pem`
/// (an identity provider's), its header naming `kid`.
fn rs256(pem: &str, kid: Option<&str>, claims: &Claims) -> String {
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

const DEMO_KEY: &str = include_str!("../examples/jwt/rs256-demo-key.pem");
const STRANGER_KEY: &str = include_str!("../examples/jwt/rs256-stranger-key.pem");

fn claims_for(key: &str) -> Claims {
    Claims {
        sub: "alice".to_owned(),
        keys: vec![key.to_owned()],
        exp: NOW + 60,
    }
}

/// The example's server, on a free port, with a clock the test moves.
struct Server {
    srv: actix_test::TestServer,
    hub: Hub<Notes>,
    clock: Clock,
}

fn start() -> Server {
    let clock = Clock::fixed(NOW);
    let notes = Notes {
        verifier: verifier(),
        clock: clock.clone(),
    };
    let hub = Hub::start(notes, Config::default(), Arc::new(MemoryStore::new()));
    let tabhub_routes = hub.configure();
    let tokens = token_routes(signer(), clock.clone());
    let srv = actix_test::start(move || {
        WebApp::new()
            .configure(tabhub_routes.clone())
            .configure(tokens.clone())
    });
    Server { srv, hub, clock }
}

impl Server {
    async fn connect(&self, tab: &str) -> Client {
        let url = self
            .srv
            .url(&format!("/socket/websocket?vsn=2.0.0&tab_id={tab}"));
        Client::connect_url(&url, tab).await
    }
}

/// A token for `keys`, valid for a minute from `NOW`.
fn token_for(keys: &[&str]) -> String {
    signer().issue(&Claims {
        sub: "alice".to_owned(),
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        exp: NOW + 60,
    })
}

/// Joins `key` with `token` in the join params; the reply.
async fn join_with_token(client: &mut Client, key: &str, token: &str) -> Value {
    client
        .join_with(key, json!({"cursor": null, "token": token}))
        .await
}

fn assert_unauthorized(reply: &Value) {
    assert_eq!(reply["status"], "error", "{reply}");
    assert_eq!(reply["response"]["reason"], "unauthorized", "{reply}");
}

#[actix_rt::test]
async fn a_valid_token_joins_the_keys_it_names() {
    let server = start();
    let key = new_key();
    let mut tab = server.connect("t1").await;
    let reply = join_with_token(&mut tab, &key, &token_for(&[&key])).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let r = tab.event(&key, "add_note", json!({"text": "hi"})).await;
    assert_eq!(r["status"], "ok", "{r}");
}

#[actix_rt::test]
async fn a_join_without_a_token_or_with_garbage_is_unauthorized() {
    let server = start();
    let key = new_key();
    let mut tab = server.connect("t1").await;
    assert_unauthorized(&tab.join_with(&key, json!({"cursor": null})).await);
    for garbage in ["", "abc", "a.b.c", "!!!.???", "a.b"] {
        assert_unauthorized(&join_with_token(&mut tab, &key, garbage).await);
    }
    assert_eq!(server.hub.stats().await.unwrap().tabs, 0);
}

#[actix_rt::test]
async fn a_forged_token_is_unauthorized() {
    let server = start();
    let (mine, theirs) = (new_key(), new_key());
    let genuine = token_for(&[&mine]);
    let mut tab = server.connect("t1").await;

    // Claims edited to add a key, the signature kept.
    let parts: Vec<&str> = genuine.split('.').collect();
    let mut claims: Claims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims.keys.push(theirs.clone());
    let edited = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let edited = format!("{}.{edited}.{}", parts[0], parts[2]);
    assert_unauthorized(&join_with_token(&mut tab, &theirs, &edited).await);
    assert_eq!(
        verifier().verify(&edited, NOW),
        Err(TokenError::BadSignature)
    );

    // The same claims, signed with another secret.
    let other = Signer::new(b"another secret that is long enough for hmac").unwrap();
    let foreign = other.issue(&claims);
    assert_unauthorized(&join_with_token(&mut tab, &theirs, &foreign).await);

    // Unsigned (`alg: none`), which no key here verifies.
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{edited}.");
    assert_unauthorized(&join_with_token(&mut tab, &theirs, &unsigned).await);
    assert!(verifier().verify(&unsigned, NOW).is_err());

    // The genuine token still works on the same connection.
    let reply = join_with_token(&mut tab, &mine, &genuine).await;
    assert_eq!(reply["status"], "ok", "{reply}");
}

#[actix_rt::test]
async fn an_expired_token_is_unauthorized() {
    let server = start();
    let key = new_key();
    let token = token_for(&[&key]);
    server.clock.set(NOW + 60);
    let mut tab = server.connect("t1").await;
    assert_unauthorized(&join_with_token(&mut tab, &key, &token).await);
    let expired = Err(TokenError::Expired { exp: NOW + 60 });
    assert_eq!(verifier().verify(&token, NOW + 60), expired);
    assert!(
        verifier().verify(&token, NOW + 59).is_ok(),
        "valid until exp"
    );
}

#[actix_rt::test]
async fn a_token_for_one_key_does_not_join_another() {
    let server = start();
    let (a, b) = (new_key(), new_key());
    let mut tab = server.connect("t1").await;
    assert_unauthorized(&join_with_token(&mut tab, &b, &token_for(&[&a])).await);
}

#[actix_rt::test]
async fn every_rejoin_checks_the_token_again_so_an_expired_one_is_refused() {
    let server = start();
    let key = new_key();
    let token = token_for(&[&key]);
    let mut tab = server.connect("t1").await;
    let reply = join_with_token(&mut tab, &key, &token).await;
    assert_eq!(reply["status"], "ok", "{reply}");

    server.clock.set(NOW + 60);
    // With the now expired token: the same tab reconnecting (its join would
    // take over the tab's place) is refused, and so is a rejoin on the old
    // connection.
    let mut reconnected = server.connect("t1").await;
    assert_unauthorized(&join_with_token(&mut reconnected, &key, &token).await);
    assert_unauthorized(&join_with_token(&mut tab, &key, &token).await);

    // A fresh token, as the page would fetch, joins again.
    let fresh = signer().issue(&Claims {
        sub: "alice".to_owned(),
        keys: vec![key.clone()],
        exp: NOW + 120,
    });
    let reply = join_with_token(&mut reconnected, &key, &fresh).await;
    assert_eq!(reply["status"], "ok", "{reply}");
}

#[actix_rt::test]
async fn the_token_route_issues_a_token_for_a_demo_account_only() {
    let server = start();
    let post = |body: Value| {
        let url = server.srv.url("/token");
        async move {
            awc::Client::default()
                .post(url)
                .send_json(&body)
                .await
                .unwrap()
        }
    };
    let mut wrong = post(json!({"user": "alice", "password": "bob-demo"})).await;
    assert_eq!(wrong.status(), 401);
    assert!(!wrong.body().await.unwrap().is_empty());

    let mut ok = post(json!({"user": "alice", "password": "alice-demo"})).await;
    assert_eq!(ok.status(), 200);
    let issued: Value = ok.json().await.unwrap();
    assert_eq!(issued["exp"], NOW + signed_token::TOKEN_TTL_SECS);
    let key = issued["keys"][0].as_str().unwrap();
    let token = issued["token"].as_str().unwrap();
    let mut tab = server.connect("t1").await;
    let reply = join_with_token(&mut tab, key, token).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let bobs = "bob-notes-a93e61d04f8c2b77";
    assert_unauthorized(&join_with_token(&mut tab, bobs, token).await);
}

#[test]
fn a_secret_shorter_than_32_bytes_is_refused() {
    assert!(Signer::new(b"short").is_err());
    assert!(Verifier::default().with_secret(b"short").is_err());
}

#[actix_rt::test]
async fn an_rs256_token_of_a_jwks_key_joins_and_every_other_rs256_token_is_refused() {
    let server = start();
    let key = new_key();
    let mut tab = server.connect("t1").await;
    let claims = claims_for(&key);

    // Signed by the provider's key whose public half is in the JWKS.
    let genuine = rs256(DEMO_KEY, Some("demo-2026"), &claims);
    assert_eq!(verifier().verify(&genuine, NOW), Ok(claims.clone()));

    // Another private key claiming the same kid; a kid the JWKS lacks; no
    // kid at all.
    let stranger = rs256(STRANGER_KEY, Some("demo-2026"), &claims);
    assert_eq!(
        verifier().verify(&stranger, NOW),
        Err(TokenError::BadSignature)
    );
    let unknown = rs256(DEMO_KEY, Some("rotated-away"), &claims);
    assert_eq!(
        verifier().verify(&unknown, NOW),
        Err(TokenError::UnknownKey)
    );
    let kidless = rs256(DEMO_KEY, None, &claims);
    assert_eq!(
        verifier().verify(&kidless, NOW),
        Err(TokenError::UnknownKey)
    );
    for refused in [&stranger, &unknown, &kidless] {
        assert_unauthorized(&join_with_token(&mut tab, &key, refused).await);
    }

    // Expired, like an HS256 one.
    server.clock.set(NOW + 60);
    assert_unauthorized(&join_with_token(&mut tab, &key, &genuine).await);
    server.clock.set(NOW);
    let reply = join_with_token(&mut tab, &key, &genuine).await;
    assert_eq!(reply["status"], "ok", "{reply}");
}

#[test]
fn a_verifier_accepts_only_the_algorithms_it_has_keys_for() {
    let claims = claims_for("k");
    let hs = signer().issue(&claims);
    let rs = rs256(DEMO_KEY, Some("demo-2026"), &claims);
    let secret_only = Verifier::default().with_secret(SECRET).unwrap();
    assert_eq!(secret_only.verify(&rs, NOW), Err(TokenError::Algorithm));
    let jwks_only = Verifier::default().with_jwks(JWKS).unwrap();
    assert_eq!(jwks_only.verify(&hs, NOW), Err(TokenError::Algorithm));
    assert!(Verifier::default().with_jwks("{\"keys\": 1}").is_err());
}
