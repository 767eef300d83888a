//! The Deploy step's API: build firmware for a board, download it, run it
//! on the emulated board.

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tinystudio_deploy::{BOARDS, Board, check_fits};
use tinystudio_domain::{JobId, JobKind, JobStatus, ModelId, ProjectId};
use tinystudio_storage::jobs::{self, Job};
use tinystudio_storage::{BlobKey, models};

use super::jobs::job_json;
use super::models::model_id;
use super::{ApiJson, parse_id};
use crate::auth::ProjectAccess;
use crate::classify::{MODEL_BLOB, impulse_of};
use crate::{AppError, AppState};

/// Where the run job finds its input (see `tinystudio_worker::jobs::run`).
const RUN_INPUT: &str = "input.pixels";
/// How long `.../run` waits for the emulated board before answering 409.
const RUN_WAIT: Duration = Duration::from_secs(180);

pub fn board_json(b: &Board) -> Value {
    json!({
        "name": b.name,
        "title": b.title,
        "target": b.target,
        "flashBytes": b.flash_bytes,
        "ramBytes": b.ram_bytes,
        "clockHz": b.clock_hz,
        "emulated": b.emulated,
        "flashing": b.flashing,
    })
}

pub async fn boards() -> Json<Value> {
    Json(json!({ "boards": BOARDS.iter().map(board_json).collect::<Vec<_>>() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    board: String,
}

/// Queues a firmware build, refusing at once a model that cannot fit.
pub async fn start_deploy(
    state: &AppState,
    project: ProjectId,
    model: ModelId,
    board_name: &str,
) -> Result<Job, AppError> {
    let board = tinystudio_deploy::board(board_name).ok_or_else(|| {
        let names: Vec<&str> = BOARDS.iter().map(|b| b.name).collect();
        AppError::BadRequest(format!(
            "unknown board {board_name:?}; boards: {}",
            names.join(", ")
        ))
    })?;
    let model = models::get(&state.db, project, model).await?;
    let blob = state
        .blobs
        .get(&BlobKey::artifact(&model.id.to_string(), MODEL_BLOB)?)
        .await?
        .ok_or_else(|| AppError::Internal(format!("model {} has no int8 file", model.id)))?;
    check_fits(board, &blob).map_err(|e| AppError::Conflict(e.to_string()))?;
    let payload = json!({ "modelId": model.id, "board": board.name });
    Ok(jobs::enqueue(&state.db, project, JobKind::Deploy, &payload, 2).await?)
}

pub async fn deploy(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<DeployBody>,
) -> Result<Json<Value>, AppError> {
    let job = start_deploy(&state, access.project.id, model_id(&id)?, &body.board).await?;
    Ok(Json(json!({ "jobId": job.id, "deploymentId": job.id })))
}

pub async fn list(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<Json<Value>, AppError> {
    let list = jobs::list(&state.db, access.project.id, Some(JobKind::Deploy), 100).await?;
    Ok(Json(
        json!({ "deployments": list.iter().map(job_json).collect::<Vec<_>>() }),
    ))
}

/// A finished firmware build of this project.
pub async fn deployment(state: &AppState, project: ProjectId, raw: &str) -> Result<Job, AppError> {
    let id: JobId = parse_id(raw, "deployment")?;
    let job = jobs::get(&state.db, project, id)
        .await
        .map_err(|_| AppError::NotFound("no such deployment".into()))?;
    if job.kind != JobKind::Deploy {
        return Err(AppError::NotFound("no such deployment".into()));
    }
    if job.status != JobStatus::Succeeded {
        return Err(AppError::Conflict(format!(
            "the firmware build is {}",
            job.status
        )));
    }
    Ok(job)
}

pub async fn artifact(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id, name)): Path<(String, String, String)>,
) -> Result<Response, AppError> {
    let job = deployment(&state, access.project.id, &id).await?;
    let listed = job
        .result
        .as_ref()
        .and_then(|r| r["artifacts"].as_array())
        .is_some_and(|a| a.iter().any(|x| x["name"] == name.as_str()));
    if !listed {
        return Err(AppError::NotFound(format!(
            "no artifact {name:?} in this deployment"
        )));
    }
    let bytes = state
        .blobs
        .get(&BlobKey::artifact(&job.id.to_string(), &name)?)
        .await?
        .ok_or_else(|| AppError::Internal(format!("artifact {name} of {} is missing", job.id)))?;
    let board = job
        .result
        .as_ref()
        .and_then(|r| r["board"].as_str())
        .unwrap_or("board");
    let download = format!("attachment; filename=\"tinystudio-{board}-{name}\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, download),
        ],
        bytes,
    )
        .into_response())
}

/// Runs an image on the emulated board: preprocessed here, classified by the
/// firmware under QEMU on a worker; waits for the answer.
pub async fn run_image(
    state: &AppState,
    project: ProjectId,
    deployment_raw: &str,
    image: Vec<u8>,
) -> Result<Value, AppError> {
    let job = deployment(state, project, deployment_raw).await?;
    let result = job.result.clone().unwrap_or_default();
    if result["emulated"] != true {
        return Err(AppError::BadRequest(format!(
            "only builds for the emulated board can run here; this one is for {}",
            result["board"].as_str().unwrap_or("another board")
        )));
    }
    let model_id: ModelId = serde_json::from_value(result["modelId"].clone())
        .map_err(|_| AppError::Internal("deployment without model".into()))?;
    let model = models::get(&state.db, project, model_id).await?;
    let impulse = impulse_of(&model)?;
    if image.is_empty() {
        return Err(AppError::BadRequest(
            "send the image as the request body".into(),
        ));
    }
    let limits = state.config.decode;
    let pixels = tokio::task::spawn_blocking(move || {
        tinystudio_images::decode(&image, &limits)
            .map(|d| {
                tinystudio_images::preprocess(&d.image, &impulse.input, impulse.image.color_depth)
            })
            .map_err(|e| AppError::BadRequest(format!("the image: {e}")))
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))??;

    // The input goes to the blob store under the run's id, so a worker on
    // another machine can read it.
    let run_id = JobId::new();
    state
        .blobs
        .put(
            &BlobKey::artifact(&run_id.to_string(), RUN_INPUT)?,
            pixels.into(),
        )
        .await?;
    let run = jobs::enqueue_with_id(
        &state.db,
        run_id,
        project,
        JobKind::Run,
        &json!({ "deploymentId": job.id }),
        1,
    )
    .await?;
    let deadline = Instant::now() + RUN_WAIT;
    loop {
        let current = jobs::get(&state.db, project, run.id).await?;
        match current.status {
            JobStatus::Succeeded => {
                let mut out = current.result.unwrap_or_default();
                out["jobId"] = json!(run.id);
                return Ok(out);
            }
            JobStatus::Failed | JobStatus::Cancelled => {
                return Err(AppError::Conflict(format!(
                    "the emulated board did not answer: {}",
                    current.error.unwrap_or_default()
                )));
            }
            _ if Instant::now() > deadline => {
                return Err(AppError::Conflict(format!(
                    "no worker ran the emulated board within {} s (job {}); is a worker running?",
                    RUN_WAIT.as_secs(),
                    run.id
                )));
            }
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

pub async fn run(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        run_image(&state, access.project.id, &id, body.to_vec()).await?,
    ))
}
