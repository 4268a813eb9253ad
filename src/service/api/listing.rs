//! `GET {prefix}/sessions`: a page of sessions for inspection (an admin
//! page, an operator's script). Keys are shown only in their short form
//! (the first six characters and `…`), since a session key may be a
//! browser's bearer secret.
//!
//! Two listings, chosen by `?live=`:
//! - stored (the default): the store's sessions, most recently active
//!   first, each marked live if this node runs it; paged by position in
//!   the store's activity index (a key active between two pages moves to
//!   the front, so pages of a busy store may repeat or skip a row);
//! - `live=true`: this node's live sessions (also those never saved yet),
//!   in an order that is stable for the life of the process and says
//!   nothing of the keys; a session started between two pages may fall
//!   before the cursor and be missed, none is listed twice.
//!
//! The answer is `{"sessions": [Row...], "next_cursor": string | null}`;
//! `?cursor=` takes `next_cursor` back. `?limit=` is 1..=1000 (default
//! 100).

use std::hash::RandomState;
use std::time::SystemTime;

use actix_web::{web, HttpResponse};
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiReason};
use super::Api;
use crate::app::App;
use crate::ids::{Epoch, SessionKey};
use crate::service::HandleError;
use crate::session::Inspect;
use crate::store::{blocking, unix_ms};
use crate::supervisor::{FindLive, ListLive, LiveRow};

/// The most rows a page holds.
pub(super) const MAX_LIMIT: usize = 1000;
/// Rows per page when `?limit=` is absent.
const DEFAULT_LIMIT: usize = 100;

/// The query string of `GET {prefix}/sessions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    #[serde(default)]
    live: bool,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// One session in a page.
#[derive(Serialize)]
struct Row {
    /// The key's short form: its first six characters and `…`.
    key: String,
    /// Whether this node runs it now.
    live: bool,
    /// Tabs joined on this node, and how many of them are visible (0 when
    /// not live).
    tabs: usize,
    visible_tabs: usize,
    /// The seq and epoch of a live session (the seq reached in memory);
    /// `null` for a stored one.
    seq: Option<u64>,
    epoch: Option<Epoch>,
    /// The last activity, ms since the Unix epoch: the later of the
    /// store's stamp and, for a live session, its last change here.
    last_active_ms: Option<u64>,
}

/// The answer.
#[derive(Serialize)]
struct Page {
    sessions: Vec<Row>,
    next_cursor: Option<String>,
}

/// `GET {prefix}/sessions?live=&limit=&cursor=`.
pub(super) async fn list<A: App>(
    query: Result<web::Query<ListQuery>, actix_web::Error>,
    api: web::Data<Api<A>>,
) -> Result<HttpResponse, ApiError> {
    let query = query.map_err(|e| ApiError::new(ApiReason::InvalidQuery, e.to_string()))?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::new(
            ApiReason::InvalidQuery,
            format!("`limit` is 1 to {MAX_LIMIT}; got {limit}"),
        ));
    }
    let cursor = query.cursor.as_deref();
    let page = if query.live {
        live_page(&api, cursor, limit).await?
    } else {
        stored_page(&api, cursor, limit).await?
    };
    Ok(HttpResponse::Ok().json(page))
}

/// A page of this node's live sessions.
async fn live_page<A: App>(
    api: &Api<A>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page, ApiError> {
    let after = match cursor {
        None => None,
        Some(c) => Some(
            c.strip_prefix('l')
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                .ok_or_else(|| bad_cursor(c, "live=true"))?,
        ),
    };
    let rows = api
        .supervisor
        .send(ListLive {
            after,
            limit,
            order: api.order.clone(),
            _app: std::marker::PhantomData,
        })
        .await
        .map_err(|_| HandleError::ShuttingDown)?;
    let next_cursor = (rows.len() == limit)
        .then(|| rows.last().map(|r| format!("l{:016x}", r.order)))
        .flatten();
    let sessions = join_all(rows.into_iter().map(|row| describe(row, None))).await;
    Ok(Page {
        sessions,
        next_cursor,
    })
}

/// A page of the store's sessions, most recently active first.
async fn stored_page<A: App>(
    api: &Api<A>,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page, ApiError> {
    let offset = match cursor {
        None => 0,
        Some(c) => c
            .strip_prefix('s')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| bad_cursor(c, "live=false"))?,
    };
    let store = api.store.clone();
    let stored: Vec<(SessionKey, u64)> = blocking(None, move || store.recent(offset, limit))
        .await
        .map_err(|e| HandleError::Failed(e.to_string()))?;
    let next_cursor = (stored.len() == limit).then(|| format!("s{}", offset + limit));
    let live = api
        .supervisor
        .send(FindLive {
            keys: stored.iter().map(|(k, _)| k.clone()).collect(),
            order: api.order.clone(),
            _app: std::marker::PhantomData,
        })
        .await
        .map_err(|_| HandleError::ShuttingDown)?;
    let sessions = join_all(stored.into_iter().zip(live).map(|((key, at), live)| {
        let key = key.to_string();
        async move {
            match live {
                Some(row) => describe(row, Some(at)).await,
                None => Row {
                    key,
                    live: false,
                    tabs: 0,
                    visible_tabs: 0,
                    seq: None,
                    epoch: None,
                    last_active_ms: Some(at),
                },
            }
        }
    }))
    .await;
    Ok(Page {
        sessions,
        next_cursor,
    })
}

/// The row of a live session: its registry facts and what its actor says
/// (nothing more if it ended meanwhile).
async fn describe<A: App>(row: LiveRow<A>, stored_at: Option<u64>) -> Row {
    let inspection = row.addr.send(Inspect).await.ok();
    let changed = inspection
        .as_ref()
        .map(|i| unix_ms(i.changed_at.max(SystemTime::UNIX_EPOCH)));
    Row {
        key: row.key.to_string(),
        live: inspection.is_some(),
        tabs: row.tabs,
        visible_tabs: row.visible_tabs,
        seq: inspection.as_ref().filter(|i| i.ready).map(|i| i.seq),
        epoch: inspection.filter(|i| i.ready).map(|i| i.epoch),
        last_active_ms: changed.max(stored_at),
    }
}

/// 400 `invalid_query`: a cursor this listing did not give.
fn bad_cursor(cursor: &str, listing: &str) -> ApiError {
    let shown: String = cursor.chars().take(40).collect();
    ApiError::new(
        ApiReason::InvalidQuery,
        format!("`cursor` {shown:?} is not a next_cursor of the {listing} listing"),
    )
}

/// A fresh order for a new [`Api`]: its live listing's cursors hold for
/// the API's life.
pub(super) fn new_order() -> RandomState {
    RandomState::new()
}
