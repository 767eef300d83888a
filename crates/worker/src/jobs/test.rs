//! Testing: run a model (int8 as the board will, or float) over the
//! project's test set and score it.

use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};
use tinystudio_domain::{Category, ModelId};
use tinystudio_storage::{models, samples};

use crate::dataset::load_pixels;
use crate::models::{float_model, impulse_of, int8_runner};
use crate::{Cancelled, JobContext, Permanent};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    model_id: ModelId,
    precision: Precision,
    /// Below this top score a result counts as "uncertain".
    threshold: f64,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Int8,
    Float32,
}

pub async fn run(ctx: JobContext) -> anyhow::Result<Value> {
    let project = ctx.job.project_id;
    let payload: Payload = serde_json::from_value(ctx.job.payload.clone())
        .map_err(|e| Permanent(format!("invalid test payload: {e}")))?;
    let model = models::get(&ctx.db, project, payload.model_id)
        .await
        .map_err(|e| Permanent(format!("model: {e}")))?;
    let impulse = impulse_of(&model)?;
    let labels = model.labels.clone();
    let all = samples::all_in_category(&ctx.db, project, Category::Testing).await?;
    let (known, skipped): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|s| s.label.as_ref().is_some_and(|l| labels.contains(l)));
    if known.is_empty() {
        return Err(Permanent("the test set has no samples with the model's labels".into()).into());
    }
    ctx.log(format!(
        "testing model v{} ({:?}) on {} test samples{}",
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
        results.push(json!({
            "sampleId": sample.id,
            "fileName": sample.file_name,
            "label": labels[truth],
            "predicted": labels[predicted],
            "score": top,
            "correct": predicted == truth,
            "uncertain": is_uncertain,
        }));
    }
    let per_class: Vec<Value> = (0..n)
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let predicted: f64 = (0..n).map(|r| confusion[r][c] as f64).sum();
            let actual: f64 = confusion[c].iter().sum::<u64>() as f64;
            let precision = if predicted > 0.0 { tp / predicted } else { 0.0 };
            let recall = if actual > 0.0 { tp / actual } else { 0.0 };
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            json!({ "label": labels[c], "precision": precision, "recall": recall, "f1": f1, "support": actual, "uncertain": uncertain[c] })
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
    Ok(json!({
        "modelId": model.id,
        "modelVersion": model.version,
        "precision": payload.precision_name(),
        "threshold": payload.threshold,
        "accuracy": accuracy,
        "labels": labels,
        "confusionMatrix": confusion,
        "perClass": per_class,
        "uncertain": uncertain.iter().sum::<u64>(),
        "samples": results,
        "timingMs": { "inference": inference_ms },
    }))
}

impl Payload {
    fn precision_name(&self) -> &'static str {
        match self.precision {
            Precision::Int8 => "int8",
            Precision::Float32 => "float32",
        }
    }
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
        assert_eq!(crate::jobs::train::argmax_i8(&[-128, 3, 3]), 1);
    }
}
