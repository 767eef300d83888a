//! Starting a test run and finding a model's latest one.

use tinystudio_domain::jobs::{Precision, Test, TestOutput, TestPayload};
use tinystudio_domain::{JobKind, ModelId, ProjectId};
use tinystudio_storage::jobs::{self, Job};
use tinystudio_storage::models;

use crate::{AppError, AppState};

/// Edge Impulse's default minimum confidence.
pub const DEFAULT_THRESHOLD: f64 = 0.6;

/// Queues a test of `model` on the test set: `precision` `"int8"` (the
/// default) or `"float32"`, `threshold` 0..1 (default [`DEFAULT_THRESHOLD`]).
pub async fn start_test(
    state: &AppState,
    project: ProjectId,
    model: ModelId,
    precision: Option<&str>,
    threshold: Option<f64>,
) -> Result<Job, AppError> {
    let model = models::get(&state.db, project, model).await?;
    let precision: Precision = match precision {
        Some(p) => p.parse()?,
        None => Precision::default(),
    };
    if model.takes_raw_tensors() {
        return Err(AppError::BadRequest(format!(
            "model v{} takes raw tensors, not the test set's pictures",
            model.version
        )));
    }
    if model.imported.is_some() && precision != Precision::Int8 {
        return Err(AppError::BadRequest(format!(
            "model v{} was imported as an int8 .tflite: it has no float weights to test",
            model.version
        )));
    }
    let threshold = threshold.unwrap_or(DEFAULT_THRESHOLD);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(AppError::BadRequest(
            "threshold must be between 0 and 1".into(),
        ));
    }
    let payload = TestPayload {
        model_id: model.id,
        precision,
        threshold,
    };
    Ok(jobs::enqueue::<Test>(&state.db, project, &payload).await?)
}

/// The newest test job of `model`, finished or not.
pub async fn latest_test(
    state: &AppState,
    project: ProjectId,
    model: ModelId,
) -> Result<Option<Job>, AppError> {
    let recent = jobs::list(&state.db, project, Some(JobKind::Test), 50).await?;
    Ok(recent
        .into_iter()
        .find(|j| j.payload::<Test>().is_ok_and(|p| p.model_id == model)))
}

/// The newest finished results of `model` at each precision: (int8, float32).
pub async fn latest_results(
    state: &AppState,
    project: ProjectId,
    model: ModelId,
) -> Result<(Option<TestOutput>, Option<TestOutput>), AppError> {
    let recent = jobs::list(&state.db, project, Some(JobKind::Test), 50).await?;
    let (mut int8, mut float) = (None, None);
    for job in recent {
        let Ok(Some(output)) = job.output::<Test>() else {
            continue;
        };
        if output.model_id != model {
            continue;
        }
        let slot = match output.precision {
            Precision::Int8 => &mut int8,
            Precision::Float32 => &mut float,
        };
        if slot.is_none() {
            *slot = Some(output);
        }
    }
    Ok((int8, float))
}
