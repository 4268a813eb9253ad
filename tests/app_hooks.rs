//! The app's hooks run when they should, a panicking handler fails only its
//! own event, and the service refuses sessions beyond its capacity.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, new_key, start_demo, start_server, Client};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tabhub::{App, AppError, Config, Context, MemoryStore, SessionKey};

#[derive(Default)]
struct Calls {
    last_tab_left: AtomicUsize,
    stopping: AtomicUsize,
}

struct Hooked(Arc<Calls>);

#[derive(Default, Serialize, Deserialize)]
struct Notes {
    notes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
enum NoteEvent {
    Note { text: String },
    Boom {},
}

impl App for Hooked {
    type State = Notes;
    type Event = NoteEvent;
    type Identity = ();
    async fn initial_state(&self, key: &SessionKey) -> Result<Notes, AppError> {
        Ok(Notes {
            notes: vec![format!("hello {}", &key.as_str()[..4])],
        })
    }
    async fn handle(
        &self,
        state: &mut Notes,
        event: NoteEvent,
        _cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        match event {
            NoteEvent::Note { text } => state.notes.push(text),
            NoteEvent::Boom {} => {
                state.notes.clear();
                panic!("a bug in the app");
            }
        }
        Ok(())
    }
    fn last_tab_left(&self, _key: &SessionKey, _state: &Notes) {
        self.0.last_tab_left.fetch_add(1, Ordering::SeqCst);
    }
    fn session_stopping(&self, _key: &SessionKey, _state: &Notes) {
        self.0.stopping.fetch_add(1, Ordering::SeqCst);
    }
}

#[actix_rt::test]
async fn initial_state_last_tab_left_and_session_stopping_hooks_run_in_order() {
    let calls = Arc::new(Calls::default());
    let mut config = Config::default();
    config.grace = Duration::from_millis(50);
    let store = Arc::new(MemoryStore::new());
    let server = start_server(Hooked(calls.clone()), config, store.clone());
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let r = a.join(&key, None).await;
    assert_eq!(r["state"]["notes"], json!([format!("hello {}", &key[..4])]));
    assert_eq!(calls.last_tab_left.load(Ordering::SeqCst), 0);
    drop(a);
    eventually("the session to be saved", async || !store.is_empty()).await;
    assert_eq!(calls.last_tab_left.load(Ordering::SeqCst), 1);
    assert_eq!(calls.stopping.load(Ordering::SeqCst), 1);
}

#[actix_rt::test]
async fn a_panicking_handler_fails_its_event_rolls_back_and_the_session_carries_on() {
    let server = start_server(
        Hooked(Arc::default()),
        {
            let mut config = Config::default();
            config.session_threads = 1;
            config
        },
        Arc::new(MemoryStore::new()),
    );
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    let r = a.event(&key, "boom", json!({})).await;
    assert_eq!(r["response"]["reason"], "handler_error");
    let r = a.event(&key, "note", json!({"text": "still alive"})).await;
    assert_eq!(r, json!({"status": "ok", "response": {"seq": 1}}));
    // Another session on the same (only) session thread is fine too.
    let mut b = Client::connect(&server, "b").await;
    let r = b.join(&new_key(), None).await;
    assert_eq!(r["seq"], 0);
    let mut c = Client::connect(&server, "c").await;
    let r = c.join(&key, None).await;
    assert_eq!(
        r["state"]["notes"].as_array().unwrap().len(),
        2,
        "nothing of the panicking event remained"
    );
}

#[actix_rt::test]
async fn joins_that_would_start_sessions_beyond_the_limit_get_capacity() {
    let (server, _store) = start_demo({
        let mut config = Config::default();
        config.max_sessions = 1;
        config
    });
    let mut a = Client::connect(&server, "a").await;
    let key = new_key();
    a.join(&key, None).await;
    let r = a.join_with(&new_key(), json!({})).await;
    assert_eq!(r["response"]["reason"], "capacity");
    // Joining the live session is still fine.
    let mut b = Client::connect(&server, "b").await;
    assert_eq!(b.join(&key, None).await["tabs"], 2);
}
