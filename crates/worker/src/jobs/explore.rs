//! The data explorer's map: every sample of the project (training and
//! testing), preprocessed for the impulse, through the pipeline's
//! `explore` (backbone features, PCA, labels' centres) on a blocking thread.

use std::collections::BTreeSet;

use anyhow::Context;
use tinystudio_domain::Category;
use tinystudio_domain::jobs::{Explore, ExploreOutput, ExplorePayload, MapPoint};
use tinystudio_pipeline::{ExploreInput, Update, preprocess_all};
use tinystudio_storage::{impulses, samples};

use super::RunJob;
use crate::dataset::load_originals;
use crate::{JobContext, Permanent};

impl RunJob for Explore {
    async fn run(ctx: JobContext, payload: ExplorePayload) -> anyhow::Result<ExploreOutput> {
        let project = ctx.job.project_id;
        let impulse = impulses::get_version(&ctx.db, project, payload.impulse_version)
            .await
            .map_err(|e| Permanent(format!("impulse version {}: {e}", payload.impulse_version)))?
            .config;
        let mut all = samples::all_in_category(&ctx.db, project, Category::Training).await?;
        all.extend(samples::all_in_category(&ctx.db, project, Category::Testing).await?);
        if all.is_empty() {
            return Err(Permanent("the project has no samples to map".into()).into());
        }
        let labels: Vec<String> = all
            .iter()
            .filter_map(|s| s.label.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let label_of: Vec<Option<usize>> = all
            .iter()
            .map(|s| {
                s.label
                    .as_ref()
                    .and_then(|l| labels.iter().position(|x| x == l))
            })
            .collect();
        ctx.log(format!(
            "mapping {} samples of {} labels",
            all.len(),
            labels.len()
        ))
        .await?;
        let originals = load_originals(&ctx, &all).await?;
        let names: Vec<String> = all.iter().map(|s| s.file_name.clone()).collect();
        let hashes: Vec<String> = all.iter().map(|s| s.sha256.clone()).collect();
        let (work_dir, backbones_dir) = (
            ctx.config.work_dir.clone(),
            ctx.config.backbones_dir.clone(),
        );
        let cancel = ctx.cancel_flag();
        let progress = ctx.clone();
        let labels_for_map = label_of.clone();
        let explored = tokio::task::spawn_blocking(move || {
            let pixels = preprocess_all(&originals, &names, &impulse)?;
            tinystudio_pipeline::explore(
                ExploreInput {
                    impulse,
                    pixels,
                    hashes,
                    labels: labels_for_map,
                    work_dir,
                    backbones_dir,
                    cancel: &cancel,
                },
                &|update| {
                    if let Update::Progress(p) = update {
                        progress.set_progress(p);
                    }
                },
            )
        })
        .await
        .context("explore task")??;
        ctx.log(format!(
            "PCA: the two axes hold {:.0} % and {:.0} % of the variance; {} samples lie nearer another label",
            explored.explained[0] * 100.0,
            explored.explained[1] * 100.0,
            explored.nearer.iter().flatten().count()
        ))
        .await?;
        let points = all
            .iter()
            .zip(&explored.points)
            .zip(label_of.iter().zip(&explored.nearer))
            .map(|((sample, p), (&label, &nearer))| MapPoint {
                sample: sample.id,
                x: p[0],
                y: p[1],
                label,
                testing: sample.category == Category::Testing,
                nearer: nearer.map(|(l, _)| l),
                margin: nearer.map(|(_, m)| m as f32),
            })
            .collect();
        Ok(ExploreOutput {
            method: "PCA".into(),
            impulse_version: payload.impulse_version,
            explained: explored.explained,
            labels,
            points,
        })
    }
}
