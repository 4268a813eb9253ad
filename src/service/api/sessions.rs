//! The server API's routes under `{prefix}/sessions/{key}`: each handler
//! reads the key (and task), then the body, makes one
//! [`crate::SessionHandle`]
//! call and answers its result as JSON. The shapes are those of
//! `docs/app-proxy.md`, "The server API".

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::header::ContentType;
use actix_web::{web, HttpRequest, HttpResponse, Resource};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::body::{self, ChangeBody, EffectBody, EndBody, EventBody};
use super::error::ApiError;
use super::{not_found, Api};
use crate::app::App;
use crate::ids::{Epoch, TabId};
use crate::protocol::message::Visibility;
use crate::service::HandleError;

/// Mounts every route of the table, each answering `404 not_found` to
/// another method.
pub(super) fn routes<A: App>(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/sessions/{key}")
            .route(web::get().to(read::<A>))
            .route(web::delete().to(delete::<A>)),
    )
    .service(resource("/sessions/{key}/events").route(web::post().to(submit_event::<A>)))
    .service(resource("/sessions/{key}/state").route(web::post().to(change_state::<A>)))
    .service(resource("/sessions/{key}/effects").route(web::post().to(send_effect::<A>)))
    .service(resource("/sessions/{key}/tasks/{task}/end").route(web::post().to(end_task::<A>)))
    .service(
        resource("/sessions/{key}/tasks/{task}/cancel").route(web::post().to(cancel_task::<A>)),
    )
    .service(resource("/sessions/{key}/stop").route(web::post().to(stop::<A>)))
    .service(resource("/stats").route(web::get().to(stats::<A>)))
    .service(resource("/sessions").route(web::get().to(super::listing::list::<A>)));
}

/// A resource whose other methods are `404` rather than actix's `405`
/// (a resource does not inherit its scope's default service).
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(not_found))
}

type Answer = Result<HttpResponse, ApiError>;

/// `POST .../events` `{"id", "name", "payload"?}`: the event through the
/// session's queue; `200` with its reply as a tab gets it, `{"status":
/// "ok" or "error", "response"}`.
async fn submit_event<A: App>(
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<Api<A>>,
) -> Answer {
    let session = api.session(&req)?;
    let event: EventBody = body::json(&req, payload, api.max_body_bytes).await?;
    body::check_name("id", &event.id, api.max_name_bytes)?;
    body::check_len("name", &event.name, api.max_name_bytes)?;
    body::check_depth(&event.payload, api.max_json_depth)?;
    let outcome = session
        .submit_named(&event.id, &event.name, event.payload)
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(outcome.reply()))
}

/// `POST .../state` `{"patch"} or {"state"}`, `"summary"?`, `"task"?`:
/// one delta to every tab (and the summary to summary joins); `{"seq"}`
/// after it.
async fn change_state<A: App>(
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<Api<A>>,
) -> Answer {
    let session = api.session(&req)?;
    let mut change: ChangeBody = body::json(&req, payload, api.max_body_bytes).await?;
    let seq = match change.task.take() {
        Some(task) => {
            body::check_name("task", &task, api.max_name_bytes)?;
            session.update_task(&task, change.push()?).await?
        }
        None => session.push(change.push()?).await?,
    };
    Ok(HttpResponse::Ok().json(json!({ "seq": seq })))
}

/// `POST .../effects` `{"kind", "data"?, "tab"?}`: `{}`, the effect sent
/// to every tab, or to `tab` if it is joined.
async fn send_effect<A: App>(
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<Api<A>>,
) -> Answer {
    let session = api.session(&req)?;
    let effect: EffectBody = body::json(&req, payload, api.max_body_bytes).await?;
    match effect.tab {
        Some(tab) => {
            let tab = TabId::parse(&tab).map_err(|e| ApiError::invalid_body(e.to_string()))?;
            session.effect_to(&tab, &effect.kind, effect.data).await?;
        }
        None => session.effect_to_all(&effect.kind, effect.data).await?,
    }
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `POST .../tasks/{task}/end` `{"status", "error"?, "patch"? or
/// "state"?}`: the change and the end in one step; `{"seq"}` after it.
async fn end_task<A: App>(
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<Api<A>>,
) -> Answer {
    let session = api.session(&req)?;
    let task = task(&req, api.max_name_bytes)?;
    let end: EndBody = body::json(&req, payload, api.max_body_bytes).await?;
    let (end, change) = end.into_end()?;
    let seq = session.end_task(&task, end, change).await?;
    Ok(HttpResponse::Ok().json(json!({ "seq": seq })))
}

/// `POST .../tasks/{task}/cancel`: `{"cancelled"}`, whether it was
/// running.
async fn cancel_task<A: App>(req: HttpRequest, api: web::Data<Api<A>>) -> Answer {
    let session = api.session(&req)?;
    let task = task(&req, api.max_name_bytes)?;
    let cancelled = session.cancel_task(&task).await?;
    Ok(HttpResponse::Ok().json(json!({ "cancelled": cancelled })))
}

/// `GET {prefix}/sessions/{key}`: the state, seq, epoch and tabs (a
/// stopped session is loaded to answer).
async fn read<A: App>(req: HttpRequest, api: web::Data<Api<A>>) -> Answer {
    let session = api.session(&req)?;
    let view = session.state().await?;
    let tabs = session
        .tabs()
        .await?
        .into_iter()
        .map(|t| TabView {
            tab_id: t.tab_id,
            visibility: t.visibility,
            leader: t.leader,
            joined_ms: unix_ms(t.joined_since),
        })
        .collect();
    let body = SessionView {
        state: &view.state,
        seq: view.seq,
        epoch: &view.epoch,
        tabs,
    };
    let json = serde_json::to_string(&body).map_err(|e| {
        ApiError::from(HandleError::Failed(format!(
            "the state does not serialize: {e}"
        )))
    })?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(json))
}

/// `POST .../stop`: `{"was_live"}`; the session saved and stopped, its
/// tabs rejoin.
async fn stop<A: App>(req: HttpRequest, api: web::Data<Api<A>>) -> Answer {
    let was_live = api.session(&req)?.stop().await?;
    Ok(HttpResponse::Ok().json(json!({ "was_live": was_live })))
}

/// `GET {prefix}/stats`: this node's counts now, `{"sessions",
/// "connections", "tabs", "summary_joins"}` (live sessions, open sockets,
/// tabs joined to live sessions, summary joins); `503` once the service
/// has shut down.
async fn stats<A: App>(api: web::Data<Api<A>>) -> Answer {
    let stats = api
        .supervisor
        .send(crate::supervisor::Stats)
        .await
        .map_err(|_| HandleError::ShuttingDown)?;
    Ok(HttpResponse::Ok().json(json!({
        "sessions": stats.sessions,
        "connections": stats.connections,
        "tabs": stats.tabs,
        "summary_joins": stats.summary_joins,
    })))
}

/// `DELETE {prefix}/sessions/{key}`: `{"deleted"}`, whether the store
/// kept anything; a later join starts over in a new epoch.
async fn delete<A: App>(req: HttpRequest, api: web::Data<Api<A>>) -> Answer {
    let deleted = api.session(&req)?.delete().await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": deleted })))
}

/// The path's `{task}`, percent-decoded.
///
/// # Errors
/// 400 `invalid_body` when it is longer than `max` bytes.
fn task(req: &HttpRequest, max: usize) -> Result<String, ApiError> {
    #[derive(Deserialize)]
    struct TaskPath {
        task: String,
    }
    let path: TaskPath = req
        .match_info()
        .load()
        .map_err(|e| ApiError::invalid_body(format!("the path's task key: {e}")))?;
    body::check_name("the task key", &path.task, max)?;
    Ok(path.task)
}

/// Milliseconds since the Unix epoch (0 for a time before it).
fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The answer to `GET {prefix}/sessions/{key}`.
#[derive(Serialize)]
struct SessionView<'a, S> {
    state: &'a S,
    seq: u64,
    epoch: &'a Epoch,
    tabs: Vec<TabView>,
}

/// One joined tab, in [`SessionView`].
#[derive(Serialize)]
struct TabView {
    tab_id: TabId,
    visibility: Visibility,
    leader: bool,
    joined_ms: u64,
}
