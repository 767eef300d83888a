//! Tuning: the impulse search (`tinystudio_pipeline::tune`) for one board
//! on a blocking thread, its trials relayed to the job log. Trials keep no
//! models: applying one saves its impulse and trains it again (the feature
//! cache makes that quick, and the seed makes it the same model).

use std::time::Duration;

use anyhow::Context;
use tinystudio_domain::jobs::{Tune, TuneOutput, TunePayload};
use tinystudio_pipeline::{TuneInput, Update};
use tinystudio_storage::impulses;
use tokio::sync::mpsc;

use super::RunJob;
use crate::dataset::{TrainingSet, load_originals};
use crate::{JobContext, Permanent};

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
    let originals = load_originals(&ctx, &set.samples)
        .await?
        .into_iter()
        .map(|b| b.to_vec())
        .collect();
    let input = TuneInput {
        base,
        originals,
        names: set.names(),
        hashes: set.hashes(),
        labels: set.labels,
        class_names: set.class_names,
        work_dir: ctx.config.work_dir.clone(),
        backbones_dir: ctx.config.backbones_dir.clone(),
        board,
        budget: Duration::from_secs(u64::from(payload.budget_seconds)),
        latency_budget_ms: payload.latency_budget_ms,
        cancel: ctx.cancel_flag(),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let blocking = tokio::task::spawn_blocking(move || {
        tinystudio_pipeline::tune(input, &|update| {
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
    blocking.await.context("tuning task")?
}
