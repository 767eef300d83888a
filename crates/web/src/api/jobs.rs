//! Jobs through the API: state, live events (server-sent events), cancel.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tinystudio_domain::{JobId, JobKind, ProjectId};
use tinystudio_storage::jobs::{self, Job};

use super::{ApiQuery, parse_id};
use crate::actions::jobs::load;
use crate::auth::ProjectAccess;
use crate::{AppError, AppState};

/// A job as the API shows it.
pub fn job_json(job: &Job) -> Value {
    json!({
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "error": job.error,
        "result": job.raw_result(),
        "attempts": job.attempts,
        "parentId": job.parent_id,
        "createdAt": job.created_at,
        "startedAt": job.started_at,
        "finishedAt": job.finished_at,
    })
}

fn job_id(raw: &str) -> Result<JobId, AppError> {
    parse_id(raw, "job")
}

pub async fn get(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(job_json(&load(&state, access.project.id, &id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    kind: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    access: ProjectAccess,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, AppError> {
    let kind = q.kind.as_deref().map(str::parse::<JobKind>).transpose()?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let list = jobs::list(&state.db, access.project.id, kind, limit).await?;
    Ok(Json(
        json!({ "jobs": list.iter().map(job_json).collect::<Vec<_>>() }),
    ))
}

pub async fn cancel(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let job = jobs::request_cancel(&state.db, access.project.id, job_id(&id)?).await?;
    Ok(Json(job_json(&job)))
}

/// How often the stream looks for new events. Events travel through the
/// database, so a page served here shows jobs run by workers anywhere.
const POLL: Duration = Duration::from_millis(400);

/// `GET .../jobs/{jobId}/events`: the job's log and metrics as server-sent
/// events (`log`, `epoch`, ... with JSON data), then a `status` event each
/// time the status or progress changes; ends when the job has finished and
/// every event was sent. `Last-Event-ID` resumes after a reconnect.
pub async fn events(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let job = load(&state, access.project.id, &id).await?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    let stream = job_stream(state, access.project.id, job.id, after);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn job_stream(
    state: AppState,
    project: ProjectId,
    id: JobId,
    after: i64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    struct Cursor {
        after: i64,
        last_status: Option<Value>,
        done: bool,
        queue: std::collections::VecDeque<Event>,
    }
    let cursor = Cursor {
        after,
        last_status: None,
        done: false,
        queue: Default::default(),
    };
    futures::stream::unfold((state, cursor), move |(state, mut c)| async move {
        loop {
            if let Some(event) = c.queue.pop_front() {
                return Some((Ok(event), (state, c)));
            }
            if c.done {
                return None;
            }
            let job = match jobs::get(&state.db, project, id).await {
                Ok(job) => job,
                Err(_) => return None,
            };
            let finished = job.status.is_finished();
            match jobs::events_since(&state.db, id, c.after, 500).await {
                Ok(events) => {
                    let more = events.len() == 500;
                    for e in events {
                        c.after = e.id;
                        c.queue.push_back(
                            Event::default()
                                .id(e.id.to_string())
                                .event(e.report.kind())
                                .data(json!({ "at": e.at, "data": e.report.data() }).to_string()),
                        );
                    }
                    if more {
                        continue;
                    }
                }
                Err(_) => return None,
            }
            let status = job_json(&job);
            if c.last_status.as_ref() != Some(&status) {
                c.queue
                    .push_back(Event::default().event("status").data(status.to_string()));
                c.last_status = Some(status);
            }
            if finished {
                c.done = true;
                continue;
            }
            if c.queue.is_empty() {
                tokio::time::sleep(POLL).await;
            }
        }
    })
}
