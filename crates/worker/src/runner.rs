use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tinystudio_domain::JobKind;
use tinystudio_domain::jobs::{
    Deploy, Explore, Import, Library, Run, Test, Train, Tune, TuneTrial,
};
use tinystudio_storage::jobs::{self, Job, Lease};
use tinystudio_storage::{BlobStore, Db, StorageError};

use crate::context::{Cancelled, JobContext};
use crate::jobs::RunJob;

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this worker in the queue (and in logs).
    pub worker_id: String,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// How often a running job's lease is renewed (and cancellation checked).
    pub heartbeat: Duration,
    /// How long to sleep when the queue is empty.
    pub poll: Duration,
    /// Where pretrained backbones are found (and downloaded to).
    pub backbones_dir: PathBuf,
    /// Scratch space and caches (feature cache, run folders).
    pub work_dir: PathBuf,
    /// Firmware builds, one cargo target folder per board, kept so the next
    /// build only relinks. Workers on one machine may share it (builds of a
    /// board take turns on a lock).
    pub firmware_target_dir: PathBuf,
}

impl WorkerConfig {
    pub fn new(data_dir: &std::path::Path) -> Self {
        Self {
            worker_id: format!("{}-{}", hostname(), uuid::Uuid::new_v4().simple()),
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(2),
            poll: Duration::from_millis(500),
            backbones_dir: data_dir.join("backbones"),
            work_dir: data_dir.join("work"),
            firmware_target_dir: data_dir.join("work").join("firmware-target"),
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into())
}

/// Claims and runs jobs until stopped.
#[derive(Clone)]
pub struct Worker {
    db: Db,
    blobs: Arc<dyn BlobStore>,
    config: Arc<WorkerConfig>,
}

impl Worker {
    pub fn new(db: Db, blobs: Arc<dyn BlobStore>, config: WorkerConfig) -> Self {
        Self {
            db,
            blobs,
            config: Arc::new(config),
        }
    }

    /// Runs forever: reap expired leases, claim, run, repeat.
    pub async fn run(self) {
        tracing::info!(worker.id = %self.config.worker_id, "worker started");
        let mut waker = jobs::JobWaker::new(&self.db).await;
        loop {
            match self.step().await {
                Ok(true) => {}
                Ok(false) => waker.wait(self.config.poll).await,
                Err(e) => {
                    tracing::error!(error = %e, "worker loop");
                    tokio::time::sleep(self.config.poll * 4).await;
                }
            }
        }
    }

    /// Runs jobs until the queue has none ready; for tests and one-shot use.
    pub async fn run_pending_jobs(&self) -> anyhow::Result<usize> {
        let mut n = 0;
        while self.step().await? {
            n += 1;
        }
        Ok(n)
    }

    /// Reaps, then claims and runs one job. Returns whether a job ran.
    async fn step(&self) -> anyhow::Result<bool> {
        jobs::reap_expired(&self.db).await?;
        let lease_ms = self.config.lease.as_millis() as i64;
        let Some(job) = jobs::claim(&self.db, &self.config.worker_id, lease_ms).await? else {
            return Ok(false);
        };
        self.run_one(job).await?;
        Ok(true)
    }

    /// Runs a claimed job to its end and records the outcome.
    pub(crate) async fn run_one(&self, job: Job) -> anyhow::Result<()> {
        let id = job.id;
        let worker_id = self.config.worker_id.clone();
        tracing::info!(job.id = %id, job.kind = %job.kind, job.attempt = job.attempts, "job started");
        let ctx = JobContext {
            db: self.db.clone(),
            blobs: self.blobs.clone(),
            config: self.config.clone(),
            job,
            cancel: Arc::new(AtomicBool::new(false)),
            progress: Arc::new(AtomicU64::new(0)),
        };
        let lost = Arc::new(AtomicBool::new(false));
        let heartbeat = tokio::spawn(heartbeat_loop(ctx.clone(), lost.clone()));
        let started = std::time::Instant::now();
        let outcome = dispatch(ctx.clone()).await;
        heartbeat.abort();

        if lost.load(Ordering::Relaxed) {
            tracing::warn!(job.id = %id, "lease lost; the job's outcome is discarded");
            return Ok(());
        }
        let duration_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok(result) => {
                jobs::succeed(&self.db, id, &worker_id, &result).await?;
                tracing::info!(job.id = %id, duration_ms, "job succeeded");
            }
            Err(e) => {
                let failure = if ctx.is_cancelled() {
                    Failure::Cancelled
                } else {
                    Failure::of(&e)
                };
                if failure == Failure::Cancelled {
                    jobs::cancelled(&self.db, id, &worker_id).await?;
                    tracing::info!(job.id = %id, duration_ms, "job cancelled");
                } else {
                    let message = format!("{e:#}");
                    let _ = ctx.log(format!("error: {message}")).await;
                    let retry = failure == Failure::Transient;
                    jobs::fail(&self.db, id, &worker_id, &message, retry).await?;
                    tracing::warn!(job.id = %id, duration_ms, error = %message, retry, "job failed");
                }
            }
        }
        Ok(())
    }
}

impl JobContext {
    /// A worker like the one running this job, to run the jobs this job
    /// queued (a search's trials) under the same name.
    pub(crate) fn worker(&self) -> Worker {
        Worker {
            db: self.db.clone(),
            blobs: self.blobs.clone(),
            config: self.config.clone(),
        }
    }
}

/// An error that retrying cannot fix, said in so many words (bad input,
/// missing data). Most such errors need no marking: see [`Failure::of`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Permanent(pub String);

/// What a failed run means for the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// It stopped because it was asked to.
    Cancelled,
    /// It would fail the same way again: it fails for good now.
    Permanent,
    /// Another run may succeed: it is retried with backoff while its
    /// kind's attempts remain.
    Transient,
}

impl Failure {
    /// A job computes its output from its payload and stored data, so the
    /// same run fails the same way again (a model that does not quantize,
    /// a corrupt file, a missing model), unless what failed was reaching
    /// that data: the database, the blob store, the disk. Only those are
    /// retried. (A worker that dies mid-job is retried too, by the reaper.)
    pub fn of(error: &anyhow::Error) -> Failure {
        let chain = || error.chain();
        if chain().any(|c| c.is::<Cancelled>()) {
            Failure::Cancelled
        } else if chain().any(|c| c.is::<Permanent>()) {
            Failure::Permanent
        } else if chain().any(|c| {
            c.downcast_ref::<StorageError>()
                .is_some_and(StorageError::is_transient)
                || c.is::<std::io::Error>()
        }) {
            Failure::Transient
        } else {
            Failure::Permanent
        }
    }
}

async fn heartbeat_loop(ctx: JobContext, lost: Arc<AtomicBool>) {
    let lease_ms = ctx.config.lease.as_millis() as i64;
    loop {
        tokio::time::sleep(ctx.config.heartbeat).await;
        match jobs::heartbeat(
            &ctx.db,
            ctx.job.id,
            &ctx.config.worker_id,
            lease_ms,
            Some(ctx.progress()),
        )
        .await
        {
            Ok(Lease::Held) => {}
            Ok(Lease::CancelRequested) => ctx.cancel.store(true, Ordering::Relaxed),
            Ok(Lease::Lost) => {
                lost.store(true, Ordering::Relaxed);
                ctx.cancel.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => tracing::warn!(job.id = %ctx.job.id, error = %e, "heartbeat failed"),
        }
    }
}

async fn dispatch(ctx: JobContext) -> anyhow::Result<Value> {
    match ctx.job.kind {
        JobKind::Train => execute::<Train>(ctx).await,
        JobKind::Test => execute::<Test>(ctx).await,
        JobKind::Deploy => execute::<Deploy>(ctx).await,
        JobKind::Run => execute::<Run>(ctx).await,
        JobKind::Tune => execute::<Tune>(ctx).await,
        JobKind::Trial => execute::<TuneTrial>(ctx).await,
        JobKind::Explore => execute::<Explore>(ctx).await,
        JobKind::Import => execute::<Import>(ctx).await,
        JobKind::Library => execute::<Library>(ctx).await,
    }
}

/// Decodes the payload as kind `J` defines it, runs the job, and encodes
/// its output for the queue.
async fn execute<J: RunJob>(ctx: JobContext) -> anyhow::Result<Value> {
    let payload = ctx
        .job
        .payload::<J>()
        .map_err(|e| Permanent(format!("invalid job: {e}")))?;
    let output = J::run(ctx, payload).await?;
    Ok(tinystudio_domain::jobs::to_stored_json(&output)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reaching_the_data_is_retried() {
        let storage = |e: StorageError| Failure::of(&anyhow::Error::from(e).context("saving"));
        assert_eq!(
            storage(StorageError::Blob("connection reset".into())),
            Failure::Transient
        );
        let disk = std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left");
        assert_eq!(Failure::of(&anyhow::Error::from(disk)), Failure::Transient);
        // The same input fails the same way again.
        assert_eq!(storage(StorageError::NotFound("model")), Failure::Permanent);
        assert_eq!(
            Failure::of(&anyhow::anyhow!("quantizing: activation range is empty")),
            Failure::Permanent
        );
        assert_eq!(
            Failure::of(&anyhow::Error::from(Permanent("bad payload".into()))),
            Failure::Permanent
        );
        assert_eq!(
            Failure::of(&anyhow::Error::from(Cancelled).context("training")),
            Failure::Cancelled
        );
    }
}
