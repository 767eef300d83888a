//! Tuning: the impulse search (`tinystudio_pipeline::tune`) for one board
//! on a blocking thread, its trials relayed to the job log. Trials keep no
//! models: applying one saves its impulse and trains it again (the feature
//! cache makes that quick, and the seed makes it the same model).
//!
//! Several workers share a search: its trials are queued as jobs of their
//! own ([`TuneTrial`], run by `trial.rs`), which any idle worker claims;
//! the search's worker runs them too, so a studio with one worker searches
//! as fast as before.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tinystudio_domain::JobId;
use tinystudio_domain::jobs::{
    Trial, TrialOutcome, TrialPayload, Tune, TuneOutput, TunePayload, TuneTrial,
};
use tinystudio_pipeline::{TrialEnv, TrialRequest, TrialRunner, TuneInput, Update};
use tinystudio_storage::{impulses, jobs};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::RunJob;
use crate::dataset::TrainingSet;
use crate::{JobContext, Permanent};

/// How long past its deadline the search waits for a trial another worker
/// holds (a trial stops at the deadline, then quantizes and scores what it
/// has).
const GRACE: Duration = Duration::from_secs(60);
/// How often the search looks for trials other workers finished while it
/// has none of its own to run.
const POLL: Duration = Duration::from_millis(250);

impl RunJob for Tune {
    async fn run(ctx: JobContext, payload: TunePayload) -> anyhow::Result<TuneOutput> {
        run(ctx, payload).await
    }
}

async fn run(ctx: JobContext, payload: TunePayload) -> anyhow::Result<TuneOutput> {
    let project = ctx.job.project_id;
    let board = tinystudio_deploy::board(&payload.board)
        .ok_or_else(|| Permanent(format!("unknown board {:?}", payload.board)))?;
    let base = impulses::get_version(&ctx.db, project, payload.impulse_version)
        .await
        .map_err(|e| Permanent(format!("impulse version {}: {e}", payload.impulse_version)))?
        .config;
    let set = TrainingSet::load(&ctx, project).await?;
    ctx.log(format!(
        "tuning on {} training samples of {} labels ({}), scored on their validation split",
        set.samples.len(),
        set.class_names.len(),
        set.class_names.join(", ")
    ))
    .await?;
    // Trials an earlier attempt of this search queued are not waited for.
    jobs::cancel_children(&ctx.db, ctx.job.id).await?;
    let fingerprint = set.fingerprint();
    let data = Arc::new(set.data(&ctx).await?);
    super::trial::lend(&fingerprint, &data);
    let input = TuneInput {
        base,
        data,
        env: TrialEnv {
            work_dir: ctx.config.work_dir.clone(),
            backbones_dir: ctx.config.backbones_dir.clone(),
            board,
            latency_budget_ms: payload.latency_budget_ms,
        },
        budget: Duration::from_secs(u64::from(payload.budget_seconds)),
        cancel: ctx.cancel_flag(),
    };
    let runner = SharedTrials {
        ctx: ctx.clone(),
        handle: Handle::current(),
        payload,
        fingerprint,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let blocking = tokio::task::spawn_blocking(move || {
        tinystudio_pipeline::tune(&input, &runner, &|update| {
            let _ = tx.send(update);
        })
    });
    while let Some(update) = rx.recv().await {
        match update {
            Update::Log(line) => ctx.log(line).await?,
            Update::Progress(p) => ctx.set_progress(p),
            Update::Epoch(_) => {}
        }
    }
    let output = blocking.await.context("tuning task");
    wind_down(&ctx).await?;
    output?
}

/// Cancels what is left of the search's trials and waits (a lease at most)
/// for those other workers are running to stop, so that a search that has
/// ended leaves nothing running behind it.
async fn wind_down(ctx: &JobContext) -> anyhow::Result<()> {
    jobs::cancel_children(&ctx.db, ctx.job.id).await?;
    let until = Instant::now() + ctx.config.lease;
    while Instant::now() < until {
        let children = jobs::children(&ctx.db, ctx.job.id).await?;
        if children.iter().all(|c| c.status.is_finished()) {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// Runs a search's trials as jobs, on this worker and any other idle one.
/// Called on the search's blocking thread: it waits on the database through
/// the runtime's handle.
struct SharedTrials {
    ctx: JobContext,
    handle: Handle,
    payload: TunePayload,
    fingerprint: String,
}

impl TrialRunner for SharedTrials {
    fn run(
        &self,
        batch: &[TrialRequest],
        done: &mut dyn FnMut(usize, Trial) -> bool,
    ) -> anyhow::Result<()> {
        let search = self.ctx.job.id;
        let db = &self.ctx.db;
        let payloads: Vec<TrialPayload> = batch
            .iter()
            .map(|r| TrialPayload {
                search,
                impulse: r.impulse.clone(),
                board: self.payload.board.clone(),
                latency_budget_ms: self.payload.latency_budget_ms,
                best_so_far: r.best_so_far,
                deadline_ms: unix_ms(r.deadline),
                training_set: self.fingerprint.clone(),
            })
            .collect();
        let ids = self.handle.block_on(jobs::enqueue_children::<TuneTrial>(
            db,
            &self.ctx.job,
            &payloads,
        ))?;
        let collected = self.collect(ids, batch, done);
        // Whatever is left (abandoned, or past the deadline) is cancelled.
        self.handle.block_on(jobs::cancel_children(db, search))?;
        collected
    }
}

impl SharedTrials {
    /// Runs queued trials here while any is left, and hands each finished
    /// one to `done`, until all have finished or `done` has had enough.
    fn collect(
        &self,
        ids: Vec<JobId>,
        batch: &[TrialRequest],
        done: &mut dyn FnMut(usize, Trial) -> bool,
    ) -> anyhow::Result<()> {
        let (db, search) = (&self.ctx.db, self.ctx.job.id);
        let config = &self.ctx.config;
        let lease_ms = config.lease.as_millis() as i64;
        let worker = self.ctx.worker();
        let mut pending: HashMap<JobId, usize> =
            ids.into_iter().enumerate().map(|(i, id)| (id, i)).collect();
        let give_up = batch
            .iter()
            .map(|r| r.deadline)
            .max()
            .unwrap_or_else(Instant::now)
            + GRACE;
        while !pending.is_empty() && !self.ctx.is_cancelled() && Instant::now() < give_up {
            let claimed =
                self.handle
                    .block_on(jobs::claim_child(db, search, &config.worker_id, lease_ms))?;
            match claimed {
                Some(trial) => self.handle.block_on(worker.run_one(trial))?,
                None => std::thread::sleep(POLL),
            }
            for child in self.handle.block_on(jobs::children(db, search))? {
                if !child.status.is_finished() {
                    continue;
                }
                let Some(i) = pending.remove(&child.id) else {
                    continue;
                };
                let trial = match child.output::<TuneTrial>() {
                    Ok(Some(trial)) => trial,
                    _ => Trial {
                        worker: child.worker_id.clone(),
                        ..Trial::unscored(
                            batch[i].impulse.clone(),
                            TrialOutcome::Failed(
                                child
                                    .error
                                    .clone()
                                    .unwrap_or_else(|| child.status.to_string()),
                            ),
                        )
                    },
                };
                if done(i, trial) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// An instant as Unix milliseconds, for a payload another machine reads.
fn unix_ms(at: Instant) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let at = match at.checked_duration_since(Instant::now()) {
        Some(ahead) => now + ahead,
        None => now.saturating_sub(Instant::now() - at),
    };
    at.as_millis() as i64
}
