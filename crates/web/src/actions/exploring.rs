//! The data explorer: mapping the project's samples by their backbone
//! features (a job), and the latest map.

use tinystudio_domain::ProjectId;
use tinystudio_domain::jobs::{Explore, ExploreOutput, ExplorePayload, JobKind};
use tinystudio_storage::jobs::{self, Job};
use tinystudio_storage::samples;

use super::training::saved_impulse;
use crate::{AppError, AppState};

/// Queues a map of every sample with the current impulse's input and
/// backbone.
pub async fn start_exploring(state: &AppState, project: ProjectId) -> Result<Job, AppError> {
    let counts = samples::counts(&state.db, project).await?;
    if counts.training + counts.testing == 0 {
        return Err(AppError::BadRequest(
            "the project has no samples to map yet".into(),
        ));
    }
    let impulse_version = saved_impulse(state, project).await?;
    Ok(jobs::enqueue::<Explore>(&state.db, project, &ExplorePayload { impulse_version }).await?)
}

/// The project's latest mapping job, with its map once it has succeeded.
pub async fn latest(
    state: &AppState,
    project: ProjectId,
) -> Result<Option<(Job, Option<ExploreOutput>)>, AppError> {
    let Some(job) = jobs::list(&state.db, project, Some(JobKind::Explore), 1)
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let map = job.output::<Explore>()?;
    Ok(Some((job, map)))
}
