//! The Deploy step's API: build firmware for a board, download it, run it
//! on the emulated board, and what a model needs on each board.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tinystudio_deploy::library::LibraryKind;
use tinystudio_deploy::{BOARDS, Board};
use tinystudio_domain::JobKind;
use tinystudio_storage::blobs::get_checked;
use tinystudio_storage::jobs;
use tinystudio_storage::{BlobKey, models};

use super::ApiJson;
use super::jobs::job_json;
use super::models::model_id;
use crate::actions::deploy::{
    RunInput, deployment, footprints, library, start_deploy, start_library, start_run,
};
use crate::auth::ProjectAccess;
use crate::{AppError, AppState};

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
    let libraries: Vec<Value> = LibraryKind::ALL
        .iter()
        .map(|k| json!({ "kind": k.as_str(), "title": k.title(), "description": k.description() }))
        .collect();
    Json(json!({
        "boards": BOARDS.iter().map(board_json).collect::<Vec<_>>(),
        "libraries": libraries,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryBody {
    kind: String,
}

/// `POST .../models/{modelId}/library` with `{"kind": "arduino" | "c" |
/// "rust"}`: queues the library's build and answers at once with its job
/// (`GET .../jobs/{jobId}`; the zip is at `.../libraries/{jobId}/download`).
pub async fn start_library_build(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<LibraryBody>,
) -> Result<Json<Value>, AppError> {
    let job = start_library(&state, access.project.id, model_id(&id)?, &body.kind).await?;
    Ok(Json(json!({
        "jobId": job.id,
        "libraryId": job.id,
        "download": format!("/api/projects/{}/libraries/{}/download", access.project.id, job.id),
    })))
}

pub async fn libraries(
    State(state): State<AppState>,
    access: ProjectAccess,
) -> Result<Json<Value>, AppError> {
    let list = jobs::list(&state.db, access.project.id, Some(JobKind::Library), 100).await?;
    Ok(Json(
        json!({ "libraries": list.iter().map(job_json).collect::<Vec<_>>() }),
    ))
}

/// `GET .../libraries/{libraryId}/download`: the library's zip.
pub async fn library_download(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (job, output) = library(&state, access.project.id, &id).await?;
    let name = &output.file.name;
    let bytes = get_checked(
        state.blobs.as_ref(),
        &BlobKey::artifact(&job.id.to_string(), name)?,
        output.file.sha256.as_deref(),
    )
    .await?
    .ok_or_else(|| AppError::Internal(format!("library {name} of {} is missing", job.id)))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    board: String,
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

pub async fn artifact(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id, name)): Path<(String, String, String)>,
) -> Result<Response, AppError> {
    let (job, output) = deployment(&state, access.project.id, &id).await?;
    if !output.has_artifact(&name) {
        return Err(AppError::NotFound(format!(
            "no artifact {name:?} in this deployment"
        )));
    }
    let bytes = get_checked(
        state.blobs.as_ref(),
        &BlobKey::artifact(&job.id.to_string(), &name)?,
        output.artifact_sha256(&name),
    )
    .await?
    .ok_or_else(|| AppError::Internal(format!("artifact {name} of {} is missing", job.id)))?;
    let download = format!(
        "attachment; filename=\"tinystudio-{}-{name}\"",
        output.board
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, download),
        ],
        bytes,
    )
        .into_response())
}

/// `POST .../deployments/{id}/run` with an image as the body: queues a run
/// on the emulated board and answers at once (202) with the run's job,
/// whose result holds the board's answer (`GET .../jobs/{jobId}`, or its
/// event stream).
pub async fn run(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, AppError> {
    let input = RunInput {
        image: body.to_vec(),
        name: None,
        label: None,
    };
    let job = start_run(&state, access.project.id, &id, input).await?;
    let location = format!("/api/projects/{}/jobs/{}", access.project.id, job.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(json!({ "jobId": job.id, "status": job.status })),
    )
        .into_response())
}

/// `GET .../models/{modelId}/footprint`: flash, RAM and latency of the
/// model on every board, estimated, and measured where it was built.
pub async fn footprint(
    State(state): State<AppState>,
    access: ProjectAccess,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let model = models::get(&state.db, access.project.id, model_id(&id)?).await?;
    let boards: Vec<Value> = footprints(&state, access.project.id, &model)
        .await?
        .into_iter()
        .map(|f| {
            json!({
                "board": f.board.name,
                "estimated": f.estimate,
                "fits": f.problem.is_none(),
                "problem": f.problem,
                "measured": f.measured,
            })
        })
        .collect();
    Ok(Json(json!({ "modelId": model.id, "boards": boards })))
}
