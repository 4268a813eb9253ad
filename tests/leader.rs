//! The elected tab (leader): the first tab to join; replaced when it leaves
//! or is hidden while another tab is visible, by the most recently active
//! visible tab. Tabs learn it from their join reply and `leader` messages.
#![allow(clippy::unwrap_used)]

mod common;

use common::{new_key, start_demo, Client};
use serde_json::{json, Value};
use tabhub::Config;

async fn join_as(client: &mut Client, key: &str, visibility: &str) -> Value {
    let r = client
        .join_with(key, json!({"cursor": null, "visibility": visibility}))
        .await;
    assert_eq!(r["status"], "ok");
    r["response"].clone()
}

async fn set_visibility(client: &mut Client, key: &str, visibility: &str) {
    let topic = format!("session:{key}");
    let r = client
        .push(&topic, "visibility", json!({"visibility": visibility}))
        .await;
    assert_eq!(
        client.reply(&r).await,
        json!({"status": "ok", "response": {}})
    );
}

async fn leader_msg(client: &mut Client, key: &str) -> bool {
    let topic = format!("session:{key}");
    client.wait_event(&topic, "leader").await.payload["leader"]
        .as_bool()
        .unwrap()
}

#[actix_rt::test]
async fn the_first_tab_leads_even_hidden_and_a_visible_joiner_takes_over_from_a_hidden_leader() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    assert_eq!(join_as(&mut a, &key, "hidden").await["leader"], true);
    assert_eq!(join_as(&mut b, &key, "visible").await["leader"], true);
    assert!(
        !leader_msg(&mut a, &key).await,
        "the hidden leader is told it lost the role"
    );
}

#[actix_rt::test]
async fn visibility_changes_move_the_leader_to_a_visible_tab() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    assert_eq!(join_as(&mut a, &key, "visible").await["leader"], true);
    assert_eq!(join_as(&mut b, &key, "visible").await["leader"], false);
    set_visibility(&mut a, &key, "hidden").await;
    assert!(!leader_msg(&mut a, &key).await);
    assert!(leader_msg(&mut b, &key).await);
    // With every tab hidden, the leader stays where it is.
    set_visibility(&mut b, &key, "hidden").await;
    set_visibility(&mut a, &key, "visible").await;
    assert!(
        leader_msg(&mut a, &key).await,
        "a visible tab takes over from a hidden leader"
    );
    assert!(!leader_msg(&mut b, &key).await);
}

#[actix_rt::test]
async fn when_the_leader_leaves_the_most_recently_active_visible_tab_is_elected() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    let mut c = Client::connect(&server, "c").await;
    join_as(&mut a, &key, "visible").await;
    join_as(&mut b, &key, "visible").await;
    join_as(&mut c, &key, "visible").await;
    // B submits after C joined: B is now the most recently active.
    assert_eq!(
        b.event(&key, "add_todo", json!({"text": "active"})).await["status"],
        "ok"
    );
    let leave = a.push(&topic, "phx_leave", json!({})).await;
    a.reply(&leave).await;
    assert!(leader_msg(&mut b, &key).await);
    // C was not elected: a heartbeat round trip shows no `leader` message.
    c.send_text(r#"[null,"hb","phoenix","heartbeat",{}]"#).await;
    c.reply("hb").await;
    assert!(c.drain_buffer().iter().all(|m| m.event != "leader"));
}
