//! Testing: run a model (int8 as the board will, or float) over the
//! project's test set and score it.

use std::time::Instant;

use tinystudio_domain::Category;
use tinystudio_domain::jobs::test::{ClassScores, SampleOutcome, TestTime};
use tinystudio_domain::jobs::{Precision, Test, TestOutput, TestPayload};
use tinystudio_storage::{models, samples};

use super::RunJob;
use crate::dataset::load_pixels;
use crate::models::{float_model, int8_runner};
use crate::{Cancelled, JobContext, Permanent};

impl RunJob for Test {
    async fn run(ctx: JobContext, payload: TestPayload) -> anyhow::Result<TestOutput> {
        run(ctx, payload).await
    }
}

async fn run(ctx: JobContext, payload: TestPayload) -> anyhow::Result<TestOutput> {
    let project = ctx.job.project_id;
    let model = models::get(&ctx.db, project, payload.model_id)
        .await
        .map_err(|e| Permanent(format!("model: {e}")))?;
    let impulse = models::impulse_of(&ctx.db, &model).await?;
    let labels = model.labels.clone();
    let all = samples::all_in_category(&ctx.db, project, Category::Testing).await?;
    let (known, skipped): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|s| s.label.as_ref().is_some_and(|l| labels.contains(l)));
    if known.is_empty() {
        return Err(Permanent("the test set has no samples with the model's labels".into()).into());
    }
    ctx.log(format!(
        "testing model v{} ({}) on {} test samples{}",
        model.version,
        payload.precision,
        known.len(),
        if skipped.is_empty() {
            String::new()
        } else {
            format!(
                " ({} without one of the model's labels skipped)",
                skipped.len()
            )
        }
    ))
    .await?;

    let pixels = load_pixels(&ctx, &known, &impulse).await?;
    ctx.set_progress(0.3);
    let started = Instant::now();
    let scores: Vec<Vec<f32>> = match payload.precision {
        Precision::Int8 => {
            let mut runner = int8_runner(&ctx, &model).await?;
            let (scale, zero) = {
                let view = runner.view().map_err(|e| anyhow::anyhow!("{e}"))?;
                let out = view.output().map_err(|e| anyhow::anyhow!("{e}"))?;
                (out.scale, out.zero_point)
            };
            let cancel = ctx.cancel_flag();
            tokio::task::spawn_blocking(move || {
                pixels
                    .iter()
                    .map(|px| {
                        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                            return Err(Cancelled.into());
                        }
                        let out = runner
                            .run_pixels(px)
                            .map_err(|e| anyhow::anyhow!("int8 inference: {e}"))?;
                        Ok(out
                            .iter()
                            .map(|&q| (q as i32 - zero) as f32 * scale)
                            .collect())
                    })
                    .collect::<anyhow::Result<Vec<Vec<f32>>>>()
            })
            .await??
        }
        Precision::Float32 => {
            let trained = float_model(&ctx, &model).await?;
            tokio::task::spawn_blocking(move || {
                let refs: Vec<&[u8]> = pixels.iter().map(Vec::as_slice).collect();
                Ok::<_, anyhow::Error>(trained.predict(&refs)?)
            })
            .await??
        }
    };
    let inference_ms = started.elapsed().as_millis() as u64;
    ctx.set_progress(0.9);

    let n = labels.len();
    let mut confusion = vec![vec![0u64; n]; n];
    let mut uncertain = vec![0u64; n];
    let mut results = Vec::new();
    let mut correct = 0;
    for (sample, score) in known.iter().zip(&scores) {
        let truth = labels
            .iter()
            .position(|l| Some(l) == sample.label.as_ref())
            .unwrap_or(0);
        let predicted = argmax_f32(score);
        let top = score.get(predicted).copied().unwrap_or(0.0) as f64;
        confusion[truth][predicted] += 1;
        let is_uncertain = top < payload.threshold;
        if is_uncertain {
            uncertain[truth] += 1;
        }
        if predicted == truth {
            correct += 1;
        }
        results.push(SampleOutcome {
            sample_id: sample.id,
            file_name: sample.file_name.clone(),
            label: labels[truth].clone(),
            predicted: labels[predicted].clone(),
            score: top,
            correct: predicted == truth,
            uncertain: is_uncertain,
        });
    }
    let per_class = (0..n)
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let predicted: f64 = (0..n).map(|r| confusion[r][c] as f64).sum();
            let support = confusion[c].iter().sum::<u64>();
            let actual = support as f64;
            let precision = if predicted > 0.0 { tp / predicted } else { 0.0 };
            let recall = if actual > 0.0 { tp / actual } else { 0.0 };
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassScores {
                label: labels[c].clone(),
                precision,
                recall,
                f1,
                support,
                uncertain: uncertain[c],
            }
        })
        .collect();
    let accuracy = correct as f64 / known.len() as f64;
    ctx.log(format!(
        "accuracy {:.1}% on {} samples ({} uncertain below {:.2}); inference {} ms",
        accuracy * 100.0,
        known.len(),
        uncertain.iter().sum::<u64>(),
        payload.threshold,
        inference_ms
    ))
    .await?;
    Ok(TestOutput {
        model_id: model.id,
        model_version: model.version,
        precision: payload.precision,
        threshold: payload.threshold,
        accuracy,
        labels,
        confusion_matrix: confusion,
        per_class,
        uncertain: uncertain.iter().sum(),
        samples: results,
        timing_ms: TestTime {
            inference: inference_ms,
        },
    })
}

fn argmax_f32(scores: &[f32]) -> usize {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    #[test]
    fn argmax_takes_the_first_of_ties() {
        assert_eq!(super::argmax_f32(&[0.1, 0.5, 0.5]), 1);
        assert_eq!(tinystudio_pipeline::argmax_i8(&[-128, 3, 3]), 1);
    }
}
