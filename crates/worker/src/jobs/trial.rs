//! One trial of an impulse search (`TuneTrial`), on whichever worker
//! claimed it: the search's training set (borrowed from the search when it
//! runs in this process, loaded and checked against the search's
//! fingerprint otherwise), then the pipeline's `run_trial` on a blocking
//! thread.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use anyhow::Context;
use tinystudio_domain::jobs::{Trial, TrialPayload, TuneTrial};
use tinystudio_pipeline::{TrainingData, TrialEnv, TrialRequest, run_trial};
use tinystudio_storage::now_ms;

use super::RunJob;
use crate::dataset::TrainingSet;
use crate::{Cancelled, JobContext, Permanent};

/// The training sets of the searches running in this process, by
/// fingerprint: a trial run beside its search uses the search's copy
/// instead of fetching every file again.
static SEARCHES: Mutex<Vec<(String, Weak<TrainingData>)>> = Mutex::new(Vec::new());

/// Lends `data` to this process's trials for as long as the search holds it.
pub(crate) fn lend(fingerprint: &str, data: &Arc<TrainingData>) {
    if let Ok(mut searches) = SEARCHES.lock() {
        searches.retain(|(_, d)| d.strong_count() > 0);
        searches.push((fingerprint.to_owned(), Arc::downgrade(data)));
    }
}

fn borrowed(fingerprint: &str) -> Option<Arc<TrainingData>> {
    let searches = SEARCHES.lock().ok()?;
    searches
        .iter()
        .filter(|(f, _)| f == fingerprint)
        .find_map(|(_, d)| d.upgrade())
}

impl RunJob for TuneTrial {
    async fn run(ctx: JobContext, payload: TrialPayload) -> anyhow::Result<Trial> {
        let board = tinystudio_deploy::board(&payload.board)
            .ok_or_else(|| Permanent(format!("unknown board {:?}", payload.board)))?;
        let data = match borrowed(&payload.training_set) {
            Some(data) => data,
            None => {
                let set = TrainingSet::load(&ctx, ctx.job.project_id).await?;
                if set.fingerprint() != payload.training_set {
                    return Err(Permanent(
                        "the training set changed after the search started (samples added, \
                         removed or relabelled): this trial would score other data"
                            .into(),
                    )
                    .into());
                }
                Arc::new(set.data(&ctx).await?)
            }
        };
        let env = TrialEnv {
            work_dir: ctx.config.work_dir.clone(),
            backbones_dir: ctx.config.backbones_dir.clone(),
            board,
            latency_budget_ms: payload.latency_budget_ms,
        };
        let left = u64::try_from(payload.deadline_ms - now_ms()).unwrap_or(0);
        let request = TrialRequest {
            impulse: payload.impulse,
            best_so_far: payload.best_so_far,
            deadline: Instant::now() + Duration::from_millis(left),
        };
        let cancel = ctx.cancel_flag();
        let trial = tokio::task::spawn_blocking(move || run_trial(&data, &env, &request, &cancel))
            .await
            .context("trial task")?;
        if ctx.is_cancelled() {
            return Err(Cancelled.into());
        }
        Ok(Trial {
            worker: Some(ctx.config.worker_id.clone()),
            ..trial
        })
    }
}
