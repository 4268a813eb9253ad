//! Cookie login in front of tabhub: `POST /login` puts the user's name in a
//! signed session cookie ([`actix_session`] with its `CookieSessionStore`),
//! the socket's connect hook reads it back from the upgrade request, and
//! `authorize` lets each user join only their own session keys.
//!
//! **The key scheme.** A session key belongs to the user named before its
//! first `_`: `alice_3f2a...` is Alice's, `bob_9c1e...` is Bob's. User names
//! are lowercase letters only, so the owner is never ambiguous, and
//! `<user>_` followed by a random uuid is still a valid key (22 to 128 chars
//! of `[A-Za-z0-9_-]`). An app with shared documents would keep a
//! user → keys table instead; the hooks stay the same.
//!
//! **What is refused, and where.**
//! - No session cookie, or one whose signature does not match (a forged or
//!   edited cookie: actix-session then starts an empty session): the
//!   upgrade is answered with HTTP 401, before any WebSocket exists.
//! - A page from another site (its `Origin` names another host than the
//!   request's `Host`): HTTP 403. Browsers send cookies with cross-site
//!   WebSocket upgrades too, so a cookie-authenticated socket must check
//!   where the page came from. tabhub itself does, before the connect hook
//!   runs, so this app needs no check of its own. Its default also accepts
//!   pages from localhost, for development; a deployment lists its exact
//!   origins in `Config::allowed_origins` (`--allowed-origin`) instead,
//!   including any other origin its pages are served from.
//! - A join of a key that belongs to someone else: the join's error reply,
//!   reason `unauthorized`.
//!
//! Run: `cargo run --example cookie_auth`, then log in and keep the cookie:
//!
//! ```sh
//! curl -i -c jar -X POST localhost:4003/login -H 'content-type: application/json' \
//!      -d '{"user":"alice","password":"alice-demo"}'
//! ```
//!
//! and open `ws://127.0.0.1:4003/socket/websocket?vsn=2.0.0` with that
//! cookie (a page served from this origin, or e.g. `websocat -H 'Cookie:
//! ...'`) and join `session:alice_<anything>`. `POST /logout` ends the
//! login.
//!
//! This is a demo: the passwords are in the source, the cookie key is made
//! anew at every start (so a restart logs everyone out), and cookies are
//! not `Secure` so that plain `http://` works. A real app checks password
//! hashes, loads a fixed 64-byte key from its secrets, serves HTTPS with
//! `cookie_secure(true)`, and, since a cookie session cannot be revoked on
//! the server (a copy of the cookie stays valid until it expires), uses a
//! server-side store (actix-session's Redis store) if logouts must be final.

use std::sync::Arc;

use actix_session::config::CookieContentSecurity;
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionExt, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::{web, App as WebApp, HttpRequest, HttpResponse, HttpServer};
use serde::{Deserialize, Serialize};
use tabhub::{
    App, AppError, AuthorizeError, Config, ConnectRefusal, Context, Hub, JoinRequest, MemoryStore,
    SessionKey,
};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tabhub_demo";

/// The session entry that holds the logged-in user's name.
const USER_ENTRY: &str = "user";

/// The demo's accounts: name and password, in plain text. Demo only.
const DEMO_ACCOUNTS: &[(&str, &str)] = &[("alice", "alice-demo"), ("bob", "bob-demo")];

/// Who a connection belongs to, as the connect hook read it from the
/// session cookie. The default (an empty name) is never given to a
/// connection, since the hook refuses connections without a user; it only
/// satisfies [`App::Identity`]'s `Default` bound.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    /// The user's name, as given at login.
    pub name: String,
}

/// The user that owns a session key: what comes before its first `_`
/// (see the module doc), or `None` for a key without an owner.
pub fn owner_of(key: &SessionKey) -> Option<&str> {
    key.as_str()
        .split_once('_')
        .map(|(owner, _)| owner)
        .filter(|owner| !owner.is_empty())
}

/// A todo list per session; every todo remembers who added it.
pub struct Todos;

/// One session's todos.
#[derive(Default, Serialize, Deserialize)]
pub struct TodoList {
    /// The todos, oldest first.
    pub todos: Vec<Todo>,
}

/// One todo.
#[derive(Clone, Serialize, Deserialize)]
pub struct Todo {
    /// What to do.
    pub text: String,
    /// The user whose tab added it.
    pub by: String,
}

/// The events a tab may submit.
#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
pub enum TodoEvent {
    /// Adds a todo, recorded as the submitting user's.
    AddTodo {
        /// What to do; must not be empty.
        text: String,
    },
}

impl App for Todos {
    type State = TodoList;
    type Event = TodoEvent;
    type Identity = User;

    /// The session middleware ran before this route, so the request's
    /// session is the cookie's, already verified: a missing, forged or
    /// edited cookie gives an empty session, and no user. A page from
    /// another site never gets here: tabhub refused its upgrade already.
    async fn connect(&self, request: &HttpRequest) -> Result<User, ConnectRefusal> {
        match request.get_session().get::<String>(USER_ENTRY) {
            Ok(Some(name)) => Ok(User { name }),
            Ok(None) => Err(ConnectRefusal::Unauthenticated(
                "log in first: POST /login".into(),
            )),
            Err(_) => Err(ConnectRefusal::Unauthenticated(
                "the session cookie holds no user".into(),
            )),
        }
    }

    /// Every join, rejoin and takeover: the key must be the user's own.
    /// The error is only logged (never the key: keys are secrets); the
    /// client gets reason `unauthorized`.
    async fn authorize(&self, join: &JoinRequest<'_, User>) -> Result<(), AuthorizeError> {
        let user = &join.identity.name;
        match owner_of(join.key) {
            Some(owner) if owner == user => Ok(()),
            _ => Err(AuthorizeError::refused(format!(
                "{user:?} may join only keys that start with {user}_"
            ))),
        }
    }

    async fn handle(
        &self,
        state: &mut TodoList,
        event: TodoEvent,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        let TodoEvent::AddTodo { text } = event;
        if text.trim().is_empty() {
            return Err(AppError::invalid_payload("a todo needs some text"));
        }
        // Who submitted it: the identity of the tab's connection (`None`
        // only for server code and background tasks, which this app has not).
        let by = cx
            .identity()
            .map_or_else(|| "server".to_owned(), |user| user.name.clone());
        state.todos.push(Todo { text, by });
        Ok(())
    }
}

/// The body of `POST /login`.
#[derive(Deserialize)]
pub struct Login {
    /// The user's name.
    pub user: String,
    /// The user's (demo) password.
    pub password: String,
}

/// `POST /login` with JSON `{user, password}`: on a match, a fresh session
/// (`renew`, against session fixation) that names the user, and `200
/// {"user"}`; otherwise `401` and no cookie.
async fn login(session: Session, body: web::Json<Login>) -> HttpResponse {
    let Login { user, password } = body.into_inner();
    let known = DEMO_ACCOUNTS
        .iter()
        .any(|(name, pass)| *name == user && *pass == password);
    if !known {
        return HttpResponse::Unauthorized().body("unknown user or wrong password");
    }
    session.renew();
    match session.insert(USER_ENTRY, &user) {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "user": user })),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

/// `POST /logout`: empties the session and tells the browser to drop the
/// cookie; `204`.
async fn logout(session: Session) -> HttpResponse {
    session.purge();
    HttpResponse::NoContent().finish()
}

/// The login and logout routes, for `App::configure`.
pub fn auth_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout));
}

/// The session middleware: the state lives in a cookie named
/// [`SESSION_COOKIE`], signed with `key` (readable by the client, but any
/// change breaks the signature). It must wrap the tabhub routes, so that
/// the connect hook sees the session.
pub fn session_middleware(key: Key) -> SessionMiddleware<CookieSessionStore> {
    SessionMiddleware::builder(CookieSessionStore::default(), key)
        .cookie_name(SESSION_COOKIE.to_owned())
        .cookie_content_security(CookieContentSecurity::Signed)
        // Demo over plain http; true behind HTTPS.
        .cookie_secure(false)
        .build()
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // Demo: a fresh key per start. A real app loads a fixed one.
    let key = Key::generate();
    let hub = Hub::start(Todos, Config::default(), Arc::new(MemoryStore::new()));
    let tabhub_routes = hub.configure();

    let server = HttpServer::new(move || {
        WebApp::new()
            .wrap(session_middleware(key.clone()))
            .configure(auth_routes)
            .configure(tabhub_routes.clone())
    })
    .tcp_nodelay(true)
    // Shutdown goes through the hub: tabs get 1012 and sessions are saved.
    .disable_signals()
    .bind(("127.0.0.1", 4003))?
    .run();
    let server_handle = server.handle();
    let on_ctrl_c = async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            hub.shutdown_with(server_handle).await;
        }
    };
    let (served, ()) = tokio::join!(server, on_ctrl_c);
    served
}
