//! Signed tokens bind session keys to users, as standard JSON Web Tokens
//! (RFC 7519, through the `jsonwebtoken` crate): after its own login, the
//! app (or its identity provider) issues a short-lived JWT that names a
//! user and the session keys that user may join; the page passes it in its
//! join params, and `authorize` checks it on every join, rejoin and
//! takeover. A session key is a bearer secret: whoever has it may join.
//! With this check a key alone is not enough; the page also needs a token,
//! signed by a key this server trusts, that names the key and has not
//! expired.
//!
//! **The token.** A JWS compact JWT whose claims are `{"sub": "alice",
//! "keys": ["..."], "exp": 1767225600}` (`exp` in Unix seconds; `keys` is
//! this app's own claim). Two kinds of key verify it:
//! - HS256 under the server's shared secret (`TOKEN_SECRET`, 32 bytes or
//!   more): the tokens this example's own `POST /token` issues;
//! - RS256 under a public key of a JWKS file (RFC 7517; `JWKS_FILE`), the
//!   one whose `kid` the token's header names: the tokens an identity
//!   provider issues with its private key, which this server never sees.
//!
//! **What is refused**: the join gets the error reason `unauthorized`,
//! and the cause is only logged. This happens when the join has no
//! `token`, the token is not a JWT, its algorithm is neither of the two
//! (`none` included) or has no key here, its `kid` is not in the JWKS, its
//! signature does not verify (claims edited, or signed with another key),
//! it has expired, or it does not name the key being joined.
//!
//! **Why `authorize` and not `connect`.** `authorize` runs on every join,
//! rejoins included, so an expired token stops working at the next one.
//! The page gives its params as a function, called on every (re)join, so
//! a refreshed token goes with each. Tokens are checked when joining, not
//! continuously.
//!
//! Run: `cargo run --example signed_token` (with `JWKS_FILE=examples/jwt/
//! jwks.json` to accept RS256 tokens signed by `examples/jwt/
//! rs256-demo-key.pem`, a demo key pair), then get a token:
//!
//! ```sh
//! curl -s -X POST localhost:4004/token -H 'content-type: application/json' \
//!      -d '{"user":"alice","password":"alice-demo"}'
//! ```
//!
//! and, from a page, join one of the keys it lists:
//! `hub.session(keys[0], { params: () => ({ token }) })`.
//!
//! This is a demo. The passwords are in the source, the demo key pair is in
//! the repository, and the secret is new at every start unless
//! `TOKEN_SECRET` gives one, so a restart voids every HS256 token. A real
//! app checks password hashes, loads its secret from its secrets store,
//! fetches its provider's JWKS (and refreshes it when keys rotate), and
//! keeps a user-to-keys table.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{web, App as WebApp, HttpResponse, HttpServer};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tabhub::{App, AppError, AuthorizeError, Config, Context, Hub, JoinRequest, MemoryStore};

/// How long an issued token is valid, in seconds.
pub const TOKEN_TTL_SECS: u64 = 15 * 60;

/// The shortest secret [`Signer::new`] takes, in bytes (RFC 7518 section
/// 3.2: an HS256 key as long as the hash, 256 bits, at least).
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
    /// Not a JWT, or its claims are not the expected JSON.
    Malformed,
    /// The header's `alg` is not one this server has a key for (`none`,
    /// HS256 without a secret, RS256 without a JWKS, anything else).
    Algorithm,
    /// An RS256 token whose header has no `kid`, or one not in the JWKS.
    UnknownKey,
    /// The signature does not match the claims under the key.
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
            Self::Malformed => f.write_str("the token is not a JWT with the expected claims"),
            Self::Algorithm => f.write_str("the token's algorithm has no key here"),
            Self::UnknownKey => f.write_str("the token's kid is not in the JWKS"),
            Self::BadSignature => f.write_str("the token's signature does not match"),
            Self::Expired { exp } => write!(f, "the token expired at {exp} (Unix seconds)"),
        }
    }
}

/// Issues HS256 tokens under the server's secret (`POST /token`).
#[derive(Clone)]
pub struct Signer {
    key: EncodingKey,
}

impl Signer {
    /// A signer with `secret`; refused when shorter than [`MIN_SECRET_BYTES`].
    ///
    /// # Errors
    /// The refusal, as text.
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        check_secret(secret)?;
        Ok(Self {
            key: EncodingKey::from_secret(secret),
        })
    }

    /// The token for `claims`.
    pub fn issue(&self, claims: &Claims) -> String {
        // A struct of strings and a number under HMAC: nothing can fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.key).unwrap_or_default()
    }
}

fn check_secret(secret: &[u8]) -> Result<(), String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "the secret has {} bytes; at least {MIN_SECRET_BYTES} are needed",
            secret.len()
        ));
    }
    Ok(())
}

/// Verifies tokens: HS256 under the shared secret, RS256 under the JWKS's
/// public keys by `kid`. Either may be absent.
#[derive(Clone, Default)]
pub struct Verifier {
    secret: Option<DecodingKey>,
    rsa: HashMap<String, DecodingKey>,
}

impl Verifier {
    /// Accepts HS256 tokens signed with `secret`.
    ///
    /// # Errors
    /// As [`Signer::new`].
    pub fn with_secret(mut self, secret: &[u8]) -> Result<Self, String> {
        check_secret(secret)?;
        self.secret = Some(DecodingKey::from_secret(secret));
        Ok(self)
    }

    /// Accepts RS256 tokens signed by the private half of an RSA key of
    /// `jwks` (a JWK Set's JSON, RFC 7517 section 5), chosen by the
    /// token's `kid`. Keys of other types are left out.
    ///
    /// # Errors
    /// When `jwks` is not a JWK Set, or an RSA key has no `kid` or does
    /// not decode.
    pub fn with_jwks(mut self, jwks: &str) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_str(jwks).map_err(|e| format!("not a JWK Set: {e}"))?;
        for jwk in &set.keys {
            if !matches!(
                jwk.algorithm,
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_)
            ) {
                continue;
            }
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or("an RSA key of the JWKS has no kid")?;
            let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key {kid:?}: {e}"))?;
            self.rsa.insert(kid, key);
        }
        Ok(self)
    }

    /// The claims of `token`, if a key here verifies it and it has not
    /// expired at `now` (Unix seconds).
    ///
    /// # Errors
    /// [`TokenError`]: why the token is not accepted.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let key = match header.alg {
            Algorithm::HS256 => self.secret.as_ref().ok_or(TokenError::Algorithm)?,
            Algorithm::RS256 if self.rsa.is_empty() => return Err(TokenError::Algorithm),
            Algorithm::RS256 => header
                .kid
                .as_ref()
                .and_then(|kid| self.rsa.get(kid))
                .ok_or(TokenError::UnknownKey)?,
            _ => return Err(TokenError::Algorithm),
        };
        let mut validation = Validation::new(header.alg);
        // `exp` is required, and checked below against `now` (a clock the
        // tests move) with no leeway.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAlgorithm => TokenError::Algorithm,
                _ => TokenError::Malformed,
            })?
            .claims;
        if claims.exp <= now {
            return Err(TokenError::Expired { exp: claims.exp });
        }
        Ok(claims)
    }
}

/// The time tokens are checked against: the system clock, or one the
/// tests set.
#[derive(Clone, Default)]
pub struct Clock {
    set: Option<Arc<AtomicU64>>,
}

/// `Clock::default()` is the system clock.
impl Clock {
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
    pub verifier: Verifier,
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
    /// by a key this server trusts, unexpired, and name the key. The error is logged
    /// (never the token or the key); the client gets `unauthorized`.
    async fn authorize(&self, join: &JoinRequest<'_>) -> Result<(), AuthorizeError> {
        let token = join
            .params
            .get("token")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| AuthorizeError::refused("the join has no token param"))?;
        let claims = self
            .verifier
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

/// `TOKEN_SECRET`, else a fresh random one (two v4 uuids: 244 bits).
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
    let secret = secret();
    let signer = Signer::new(&secret).map_err(std::io::Error::other)?;
    let mut verifier = Verifier::default()
        .with_secret(&secret)
        .map_err(std::io::Error::other)?;
    if let Ok(path) = std::env::var("JWKS_FILE") {
        let jwks = std::fs::read_to_string(&path)
            .map_err(|e| std::io::Error::other(format!("JWKS_FILE={path}: {e}")))?;
        verifier = verifier.with_jwks(&jwks).map_err(std::io::Error::other)?;
    }
    let notes = Notes {
        verifier,
        clock: Clock::default(),
    };
    let hub = Hub::start(notes, Config::default(), Arc::new(MemoryStore::new()));
    let tabhub_routes = hub.configure();
    let tokens = token_routes(signer, Clock::default());
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
