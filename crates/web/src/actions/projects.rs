//! Project operations the API and the Settings page share.

use tinystudio_domain::ProjectId;
use tinystudio_storage::blobs::collect_garbage;
use tinystudio_storage::projects;

use crate::{AppError, AppState};

/// Deletes a project and collects the files only it referenced.
pub async fn delete_project(state: &AppState, id: ProjectId) -> Result<(), AppError> {
    projects::delete(&state.db, id).await?;
    collect_garbage(&state.db, state.blobs.as_ref(), state.config.gc_grace_ms).await?;
    Ok(())
}
