//! The server API answers only what is durable (`docs/app-proxy.md`, "The
//! server API"): with a durable store whose commits are held at a gate, a
//! repeated event id is not answered before its first step is written, nor
//! is a read of the state that step made.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::sync::Arc;
use std::time::Duration;

use api_client::{get, post, session, start_with_api_on, Answer};
use common::new_key;
use common::stores::GatedStore;
use serde_json::json;
use tabhub::Config;

/// A call on its way, named for the failure message.
type Pending<'a> = (
    &'static str,
    std::pin::Pin<Box<dyn std::future::Future<Output = Answer> + 'a>>,
);

/// Polls `calls` for `ms` and fails if any of them answers.
async fn none_answers_for(ms: u64, calls: &mut [Pending<'_>]) {
    let all = futures_util::future::select_all(calls.iter_mut().map(|(_, call)| call.as_mut()));
    if let Ok((answer, i, _)) = tokio::time::timeout(Duration::from_millis(ms), all).await {
        panic!(
            "{} answered before its step was durable: {answer:?}",
            calls[i].0
        );
    }
}

#[actix_rt::test]
async fn a_repeated_event_and_a_read_are_answered_only_once_the_first_step_is_durable() {
    let store = Arc::new(GatedStore::default());
    store.set_open(true);
    let server = start_with_api_on(Config::default(), store.clone(), |api| api);
    let key = new_key();
    let read = get(&server, &session(&key, "")).await;
    assert_eq!((read.status, read.body["seq"].clone()), (200, json!(0)));

    store.set_open(false);
    let events = session(&key, "/events");
    let event = json!({"id": "e1", "name": "add_todo", "payload": {"text": "durable"}});
    let mut first = Box::pin(post(&server, &events, event.clone()));
    tokio::select! {
        answer = &mut first => panic!("answered before its step was durable: {answer:?}"),
        () = store.wait_arrival_of("e1") => {}
    }
    // The first step waits at the gate; neither a repeat of its id nor a
    // read may show what it did.
    let path = session(&key, "");
    let mut calls: Vec<Pending<'_>> = vec![
        (
            "the repeat",
            Box::pin(post(&server, &events, event.clone())),
        ),
        ("the read", Box::pin(get(&server, &path))),
    ];
    none_answers_for(500, &mut calls).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(10), &mut first)
            .await
            .is_err(),
        "the first answered before its step was durable"
    );

    store.set_open(true);
    let first = first.await;
    let ok = json!({"status": "ok", "response": {"seq": 1}});
    assert_eq!((first.status, &first.body), (200, &ok));
    let mut calls = calls.into_iter();
    let repeat = calls.next().unwrap().1.await;
    assert_eq!(
        (repeat.status, &repeat.body),
        (200, &ok),
        "the first outcome"
    );
    let read = calls.next().unwrap().1.await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["seq"], 1);
    assert_eq!(read.body["state"]["todos"][0]["text"], "durable");
}
