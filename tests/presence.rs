//! Presence hooks: an app that tracks presence hears of every tab that
//! joins, leaves, or is shown or hidden, in the session's queue like an
//! event; what it changes is one delta (`event_id: null`) every tab gets,
//! after the joining tab's reply. An app that does not track presence
//! makes no delta on a join.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use common::{new_key, start_server, Client, Msg, Server};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tabhub::demo::Demo;
use tabhub::{
    App, AppError, Config, ConnectRefusal, Context, MemoryStore, Presence, SavedSession,
    SessionKey, Store,
};

fn demo_with_presence() -> Server<Demo> {
    start_server(
        Demo::with_presence(),
        Config::default(),
        Arc::new(MemoryStore::new()),
    )
}

/// The next message that is not a `tabs` or `leader` push.
async fn next_change(client: &mut Client) -> Msg {
    client
        .wait_for(|m| m.event != "tabs" && m.event != "leader")
        .await
}

/// The next delta: its seq, `event_id` and patch.
async fn next_delta(client: &mut Client) -> (u64, Value, Value) {
    let m = next_change(client).await;
    assert_eq!(m.event, "delta", "{m:?}");
    (
        m.payload["seq"].as_u64().unwrap(),
        m.payload["event_id"].clone(),
        m.payload["patch"].clone(),
    )
}

/// `state` after `patch`.
fn patched(state: &Value, patch: Value) -> Value {
    let mut state = state.clone();
    let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
    json_patch::patch(&mut state, &patch).unwrap();
    state
}

/// Tabs `a` and `b` joined to `key` in that order, each join's delta read.
async fn two_present_tabs(server: &Server<Demo>, key: &str) -> (Client, Client) {
    let mut a = Client::connect(server, "a").await;
    let mut b = Client::connect(server, "b").await;
    a.join(key, None).await;
    next_delta(&mut a).await;
    b.join(key, None).await;
    next_delta(&mut a).await;
    next_delta(&mut b).await;
    (a, b)
}

#[actix_rt::test]
async fn a_join_is_one_delta_that_every_tab_gets_after_the_joining_tabs_reply() {
    let server = demo_with_presence();
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let joined = a.join(&key, None).await;
    assert_eq!(joined["seq"], 0, "{joined}");
    assert_eq!(joined["state"].get("here"), None, "no one yet");
    let (seq, event_id, patch) = next_delta(&mut a).await;
    assert_eq!((seq, event_id), (1, Value::Null));
    let state = patched(&joined["state"], patch);
    assert_eq!(state["here"], json!([{"tab": "a", "visible": true}]));

    let mut b = Client::connect(&server, "b").await;
    let reply = b.join_with(&key, json!({"visibility": "hidden"})).await;
    assert_eq!(
        reply["response"]["seq"], 1,
        "the reply comes first: {reply}"
    );
    assert_eq!(reply["response"]["state"]["here"], state["here"]);
    let everyone = json!([{"tab": "a", "visible": true}, {"tab": "b", "visible": false}]);
    let (seq, _, patch) = next_delta(&mut a).await;
    assert_eq!(seq, 2);
    assert_eq!(patched(&state, patch)["here"], everyone);
    let (seq, _, patch) = next_delta(&mut b).await;
    assert_eq!(seq, 2);
    assert_eq!(
        patched(&reply["response"]["state"], patch)["here"],
        everyone
    );
}

#[actix_rt::test]
async fn being_shown_or_hidden_and_leaving_are_deltas_too() {
    let server = demo_with_presence();
    let key = new_key();
    let topic = format!("session:{key}");
    let (mut a, mut b) = two_present_tabs(&server, &key).await;

    let r = b
        .push(&topic, "visibility", json!({"visibility": "hidden"}))
        .await;
    assert_eq!(b.reply(&r).await["status"], "ok");
    let (seq, _, patch) = next_delta(&mut a).await;
    assert_eq!(seq, 3);
    assert_eq!(
        patch,
        json!([{"op": "replace", "path": "/here/1/visible", "value": false}])
    );
    // The same visibility again is no change: no delta.
    let r = b
        .push(&topic, "visibility", json!({"visibility": "hidden"}))
        .await;
    assert_eq!(b.reply(&r).await["status"], "ok");

    let r = b.push(&topic, "phx_leave", json!({})).await;
    assert_eq!(b.reply(&r).await["status"], "ok");
    let (seq, _, patch) = next_delta(&mut a).await;
    assert_eq!(
        seq, 4,
        "one delta for the leave, none for the repeated visibility"
    );
    assert_eq!(patch, json!([{"op": "remove", "path": "/here/1"}]));

    // A socket that closes is a leave as well.
    drop(b);
    let mut c = Client::connect(&server, "c").await;
    let joined = c.join(&key, None).await;
    next_delta(&mut a).await;
    let (_, _, patch) = next_delta(&mut c).await;
    let state = patched(&joined["state"], patch);
    assert_eq!(
        state["here"],
        json!([{"tab": "a", "visible": true}, {"tab": "c", "visible": true}])
    );
    drop(a);
    let (seq, _, patch) = next_delta(&mut c).await;
    assert_eq!(seq, 6);
    assert_eq!(
        patched(&state, patch)["here"],
        json!([{"tab": "c", "visible": true}])
    );
}

#[actix_rt::test]
async fn visibility_toggles_draw_on_the_event_bucket_and_a_refused_one_changes_nothing() {
    let mut config = Config::default();
    config.rate_burst = 2;
    config.rate_events_per_sec = 1;
    let server = start_server(Demo::with_presence(), config, Arc::new(MemoryStore::new()));
    let key = new_key();
    let topic = format!("session:{key}");
    let (mut a, mut b) = two_present_tabs(&server, &key).await;

    for (visibility, seq) in [("hidden", 3), ("visible", 4)] {
        let r = b
            .push(&topic, "visibility", json!({"visibility": visibility}))
            .await;
        assert_eq!(b.reply(&r).await["status"], "ok");
        assert_eq!(next_delta(&mut a).await.0, seq);
    }
    let r = b
        .push(&topic, "visibility", json!({"visibility": "hidden"}))
        .await;
    let refused = b.reply(&r).await;
    assert_eq!(refused["status"], "error", "{refused}");
    assert_eq!(refused["response"]["reason"], "rate_limited");

    let r = a.event(&key, "add_todo", json!({"text": "x"})).await;
    assert_eq!(
        r["response"]["seq"], 5,
        "the refused toggle made no delta, and the other tab has its own bucket"
    );
    let snapshot = a.join(&key, None).await;
    assert_eq!(
        snapshot["state"]["here"],
        json!([{"tab": "a", "visible": true}, {"tab": "b", "visible": true}]),
        "b is still visible"
    );
}

#[actix_rt::test]
async fn an_app_that_does_not_track_presence_makes_no_delta_on_a_join() {
    let server = start_server(
        Demo::default(),
        Config::default(),
        Arc::new(MemoryStore::new()),
    );
    let (key, mut a, mut b) = common::joined_pair(&server).await;
    let topic = format!("session:{key}");
    let r = b
        .push(&topic, "visibility", json!({"visibility": "hidden"}))
        .await;
    b.reply(&r).await;
    let r = a.event(&key, "add_todo", json!({"text": "first"})).await;
    assert_eq!(r["response"]["seq"], 1, "no presence delta came before it");
}

#[actix_rt::test]
async fn a_list_saved_before_a_restart_is_put_right_by_the_first_join() {
    let store = Arc::new(MemoryStore::new());
    let key = new_key();
    let stale = json!({"todos": [], "jobs": {}, "chain_count": 0,
                       "here": [{"tab": "gone", "visible": true}]});
    store
        .save(
            &SessionKey::parse(&key).unwrap(),
            &SavedSession::new(stale, 7),
        )
        .unwrap();
    let server = start_server(Demo::with_presence(), Config::default(), store);
    let mut c = Client::connect(&server, "c").await;
    let joined = c.join(&key, None).await;
    assert_eq!(joined["state"]["here"][0]["tab"], "gone");
    let (seq, _, patch) = next_delta(&mut c).await;
    assert_eq!(seq, 8);
    let state = patched(&joined["state"], patch);
    assert_eq!(state["here"], json!([{"tab": "c", "visible": true}]));
}

/// A room that greets each tab, names its users (from `?user=`), and
/// whose hook awaits for `slow` and fails for `broken`.
struct Room;

#[derive(Default, Serialize, Deserialize)]
struct RoomState {
    here: Vec<String>,
    notes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
enum RoomEvent {
    Note { text: String },
}

impl App for Room {
    type State = RoomState;
    type Event = RoomEvent;
    type Identity = String;

    async fn connect(&self, request: &HttpRequest) -> Result<String, ConnectRefusal> {
        let user = request
            .query_string()
            .split('&')
            .find_map(|kv| kv.strip_prefix("user="))
            .unwrap_or("anonymous");
        Ok(user.to_owned())
    }

    async fn handle(
        &self,
        state: &mut RoomState,
        event: RoomEvent,
        _cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        let RoomEvent::Note { text } = event;
        state.notes.push(text);
        Ok(())
    }

    fn tracks_presence(&self) -> bool {
        true
    }

    async fn tab_joined(
        &self,
        state: &mut RoomState,
        presence: &Presence<String>,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        match presence.tab.identity.as_str() {
            "broken" => return Err(AppError::handler("no room for broken")),
            "slow" => tokio::time::sleep(Duration::from_millis(200)).await,
            _ => {}
        }
        state.here = presence.tabs.iter().map(|t| t.identity.clone()).collect();
        cx.effect("welcome", json!({ "user": presence.tab.identity }));
        Ok(())
    }

    async fn tab_left(
        &self,
        state: &mut RoomState,
        presence: &Presence<String>,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        state.here = presence.tabs.iter().map(|t| t.identity.clone()).collect();
        cx.effect("gone", json!({ "user": presence.tab.identity }));
        Ok(())
    }
}

fn room() -> Server<Room> {
    start_server(Room, Config::default(), Arc::new(MemoryStore::new()))
}

async fn user(server: &Server<Room>, tab: &str, user: &str) -> Client {
    Client::connect_query(server, &format!("user={user}"), tab).await
}

#[actix_rt::test]
async fn hooks_see_identities_and_a_joins_effect_goes_to_the_joining_tab_only() {
    let server = room();
    let key = new_key();
    let mut a = user(&server, "a", "ann").await;
    a.join(&key, None).await;
    let (_, _, patch) = next_delta(&mut a).await;
    assert_eq!(
        patch,
        json!([{"op": "add", "path": "/here/0", "value": "ann"}])
    );
    let welcome = next_change(&mut a).await;
    assert_eq!(
        (welcome.event.as_str(), &welcome.payload["data"]["user"]),
        ("effect", &json!("ann"))
    );

    let mut b = user(&server, "b", "bob").await;
    b.join(&key, None).await;
    let (seq, _, _) = next_delta(&mut a).await;
    assert_eq!(seq, 2);
    next_delta(&mut b).await;
    let welcome = next_change(&mut b).await;
    assert_eq!(welcome.payload["data"]["user"], "bob");

    // A leave's effect goes to everyone still here; a got no welcome for bob.
    drop(b);
    let (_, _, patch) = next_delta(&mut a).await;
    assert_eq!(patch, json!([{"op": "remove", "path": "/here/1"}]));
    let gone = next_change(&mut a).await;
    assert_eq!(
        (gone.event.as_str(), &gone.payload["data"]["user"]),
        ("effect", &json!("bob"))
    );
}

#[actix_rt::test]
async fn an_event_waits_for_a_presence_hook_that_awaits() {
    let server = room();
    let key = new_key();
    let mut s = user(&server, "s", "slow").await;
    s.join(&key, None).await;
    // Pushed while the join's hook sleeps: handled after it, in order.
    let r = s
        .event(&key, "note", json!({"text": "after the hook"}))
        .await;
    assert_eq!(r["response"]["seq"], 2, "{r}");
    let (seq, event_id, _) = next_delta(&mut s).await;
    assert_eq!((seq, event_id), (1, Value::Null), "the hook's delta first");
}

#[actix_rt::test]
async fn a_failing_hook_changes_nothing_and_the_join_stands() {
    let server = room();
    let key = new_key();
    let mut x = user(&server, "x", "broken").await;
    x.join(&key, None).await;
    let r = x.event(&key, "note", json!({"text": "still here"})).await;
    assert_eq!(
        r["response"]["seq"], 1,
        "the failed hook made no delta: {r}"
    );
}
