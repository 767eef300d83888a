//! Loading a trained model's files for a job.

use std::path::PathBuf;

use anyhow::Context;
use tinystudio_domain::artifacts::{FLOAT_MODEL_FILES, MODEL_BLOB};
use tinystudio_engine::interpreter::HostRunner;
use tinystudio_ml::backbones::ensure_backbone;
use tinystudio_ml::inference::TrainedModel;
use tinystudio_storage::models::{self, Model};

use crate::{JobContext, Permanent};

pub async fn artifact(ctx: &JobContext, model: &Model, name: &str) -> anyhow::Result<bytes::Bytes> {
    models::read_artifact(ctx.blobs.as_ref(), model, name)
        .await?
        .ok_or_else(|| {
            Permanent(format!(
                "model v{} is missing its file {name}",
                model.version
            ))
            .into()
        })
}

/// The int8 model, ready to run on the host.
pub async fn int8_runner(ctx: &JobContext, model: &Model) -> anyhow::Result<HostRunner> {
    let blob = artifact(ctx, model, MODEL_BLOB).await?;
    HostRunner::new(blob.to_vec()).map_err(|e| anyhow::anyhow!("loading the int8 model: {e}"))
}

/// The float model, loaded through a local copy of its weights.
pub async fn float_model(ctx: &JobContext, model: &Model) -> anyhow::Result<TrainedModel> {
    let dir: PathBuf = ctx
        .config
        .work_dir
        .join("models")
        .join(model.id.to_string());
    std::fs::create_dir_all(&dir)?;
    for name in FLOAT_MODEL_FILES {
        let bytes = artifact(ctx, model, name).await?;
        std::fs::write(dir.join(name), &bytes).with_context(|| format!("writing {name}"))?;
    }
    let alpha = models::impulse_of(&ctx.db, model).await?.learning.alpha;
    let backbones = ctx.config.backbones_dir.clone();
    tokio::task::spawn_blocking(move || {
        let backbone = ensure_backbone(alpha, &backbones, &mut |_| {})?;
        Ok(TrainedModel::load(&dir, &backbone)?)
    })
    .await?
}
