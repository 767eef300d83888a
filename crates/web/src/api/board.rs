//! The board on this machine's serial port, through the API: ports,
//! connecting, its output live (server-sent events), classifying on it
//! beside the host engine, and flashing a build onto it. Documented in
//! API.md ("Boards on this machine").

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tinystudio_deploy::{BoardEvent, Ready};
use tinystudio_domain::{ModelId, SampleId};
use tokio::sync::broadcast;

use super::{ApiJson, ApiQuery, parse_id};
use crate::actions::board::{
    self, BoardRun, FlashTarget, Link, LinkEvent, MAX_TIMEOUT, Predictions,
};
use crate::actions::deploy::RunInput;
use crate::auth::ProjectAccess;
use crate::{AppError, AppState};

pub fn ready_json(r: &Ready) -> Value {
    json!({
        "board": r.board,
        "protocol": r.protocol,
        "input": r.input,
        "labels": r.labels,
        "arena": r.arena,
        "line": r.line,
    })
}

pub fn predictions_json(p: &Predictions) -> Value {
    let o = &p.output;
    json!({
        "seq": p.seq,
        "at": p.at,
        "unasked": p.unasked,
        "scores": o.scores.iter().map(|(label, score)| json!({"label": label, "score": score})).collect::<Vec<_>>(),
        "predicted": o.top().map(|t| t.0.clone()),
        "raw": o.raw,
        "dspMs": o.dsp_ms,
        "classificationMs": o.classification_ms,
        "instructions": o.instructions(),
    })
}

/// A project's connection as the API shows it.
pub fn status_json(link: Option<&Link>) -> Value {
    let Some(link) = link else {
        return json!({ "connected": false });
    };
    let snap = link.snapshot();
    json!({
        "connected": true,
        "port": link.port,
        "baud": link.baud,
        "connectedAt": link.connected_at,
        "ready": snap.ready.as_ref().map(ready_json),
        "lines": snap.lines,
        "latest": snap.latest.as_ref().map(predictions_json),
    })
}

/// `GET .../board/ports`
pub async fn ports(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<Json<Value>, AppError> {
    let ports = state.boards.ports(access.project.id).await?;
    Ok(Json(json!({
        "ports": ports,
        "defaultBaud": tinystudio_deploy::DEFAULT_BAUD,
    })))
}

/// `GET .../board`
pub async fn status(State(state): State<AppState>, access: ProjectAccess) -> Json<Value> {
    Json(status_json(state.boards.get(access.project.id).as_deref()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectBody {
    #[serde(default)]
    port: String,
    baud: Option<u32>,
}

/// `POST .../board/connect` `{"port", "baud"}`
pub async fn connect(
    State(state): State<AppState>,
    access: ProjectAccess,
    ApiJson(body): ApiJson<ConnectBody>,
) -> Result<Json<Value>, AppError> {
    let link = state
        .boards
        .connect(access.project.id, &body.port, body.baud)
        .await?;
    Ok(Json(status_json(Some(&link))))
}

/// `POST .../board/disconnect`
pub async fn disconnect(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<Json<Value>, AppError> {
    let link = state.boards.disconnect(access.project.id).await?;
    Ok(Json(json!({ "success": true, "port": link.port })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClassifyQuery {
    model_id: Option<String>,
    sample_id: Option<String>,
    timeout_ms: Option<u64>,
}

/// `POST .../board/classify?modelId=...&sampleId=...` (or an image as the
/// body instead of `sampleId`): the board's answer beside the host engine's.
pub async fn classify(
    State(state): State<AppState>,
    access: ProjectAccess,
    ApiQuery(q): ApiQuery<ClassifyQuery>,
    body: Bytes,
) -> Result<Json<BoardRun>, AppError> {
    let project = access.project.id;
    let model: ModelId = match q.model_id.as_deref() {
        Some(raw) => parse_id(raw, "model")?,
        None => {
            return Err(AppError::BadRequest(
                "modelId is required: the model whose firmware the board runs".into(),
            ));
        }
    };
    let timeout = match q.timeout_ms {
        Some(ms) if ms == 0 || ms > MAX_TIMEOUT.as_millis() as u64 => {
            return Err(AppError::BadRequest(format!(
                "timeoutMs must be 1 to {}",
                MAX_TIMEOUT.as_millis()
            )));
        }
        other => other.map(Duration::from_millis),
    };
    let input = match (q.sample_id.as_deref(), body.is_empty()) {
        (Some(_), false) => {
            return Err(AppError::BadRequest(
                "send either an image as the body or a sampleId, not both".into(),
            ));
        }
        (Some(raw), true) => {
            let sample: SampleId = parse_id(raw, "sample")?;
            board::sample_input(&state, project, sample).await?
        }
        (None, _) => RunInput {
            image: body.to_vec(),
            name: None,
            label: None,
        },
    };
    Ok(Json(
        board::classify(&state, project, model, input, timeout).await?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FlashBody {
    port: Option<String>,
    drive: Option<String>,
}

/// `POST .../deployments/{id}/flash`, optional `{"port", "drive"}`.
pub async fn flash(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    let body: FlashBody = ApiJson::optional(&body)?;
    let report = board::flash(
        &state,
        access.project.id,
        &id,
        FlashTarget {
            port: body.port,
            drive: body.drive,
        },
    )
    .await?;
    Ok(Json(json!({
        "success": true,
        "method": report.method.name(),
        "commands": report.commands,
        "output": report.output,
    })))
}

/// `GET .../board/events`: `status` first (the connection, its recent
/// lines and latest predictions; with `Last-Event-ID`, the lines after that
/// one instead), then `line` per line (its `seq` is the event id),
/// `predictions` per block (`unasked` for a camera loop's own), `ready`,
/// `boardError`; a last `status` with `"connected": false` ends the stream.
pub async fn events(
    State(state): State<AppState>,
    access: ProjectAccess,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let link = state.boards.connected(access.project.id)?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Subscribe before the snapshot: nothing falls between the two, and
    // what both hold is told apart by `seq`.
    let rx = link.subscribe();
    let snap = link.snapshot();
    let mut first = VecDeque::new();
    match after {
        Some(after) => first.extend(
            snap.lines
                .iter()
                .filter(|l| l.seq > after)
                .map(|l| line_event(l.seq, l.at, &l.line)),
        ),
        None => first.push_back(
            Event::default()
                .event("status")
                .data(status_json(Some(&link)).to_string()),
        ),
    }
    let stream = link_stream(rx, first, snap.seq);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn line_event(seq: u64, at: i64, line: &str) -> Event {
    Event::default()
        .id(seq.to_string())
        .event("line")
        .data(json!({ "seq": seq, "at": at, "line": line }).to_string())
}

fn link_stream(
    rx: broadcast::Receiver<LinkEvent>,
    first: VecDeque<Event>,
    seen: u64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    struct Cursor {
        rx: broadcast::Receiver<LinkEvent>,
        queue: VecDeque<Event>,
        seen: u64,
        done: bool,
    }
    let cursor = Cursor {
        rx,
        queue: first,
        seen,
        done: false,
    };
    futures::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(event) = c.queue.pop_front() {
                return Some((Ok(event), c));
            }
            if c.done {
                return None;
            }
            match c.rx.recv().await {
                Ok(LinkEvent::Line(l)) if l.seq > c.seen => {
                    c.queue.push_back(line_event(l.seq, l.at, &l.line));
                }
                Ok(LinkEvent::Board { seq, at, event }) if seq > c.seen => {
                    c.seen = seq;
                    c.queue.push_back(board_event(seq, at, event));
                }
                Ok(LinkEvent::Closed(why)) => {
                    c.queue.push_back(
                        Event::default()
                            .event("status")
                            .data(json!({ "connected": false, "reason": why }).to_string()),
                    );
                    c.done = true;
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    c.queue
                        .push_back(Event::default().comment(format!("missed {missed} events")));
                }
                Err(broadcast::error::RecvError::Closed) => c.done = true,
            }
        }
    })
}

fn board_event(seq: u64, at: i64, event: BoardEvent) -> Event {
    let (name, data) = match event {
        BoardEvent::Predictions { output, unasked } => (
            "predictions",
            predictions_json(&Predictions {
                seq,
                at,
                unasked,
                output,
            }),
        ),
        BoardEvent::Ready(r) => ("ready", ready_json(&r)),
        BoardEvent::Error { message, unasked } => (
            "boardError",
            json!({ "seq": seq, "at": at, "message": message, "unasked": unasked }),
        ),
        BoardEvent::Panic(line) => (
            "boardError",
            json!({ "seq": seq, "at": at, "message": line, "unasked": false }),
        ),
        BoardEvent::Garbled(why) => (
            "boardError",
            json!({ "seq": seq, "at": at, "message": why, "unasked": false }),
        ),
    };
    Event::default().event(name).data(data.to_string())
}
