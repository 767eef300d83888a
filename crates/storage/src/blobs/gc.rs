use std::collections::HashSet;

use sqlx::Row;

use super::{BlobKey, BlobStore};
use crate::{Db, Result, now_ms};

/// What a collection removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcReport {
    pub examined: usize,
    pub deleted: usize,
}

/// Deletes blobs that no row references and that were last written more
/// than `grace_ms` ago.
///
/// The grace period is what makes this safe next to uploads: an upload
/// writes (or rewrites) its blob before the row that references it commits,
/// so a blob that is about to be referenced always looks fresh. Only a blob
/// untouched for the whole grace period and unreferenced is removed.
pub async fn collect_garbage(db: &Db, store: &dyn BlobStore, grace_ms: i64) -> Result<GcReport> {
    let cutoff = now_ms() - grace_ms;
    let mut report = GcReport::default();

    let mut candidates = Vec::new();
    for prefix in ["samples/", "thumbs/", "artifacts/"] {
        for entry in store.list(prefix).await? {
            report.examined += 1;
            if entry.modified_ms <= cutoff {
                candidates.push(entry.key);
            }
        }
    }
    if candidates.is_empty() {
        return Ok(report);
    }

    // Read the references after listing: a row committed before this point
    // protects its blob; a later one comes with a fresh blob write.
    let shas: HashSet<String> = sqlx::query("SELECT DISTINCT sha256 FROM samples")
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    let owners: HashSet<String> = sqlx::query("SELECT id FROM models UNION SELECT id FROM jobs")
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;

    for key in candidates {
        let referenced = match &key {
            BlobKey::Sample(sha) | BlobKey::Thumbnail(sha) => shas.contains(sha),
            BlobKey::Artifact { owner, .. } => owners.contains(owner),
        };
        if !referenced {
            store.delete(&key).await?;
            report.deleted += 1;
        }
    }
    if report.deleted > 0 {
        tracing::info!(
            blobs.deleted = report.deleted,
            "collected unreferenced blobs"
        );
    }
    Ok(report)
}
