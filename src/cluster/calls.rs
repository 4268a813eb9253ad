//! Server code across nodes: a [`crate::SessionHandle`] call (and so the
//! server API) for a session another node owns runs on that owner. The
//! handle asks [`Locate`] where the session is (claiming it if nobody
//! owns it, as a join does); if elsewhere, it sends the call with
//! [`CallOwner`], the owner's node runs it with its own, local handle
//! ([`RunCall`]) and sends the answer back.
//!
//! The node only carries calls and answers as JSON: what a call is and
//! how its answer reads belong to the handle (`service/`), which sits
//! above this layer. A call whose owner is lost (it died, or messages
//! from it were lost) ends with [`CallLost`]; the caller may call again,
//! which reaches the new owner.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix::{ActorFutureExt, Context, Handler, Message, ResponseFuture, WrapFuture};
use serde_json::Value;
use tokio::sync::oneshot;

use super::node::Node;
use super::wire::Body;
use crate::ids::SessionKey;

/// A call's answer: the handle's JSON for its result, or for its error.
pub(crate) type CallAnswer = Result<Value, Value>;

/// Where a waiting call's answer goes.
pub(crate) type Answering = oneshot::Sender<CallAnswer>;

/// Runs a call made on another node with this node's own handle for the
/// key; built by the handle's module for the app.
pub(crate) type RunCall =
    Arc<dyn Fn(SessionKey, Value) -> Pin<Box<dyn Future<Output = CallAnswer>>> + Send + Sync>;

/// Asks which node owns `key`'s session, taking it for this node if none
/// does ([`crate::store::NodeBus::claim`]). `Ok(None)`: this node;
/// `Ok(Some(node))`: another; `Err`: the store could not be asked (why).
pub(crate) struct Locate {
    pub(crate) key: SessionKey,
}

impl Message for Locate {
    type Result = Result<Option<Arc<str>>, String>;
}

/// Sends `call` (the handle's JSON) for `key` to its owner `owner` and
/// waits for the answer.
pub(crate) struct CallOwner {
    pub(crate) owner: Arc<str>,
    pub(crate) key: SessionKey,
    pub(crate) call: Value,
}

/// The owner was lost (it died, or messages from it were lost) before it
/// answered: the call may or may not have run there.
#[derive(Debug)]
pub(crate) struct CallLost;

impl Message for CallOwner {
    type Result = Result<CallAnswer, CallLost>;
}

impl Handler<Locate> for Node {
    type Result = ResponseFuture<Result<Option<Arc<str>>, String>>;

    fn handle(&mut self, msg: Locate, _ctx: &mut Self::Context) -> Self::Result {
        let Some(bus) = self.bus() else {
            return Box::pin(async { Ok(None) });
        };
        let asking = bus.claim(&msg.key);
        let me = self.me.clone();
        Box::pin(async move {
            let owner = asking.await.map_err(|e| e.to_string())?;
            Ok((*owner != *me).then(|| Arc::from(owner)))
        })
    }
}

impl Handler<CallOwner> for Node {
    type Result = ResponseFuture<Result<CallAnswer, CallLost>>;

    fn handle(&mut self, msg: CallOwner, _ctx: &mut Self::Context) -> Self::Result {
        self.next_call += 1;
        let id = self.next_call;
        let (tx, rx) = oneshot::channel();
        self.calls.insert(id, (msg.owner.clone(), tx));
        let body = Body::Call {
            id,
            key: msg.key,
            call: msg.call,
        };
        self.outbox().send(&msg.owner, body);
        Box::pin(async move { rx.await.map_err(|_| CallLost) })
    }
}

impl Node {
    /// Owner side: runs call `id` of node `from` and sends the answer back.
    pub(super) fn run_call(
        &mut self,
        from: Arc<str>,
        id: u64,
        key: SessionKey,
        call: Value,
        ctx: &mut Context<Self>,
    ) {
        let running = (self.run_here)(key, call);
        actix::AsyncContext::spawn(
            ctx,
            running.into_actor(self).map(move |answer, act, _ctx| {
                act.outbox().send(&from, Body::Answer { id, answer });
            }),
        );
    }

    /// Caller side: the answer to call `id`, if it came from the node the
    /// call went to.
    pub(super) fn answered(&mut self, from: &Arc<str>, id: u64, answer: CallAnswer) {
        if self.calls.get(&id).is_some_and(|(owner, _)| owner == from) {
            if let Some((_, tx)) = self.calls.remove(&id) {
                let _ = tx.send(answer);
            }
        }
    }
}
