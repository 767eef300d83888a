//! Finding a project's jobs.

use tinystudio_domain::{JobId, ProjectId};
use tinystudio_storage::jobs::{self, Job};

use super::parse_id;
use crate::{AppError, AppState};

/// The job `raw_id` names, if it is one of `project`'s.
pub async fn load(state: &AppState, project: ProjectId, raw_id: &str) -> Result<Job, AppError> {
    let id: JobId = parse_id(raw_id, "job")?;
    Ok(jobs::get(&state.db, project, id).await?)
}
