//! Presence under the proxy (`--app-presence`): each change (a tab joined,
//! left, was shown or hidden) is told to the backend as `POST
//! URL/presence`, in the session's queue like an event, and its answer's
//! state (or patch), effects and summary are applied as one delta. A
//! backend without the route (404) changes nothing.

use super::answer::{self, Scope};
use super::turns::{Caller, Cause};
use super::wire::{Answer, PresenceCall, PresenceTab};
use super::{Proxy, ProxyIdentity, ProxyState};
use crate::app::{AppError, Context, Presence, PresentTab};

/// A tab as the call names it: its forwarded headers and peer only for
/// the tab the change is about.
fn tab(t: &PresentTab<ProxyIdentity>, with_identity: bool) -> PresenceTab<'_> {
    let identity = with_identity.then_some(&t.identity);
    PresenceTab {
        tab_id: t.tab.as_str(),
        visible: t.visible,
        headers: identity.map(|i| &i.headers).filter(|h| !h.is_empty()),
        peer: identity.and_then(|i| i.peer.as_deref()),
    }
}

/// Tells the backend of `presence` and applies its answer.
pub(super) async fn tell(
    proxy: &Proxy,
    state: &mut ProxyState,
    presence: &Presence<ProxyIdentity>,
    cx: &mut Context<'_, Proxy>,
) -> Result<(), AppError> {
    let call = PresenceCall {
        key: cx.key().as_str(),
        change: presence.change,
        tab: tab(&presence.tab, true),
        tabs: presence.tabs.iter().map(|t| tab(t, false)).collect(),
        seq: cx.seq(),
        state: proxy.send_state.then_some(&state.0),
    };
    let caller = Caller {
        key: cx.key().as_str(),
        cause: Cause::Tab,
    };
    match proxy
        .backend
        .call::<Answer>(caller, "presence", &call)
        .await
    {
        Ok(Some(answer)) => answer::apply(answer, Scope::Presence, state, cx, &proxy.tasks),
        Ok(None) => Ok(()),
        Err(e) => Err(e.into_app_error("presence")),
    }
}
