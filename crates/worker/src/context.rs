use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tinystudio_domain::Report;
use tinystudio_storage::jobs::{self, Job};
use tinystudio_storage::{BlobStore, Db};

use crate::WorkerConfig;

/// The error a job returns when it stopped because it was asked to (the
/// training pipeline's, so a cancelled pipeline cancels its job).
pub use tinystudio_pipeline::Cancelled;

/// What a running job can reach: storage, its own record, a way to report
/// progress and events, and the cancellation flag the heartbeat sets.
#[derive(Clone)]
pub struct JobContext {
    pub db: Db,
    pub blobs: Arc<dyn BlobStore>,
    pub config: Arc<WorkerConfig>,
    pub job: Job,
    pub(crate) cancel: Arc<AtomicBool>,
    /// Progress in millionths, picked up by the next heartbeat.
    pub(crate) progress: Arc<AtomicU64>,
}

impl JobContext {
    /// True once someone asked the job to stop (or the lease was lost).
    /// Long loops check it between steps and return [`Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Fails with [`Cancelled`] if the job should stop.
    pub fn check_cancelled(&self) -> anyhow::Result<()> {
        if self.is_cancelled() {
            Err(Cancelled.into())
        } else {
            Ok(())
        }
    }

    /// A flag CPU-bound code can poll without async.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// Sets progress (0..1); written to the database with the next heartbeat.
    pub fn set_progress(&self, fraction: f64) {
        let millionths = (fraction.clamp(0.0, 1.0) * 1e6) as u64;
        self.progress.store(millionths, Ordering::Relaxed);
    }

    pub(crate) fn progress(&self) -> f64 {
        self.progress.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Records an event (shown live on the page and in the SSE stream).
    pub async fn report(&self, report: &Report) -> anyhow::Result<()> {
        jobs::add_event(&self.db, self.job.id, report).await?;
        Ok(())
    }

    /// A line of the job's log.
    pub async fn log(&self, line: impl Into<String>) -> anyhow::Result<()> {
        let line = line.into();
        tracing::info!(job.id = %self.job.id, "{line}");
        self.report(&Report::Log(line)).await
    }
}
