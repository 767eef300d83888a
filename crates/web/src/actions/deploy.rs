//! Firmware builds and runs on the emulated board: starting them, finding
//! a finished build, and what a model needs on each board; libraries for
//! people's own firmware (Arduino, C, Rust) and a model's own files.

use tinystudio_deploy::footprint::latency;
use tinystudio_deploy::library::LibraryKind;
use tinystudio_deploy::{BOARDS, Board, board, check_fits};
use tinystudio_domain::artifacts::{MODEL_BLOB, MODEL_TFLITE, RUN_INPUT};
use tinystudio_domain::footprint::{Basis, Footprint, Latency, Measurement};
use tinystudio_domain::jobs::{
    Deploy, DeployOutput, DeployPayload, Library, LibraryOutput, LibraryPayload, Run, RunPayload,
};
use tinystudio_domain::{JobId, JobKind, JobStatus, ModelId, ProjectId};
use tinystudio_storage::BlobKey;
use tinystudio_storage::jobs::{self, Job};
use tinystudio_storage::models::{self, Model};

use super::model_blob;
use super::parse_id;
use crate::{AppError, AppState};

fn board_named(name: &str) -> Result<&'static Board, AppError> {
    board(name).ok_or_else(|| {
        let names: Vec<&str> = BOARDS.iter().map(|b| b.name).collect();
        AppError::BadRequest(format!(
            "unknown board {name:?}; boards: {}",
            names.join(", ")
        ))
    })
}

/// Queues a firmware build, refusing at once a model that cannot fit.
pub async fn start_deploy(
    state: &AppState,
    project: ProjectId,
    model: ModelId,
    board_name: &str,
) -> Result<Job, AppError> {
    let board = board_named(board_name)?;
    let model = models::get(&state.db, project, model).await?;
    let blob = model_blob(state, &model).await?;
    check_fits(board, &blob).map_err(|e| AppError::Conflict(e.to_string()))?;
    let payload = DeployPayload {
        model_id: model.id,
        board: board.name.to_owned(),
    };
    Ok(jobs::enqueue::<Deploy>(&state.db, project, &payload).await?)
}

/// Queues a library build (`kind`: `arduino`, `c` or `rust`), refusing at
/// once a model the library could not run.
pub async fn start_library(
    state: &AppState,
    project: ProjectId,
    model: ModelId,
    kind: &str,
) -> Result<Job, AppError> {
    let kind = LibraryKind::parse(kind).ok_or_else(|| {
        let kinds: Vec<&str> = LibraryKind::ALL.iter().map(|k| k.as_str()).collect();
        AppError::BadRequest(format!(
            "unknown library kind {kind:?}; kinds: {}",
            kinds.join(", ")
        ))
    })?;
    let model = models::get(&state.db, project, model).await?;
    let blob = model_blob(state, &model).await?;
    if tinystudio_engine::ModelView::parse(&blob).is_err() {
        return Err(AppError::Conflict(format!(
            "model v{} has no int8 file a library can run; train it again",
            model.version
        )));
    }
    let payload = LibraryPayload {
        model_id: model.id,
        kind: kind.as_str().to_owned(),
    };
    Ok(jobs::enqueue::<Library>(&state.db, project, &payload).await?)
}

/// A library build of this project and what it made; one that has not
/// succeeded is a conflict.
pub async fn library(
    state: &AppState,
    project: ProjectId,
    raw: &str,
) -> Result<(Job, LibraryOutput), AppError> {
    let id: JobId = parse_id(raw, "library")?;
    let not_found = || AppError::NotFound("no such library".into());
    let job = jobs::get(&state.db, project, id)
        .await
        .map_err(|_| not_found())?;
    if job.kind != JobKind::Library {
        return Err(not_found());
    }
    match job.output::<Library>()? {
        Some(output) if job.status == JobStatus::Succeeded => Ok((job, output)),
        _ => Err(AppError::Conflict(format!(
            "the library build is {}",
            job.status
        ))),
    }
}

/// The files every model can be downloaded as: the int8 model as a
/// TensorFlow Lite flatbuffer and as the engine's blob.
pub const MODEL_DOWNLOADS: [&str; 2] = [MODEL_TFLITE, MODEL_BLOB];

/// One of a model's [`MODEL_DOWNLOADS`], checked against its recorded hash.
pub async fn model_file(
    state: &AppState,
    project: ProjectId,
    model: ModelId,
    name: &str,
) -> Result<(Model, bytes::Bytes), AppError> {
    let model = models::get(&state.db, project, model).await?;
    if !MODEL_DOWNLOADS.contains(&name) {
        return Err(AppError::NotFound(format!(
            "no model file {name:?}; a model has {}",
            MODEL_DOWNLOADS.join(" and ")
        )));
    }
    let bytes = models::read_artifact(state.blobs.as_ref(), &model, name)
        .await?
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "model v{} has no {name} (it was saved without one)",
                model.version
            ))
        })?;
    Ok((model, bytes))
}

/// A firmware build of this project and what it made; a build that has not
/// succeeded is a conflict.
pub async fn deployment(
    state: &AppState,
    project: ProjectId,
    raw: &str,
) -> Result<(Job, DeployOutput), AppError> {
    let id: JobId = parse_id(raw, "deployment")?;
    let not_found = || AppError::NotFound("no such deployment".into());
    let job = jobs::get(&state.db, project, id)
        .await
        .map_err(|_| not_found())?;
    if job.kind != JobKind::Deploy {
        return Err(not_found());
    }
    match job.output::<Deploy>()? {
        Some(output) if job.status == JobStatus::Succeeded => Ok((job, output)),
        _ => Err(AppError::Conflict(format!(
            "the firmware build is {}",
            job.status
        ))),
    }
}

/// An image to run on the emulated board, and what it is.
pub struct RunInput {
    pub image: Vec<u8>,
    /// A file name, for people.
    pub name: Option<String>,
    /// The label of the test sample the image is.
    pub label: Option<String>,
}

/// Queues a run of a build on the emulated board: the image is decoded and
/// preprocessed here (a bad image is refused now), stored under the run's
/// id for whichever worker takes it, and the run job answers at once.
pub async fn start_run(
    state: &AppState,
    project: ProjectId,
    deployment_raw: &str,
    input: RunInput,
) -> Result<Job, AppError> {
    let (build, output) = deployment(state, project, deployment_raw).await?;
    if !output.emulated {
        return Err(AppError::BadRequest(format!(
            "only builds for the emulated board can run here; this one is for {}",
            output.board
        )));
    }
    let model = models::get(&state.db, project, output.model_id).await?;
    if input.image.is_empty() {
        return Err(AppError::BadRequest(
            "send the image as the request body".into(),
        ));
    }
    let pixels = if model.takes_raw_tensors() {
        // A model that takes raw tensors: the file is the input tensor's bytes.
        let blob = model_blob(state, &model).await?;
        let len = tinystudio_engine::ModelView::parse(&blob)
            .and_then(|v| v.input())
            .map_err(|e| AppError::Internal(format!("model {}: {e}", model.id)))?
            .len;
        if input.image.len() != len {
            return Err(AppError::BadRequest(format!(
                "model v{} takes raw tensors of {len} bytes; the file has {}",
                model.version,
                input.image.len()
            )));
        }
        input.image
    } else {
        let impulse = models::impulse_of(&state.db, &model).await?;
        let limits = state.config.decode;
        let image = input.image;
        tokio::task::spawn_blocking(move || {
            tinystudio_images::decode(&image, &limits)
                .map(|d| {
                    tinystudio_images::preprocess(
                        &d.image,
                        &impulse.input,
                        impulse.image.color_depth,
                    )
                })
                .map_err(|e| AppError::BadRequest(format!("the image: {e}")))
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??
    };

    let run_id = JobId::new();
    state
        .blobs
        .put(
            &BlobKey::artifact(&run_id.to_string(), RUN_INPUT)?,
            pixels.into(),
        )
        .await?;
    let payload = RunPayload {
        deployment_id: build.id,
        input_name: input.name,
        true_label: input.label,
    };
    Ok(jobs::enqueue_with_id::<Run>(&state.db, run_id, project, &payload).await?)
}

/// What a model needs on one board: the estimate before building, and the
/// measurement of its newest build for that board, if any.
pub struct BoardFootprint {
    pub board: &'static Board,
    pub estimate: Footprint,
    /// Why the model cannot go on this board, and what would make it fit.
    pub problem: Option<String>,
    pub measured: Option<Footprint>,
    /// Time per inference measured on the emulated board, at this board's
    /// clock, whether or not the model was built for this board.
    pub measured_latency: Option<Latency>,
}

/// [`BoardFootprint`] of `model` on every board. Latency measured on the
/// emulated board holds for every Cortex-M4 board (the same kernels run),
/// so a build for a real board borrows it.
pub async fn footprints(
    state: &AppState,
    project: ProjectId,
    model: &Model,
) -> Result<Vec<BoardFootprint>, AppError> {
    let blob = model_blob(state, model).await?;
    let builds: Vec<DeployOutput> = jobs::list(&state.db, project, Some(JobKind::Deploy), 200)
        .await?
        .iter()
        .filter(|j| j.status == JobStatus::Succeeded)
        .filter_map(|j| j.output::<Deploy>().ok().flatten())
        .filter(|o| o.model_id == model.id)
        .collect();
    let emulated_run: Option<Measurement> = builds.iter().find_map(|b| b.measured.clone());
    BOARDS
        .iter()
        .map(|b| {
            let (estimate, problem) = match check_fits(b, &blob) {
                Ok(estimate) => (estimate, None),
                Err(tinystudio_deploy::Error::DoesNotFit(d)) => {
                    (d.footprint.clone(), Some(d.to_string()))
                }
                Err(e) => return Err(AppError::Internal(format!("model {}: {e}", model.id))),
            };
            let measured = builds.iter().find(|o| o.board == b.name).map(|o| {
                let run = o.measured.as_ref().or(emulated_run.as_ref());
                tinystudio_deploy::footprint::measured(b, &o.size, run)
            });
            let measured_latency = emulated_run
                .as_ref()
                .and_then(|run| latency(b, run.instructions, Basis::Measured));
            Ok(BoardFootprint {
                board: b,
                estimate,
                problem,
                measured,
                measured_latency,
            })
        })
        .collect()
}
