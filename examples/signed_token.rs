//! Signed tokens bind session keys to users: after its own login, the app
//! issues a short-lived token that names a user and the session keys that
//! user may join; the page passes it in its join params, and `authorize`
//! checks it on every join, rejoin and takeover. A session key is a bearer
//! secret: whoever has it may join. With this check a key alone is not
//! enough; the page also needs a token, signed by this server, that names
//! the key and has not expired.
//!
//! **The token.** `base64url(claims) "." base64url(mac)`, without padding.
//! The claims are JSON: `{"sub": "alice", "keys": ["..."], "exp": 1767225600}`
//! (`exp` in Unix seconds). The MAC is HMAC-SHA256 of the first part under
//! the server's secret. It is checked in constant time, before the claims
//! are even decoded.
//!
//! **What is refused**: the join gets the error reason `unauthorized`,
//! and the cause is only logged. This happens when the join has no
//! `token`, the token is not two base64url parts, its MAC does not verify
//! (claims edited, or signed with another secret), it has expired, or it
//! does not name the key being joined.
//!
//! **Why `authorize` and not `connect`.** `authorize` runs on every join.
//! A reconnect rejoins every session, so an expired token stops working at
//! the next rejoin. A page refreshes its token before that: it fetches a
//! new one and calls `hub.session(key, { params: { token } })` again, and
//! the new params go with the next join. A tab already joined stays joined
//! until it rejoins: tokens are checked when joining, not continuously.
//!
//! Run: `cargo run --example signed_token`, then get a token:
//!
//! ```sh
//! curl -s -X POST localhost:4004/token -H 'content-type: application/json' \
//!      -d '{"user":"alice","password":"alice-demo"}'
//! ```
//!
//! and, from a page, join one of the keys it lists:
//!
//! ```js
//! const { token, keys } = await (await fetch("/token", { method: "POST", ... })).json();
//! const notes = hub.session(keys[0], { params: { token } });
//! ```
//!
//! This is a demo. The passwords are in the source, and the secret is new
//! at every start unless `TOKEN_SECRET` gives one (32 bytes or more), so a
//! restart voids every token. A real app checks password hashes, loads its
//! secret from its secrets store, and keeps a user-to-keys table.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{web, App as WebApp, HttpResponse, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tabhub::{App, AppError, AuthorizeError, Config, Context, Hub, JoinRequest, MemoryStore};

type HmacSha256 = Hmac<Sha256>;

/// How long an issued token is valid, in seconds.
pub const TOKEN_TTL_SECS: u64 = 15 * 60;

/// The shortest secret [`Signer::new`] takes, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// The demo's accounts: name, password (plain text, demo only) and the one
/// session key each may join.
const DEMO_ACCOUNTS: &[(&str, &str, &str)] = &[
    ("alice", "alice-demo", "alice-notes-5b1f0c9e2d7a4e38"),
    ("bob", "bob-demo", "bob-notes-a93e61d04f8c2b77"),
];

/// What a token says: who, which keys, until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user the token was issued to.
    pub sub: String,
    /// The session keys the user may join.
    pub keys: Vec<String>,
    /// When the token stops being accepted, in Unix seconds.
    pub exp: u64,
}

/// Why a token was not accepted (for the log, never for the client).
#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Not `base64url.base64url`, or the claims are not the expected JSON.
    Malformed,
    /// The MAC does not match the claims under this server's secret.
    BadSignature,
    /// `exp` (Unix seconds) has passed.
    Expired {
        /// The token's expiry, in Unix seconds.
        exp: u64,
    },
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed => f.write_str("the token is not base64url(claims).base64url(mac)"),
            Self::BadSignature => f.write_str("the token's signature does not match"),
            Self::Expired { exp } => write!(f, "the token expired at {exp} (Unix seconds)"),
        }
    }
}

/// Issues and verifies tokens under one secret.
#[derive(Clone)]
pub struct Signer {
    /// HMAC-SHA256 keyed with the secret, cloned for every token.
    keyed: HmacSha256,
}

impl Signer {
    /// A signer with `secret`.
    ///
    /// # Errors
    /// When the secret is shorter than [`MIN_SECRET_BYTES`].
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the secret has {} bytes; at least {MIN_SECRET_BYTES} are needed",
                secret.len()
            ));
        }
        let keyed = HmacSha256::new_from_slice(secret).map_err(|e| e.to_string())?;
        Ok(Self { keyed })
    }

    /// The token for `claims`.
    pub fn issue(&self, claims: &Claims) -> String {
        // Serializing a struct of strings and a number cannot fail.
        let json = serde_json::to_vec(claims).unwrap_or_default();
        let body = URL_SAFE_NO_PAD.encode(json);
        let mut mac = self.keyed.clone();
        mac.update(body.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{body}.{tag}")
    }

    /// The claims of `token`, if this signer signed it and it has not
    /// expired at `now` (Unix seconds).
    ///
    /// # Errors
    /// [`TokenError`]: why the token is not accepted.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let (body, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.keyed.clone();
        mac.update(body.as_bytes());
        mac.verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if claims.exp <= now {
            return Err(TokenError::Expired { exp: claims.exp });
        }
        Ok(claims)
    }
}

/// The time tokens are checked against: the system clock, or a clock the
/// caller sets (tests).
#[derive(Clone, Default)]
pub struct Clock {
    set: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { set: None }
    }

    /// A clock that reads `unix_secs` until [`Clock::set`] moves it.
    pub fn fixed(unix_secs: u64) -> Self {
        Self {
            set: Some(Arc::new(AtomicU64::new(unix_secs))),
        }
    }

    /// Moves a fixed clock to `unix_secs` (the system clock ignores it).
    pub fn set(&self, unix_secs: u64) {
        if let Some(set) = &self.set {
            set.store(unix_secs, Ordering::Relaxed);
        }
    }

    /// Now, in Unix seconds.
    pub fn now(&self) -> u64 {
        match &self.set {
            Some(set) => set.load(Ordering::Relaxed),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
}

/// Notes, one list per session key, joined only with a token naming it.
pub struct Notes {
    /// Verifies the join's token.
    pub signer: Signer,
    /// What "expired" is measured against.
    pub clock: Clock,
}

/// One session's notes.
#[derive(Default, Serialize, Deserialize)]
pub struct NoteList {
    /// The notes, oldest first.
    pub notes: Vec<String>,
}

/// The events a tab may submit.
#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
pub enum NoteEvent {
    /// Adds a note.
    AddNote {
        /// The note; must not be empty.
        text: String,
    },
}

impl App for Notes {
    type State = NoteList;
    type Event = NoteEvent;
    type Identity = ();

    /// Every join, rejoin and takeover: the join's `token` must be signed
    /// by this server, unexpired, and name the key. The error is logged
    /// (never the token or the key); the client gets `unauthorized`.
    async fn authorize(&self, join: &JoinRequest<'_>) -> Result<(), AuthorizeError> {
        let token = join
            .params
            .get("token")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| AuthorizeError::refused("the join has no token param"))?;
        let claims = self
            .signer
            .verify(token, self.clock.now())
            .map_err(|e| AuthorizeError::refused(e.to_string()))?;
        if claims.keys.iter().any(|key| key == join.key.as_str()) {
            Ok(())
        } else {
            Err(AuthorizeError::refused(format!(
                "{:?}'s token does not name this key",
                claims.sub
            )))
        }
    }

    async fn handle(
        &self,
        state: &mut NoteList,
        event: NoteEvent,
        _cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        let NoteEvent::AddNote { text } = event;
        if text.trim().is_empty() {
            return Err(AppError::invalid_payload("a note needs some text"));
        }
        state.notes.push(text);
        Ok(())
    }
}

/// The body of `POST /token`.
#[derive(Deserialize)]
pub struct Login {
    /// The user's name.
    pub user: String,
    /// The user's (demo) password.
    pub password: String,
}

/// `POST /token` with JSON `{user, password}`: for a demo account, `200
/// {"token", "keys", "exp"}`, a token for that user's keys valid for
/// [`TOKEN_TTL_SECS`]; otherwise `401`. A real app issues tokens after its
/// own login instead.
async fn token(notes: web::Data<(Signer, Clock)>, body: web::Json<Login>) -> HttpResponse {
    let (signer, clock) = notes.get_ref();
    let account = DEMO_ACCOUNTS
        .iter()
        .find(|(name, pass, _)| *name == body.user && *pass == body.password);
    let Some((user, _, key)) = account else {
        return HttpResponse::Unauthorized().body("unknown user or wrong password");
    };
    let claims = Claims {
        sub: (*user).to_owned(),
        keys: vec![(*key).to_owned()],
        exp: clock.now() + TOKEN_TTL_SECS,
    };
    let token = signer.issue(&claims);
    HttpResponse::Ok().json(serde_json::json!({
        "token": token,
        "keys": claims.keys,
        "exp": claims.exp,
    }))
}

/// The token route, for `App::configure`, issuing with `signer` at the
/// time of `clock`.
pub fn token_routes(signer: Signer, clock: Clock) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    let data = web::Data::new((signer, clock));
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(data).route("/token", web::post().to(token));
    }
}

/// `TOKEN_SECRET` if set, else a fresh random one (two v4 uuids: 244
/// random bits).
fn secret() -> Vec<u8> {
    match std::env::var("TOKEN_SECRET") {
        Ok(secret) => secret.into_bytes(),
        Err(_) => format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
        .into_bytes(),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let signer = Signer::new(&secret()).map_err(std::io::Error::other)?;
    let notes = Notes {
        signer: signer.clone(),
        clock: Clock::system(),
    };
    let hub = Hub::start(notes, Config::default(), Arc::new(MemoryStore::new()));
    let tabhub_routes = hub.configure();
    let tokens = token_routes(signer, Clock::system());
    HttpServer::new(move || {
        WebApp::new()
            .configure(tabhub_routes.clone())
            .configure(tokens.clone())
    })
    .tcp_nodelay(true)
    .bind(("127.0.0.1", 4004))?
    .run()
    .await
}
