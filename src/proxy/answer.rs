//! What a backend's answer does to a session: the new state (whole or a
//! patch), effects, chains, the reply value, task starts and cancels, the
//! summary; or the backend's refusal. Everything goes through the
//! handler's [`Context`], so the session carries it out exactly as for an
//! embedded app, and only if the whole answer is valid.

use serde_json::Value;

use super::client::CallError;
use super::client::CALL_FAILURE_REASONS;
use super::tasks::RemoteTasks;
use super::wire::{Answer, ErrorOut, Object, TabTo, To};
use super::{Proxy, ProxyEvent, ProxyState};
use crate::app::{AppError, Context, Target};
use crate::delta::{ChangeError, StateChange};
use crate::ids::TabId;
use crate::protocol::{AppReason, Reason};

/// Which members of an answer count: all for an event; the state, effects
/// and summary for a cancel's or a presence change's answer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    Event,
    Cancel,
    Presence,
}

impl Scope {
    /// The call whose answer this is.
    fn call(self) -> &'static str {
        match self {
            Scope::Event => "event",
            Scope::Cancel => "cancel",
            Scope::Presence => "presence",
        }
    }
}

/// An answer of `call` that cannot be used: `backend_invalid_answer`, as
/// for any other invalid answer (`client.rs`).
fn invalid(call: &str, why: impl std::fmt::Display) -> AppError {
    CallError::Invalid(why.to_string()).into_app_error(call)
}

/// The backend's refusal as the event's error reply. `invalid_payload`,
/// `handler_error` and `unknown_event` keep their meaning. Another
/// protocol reason, or a reason of a failed call (`backend_timeout`, ...:
/// tabhub's own, for faults it saw), becomes `handler_error`, with a
/// message naming it. Any other reason must be a valid app reason
/// (snake_case, 1 to 64 bytes, a letter first), else the answer is
/// invalid: `backend_invalid_answer`.
fn refusal(error: ErrorOut, call: &str) -> AppError {
    let ErrorOut {
        reason,
        message,
        data,
    } = error;
    let refused = match reason.as_str() {
        "invalid_payload" => AppError::invalid_payload(message),
        "handler_error" => AppError::handler(message),
        "unknown_event" => AppError::unknown_event(message),
        tabhubs
            if CALL_FAILURE_REASONS.contains(&tabhubs)
                || Reason::ALL.iter().any(|r| r.as_str() == tabhubs) =>
        {
            AppError::handler(format!(
                "{message} (the backend refused with {tabhubs:?}, a reason of tabhub's own)"
            ))
        }
        own => match AppReason::parse(own) {
            Ok(_) => AppError::refuse(own, message),
            Err(why) => return invalid(call, format!("the error's reason: {why}")),
        },
    };
    match data {
        Some(data) => refused.with_data(data),
        None => refused,
    }
}

fn target(to: Option<To>, call: &str) -> Result<Target, AppError> {
    match to {
        None => Ok(Target::Origin),
        Some(To::Named(name)) => match name.as_str() {
            "origin" => Ok(Target::Origin),
            "all" => Ok(Target::All),
            other => Err(invalid(
                call,
                format!(
                    "an effect's \"to\" is \"origin\", \"all\" or {{\"tab\": ID}}, not {other:?}"
                ),
            )),
        },
        Some(To::Tab(Object(TabTo { tab }))) => TabId::parse(&tab)
            .map(Target::Tab)
            .map_err(|e| invalid(call, format!("an effect's tab {tab:?}: {e}"))),
    }
}

/// Applies `answer` to `state` and `cx`. Checks the whole answer before
/// carrying out any of it; a failure leaves the rollback to the session.
pub(super) fn apply(
    answer: Answer,
    scope: Scope,
    state: &mut ProxyState,
    cx: &mut Context<'_, Proxy>,
    tasks: &RemoteTasks,
) -> Result<(), AppError> {
    if let Some(Object(error)) = answer.error {
        return Err(refusal(error, scope.call()));
    }
    let mut effects = Vec::with_capacity(answer.effects.len());
    for Object(effect) in answer.effects {
        effects.push((target(effect.to, scope.call())?, effect.kind, effect.data));
    }
    match (answer.state, answer.patch) {
        (Some(_), Some(_)) => return Err(invalid(scope.call(), "both \"state\" and \"patch\"")),
        (Some(new), None) => state.0 = new,
        (None, Some(patch)) => {
            let patch = json_patch::Patch(patch.into_iter().map(|Object(op)| op).collect());
            patch_state(&mut state.0, &patch, cx.max_state_bytes()).map_err(|e| match e {
                ChangeError::DoesNotApply(e) => {
                    invalid(scope.call(), format!("the patch does not apply: {e}"))
                }
                other => AppError::handler(other.to_string()),
            })?;
            // The patch as sent is the delta: the session applies it to
            // the state's JSON in place, with no diff of the whole state.
            cx.changed(patch);
        }
        (None, None) => {}
    }
    for (target, kind, data) in effects {
        cx.effect_to(target, &kind, data);
    }
    if let Some(summary) = answer.summary {
        cx.set_summary(summary);
    }
    if scope != Scope::Event {
        return Ok(());
    }
    for Object(chain) in answer.chains {
        cx.chain(&ProxyEvent {
            name: chain.name,
            payload: chain.payload,
        })?;
    }
    if let Some(reply) = answer.reply {
        cx.reply(reply);
    }
    let Object(tasks_out) = answer.tasks;
    for task in tasks_out.cancel {
        cx.cancel_task(&task);
    }
    for task in tasks_out.start {
        tasks.start(cx, &task)?;
    }
    Ok(())
}

/// Applies a backend's `patch` to the proxy's state, all or nothing. A
/// patch without a `copy` applies in place (O(patch)): what it inserts is
/// bounded by the answer's size, and the session refuses a state past
/// `max_bytes` when it settles the change. A `copy` is applied to a copy
/// of the state, checked against `max_bytes` as it goes
/// ([`StateChange::apply_within`]): root copies would double the state
/// per operation before the session's own check.
fn patch_state(
    state: &mut Value,
    patch: &json_patch::Patch,
    max_bytes: usize,
) -> Result<(), ChangeError> {
    if patch
        .0
        .iter()
        .any(|op| matches!(op, json_patch::PatchOperation::Copy(_)))
    {
        *state = StateChange::Patch(patch.clone()).apply_within(state, max_bytes)?;
        return Ok(());
    }
    json_patch::patch(state, &patch.0).map_err(|e| ChangeError::DoesNotApply(e.to_string()))
}

/// A state that is not a JSON object is allowed (the backend owns its
/// shape), but `null` is not: it is what an absent member decodes to.
pub(super) fn initial(state: Value) -> Result<ProxyState, AppError> {
    if state.is_null() {
        return Err(invalid("initial_state", "the initial state is null"));
    }
    Ok(ProxyState(state))
}
