//! An uploaded `.tflite` becomes one of the project's models: converted to
//! the engine's blob, stored with its original file, and profiled operator
//! by operator on the emulated Cortex-M4.

use anyhow::Context;
use bytes::Bytes;
use tinystudio_deploy::import::{InputKind, inspect, profile_on_emulator};
use tinystudio_domain::ModelId;
use tinystudio_domain::artifacts::{IMPORT_UPLOAD, MODEL_BLOB, MODEL_TFLITE};
use tinystudio_domain::jobs::{Import, ImportOutput, ImportPayload, Imported};
use tinystudio_domain::model::ModelMetrics;
use tinystudio_storage::blobs::sha256_hex;
use tinystudio_storage::{BlobKey, models};
use tokio::sync::mpsc;

use super::RunJob;
use crate::{JobContext, Permanent};

impl RunJob for Import {
    async fn run(ctx: JobContext, payload: ImportPayload) -> anyhow::Result<ImportOutput> {
        run(ctx, payload).await
    }
}

async fn run(ctx: JobContext, payload: ImportPayload) -> anyhow::Result<ImportOutput> {
    let file = ctx
        .blobs
        .get(&BlobKey::artifact(&ctx.job.id.to_string(), IMPORT_UPLOAD)?)
        .await?
        .ok_or_else(|| Permanent("the uploaded file is missing".into()))?;
    let inspected = {
        let (file, p) = (file.clone(), payload.clone());
        tokio::task::spawn_blocking(move || {
            let kind = match (&p.impulse, p.pixel_scaling) {
                (Some(impulse), range) => InputKind::Image(impulse.input.resize_mode, range),
                (None, _) => InputKind::Raw,
            };
            inspect(&file, &p.labels, kind)
        })
        .await?
        .map_err(|e| Permanent(e.to_string()))?
    };
    let mut profile = inspected.profile.clone();
    ctx.log(format!(
        "{}: {} operators, {} MACs, {} parameters, tensor arena {} B",
        payload.file_name,
        profile.operators.len(),
        profile.macs,
        profile.parameters,
        profile.arena_bytes
    ))
    .await?;

    // Files first, then the row that points to them (as training saves).
    let model_id = ModelId::new();
    let owner = model_id.to_string();
    let mut hashes = std::collections::BTreeMap::new();
    for (name, bytes) in [
        (MODEL_BLOB, Bytes::from(inspected.blob.clone())),
        (MODEL_TFLITE, file),
    ] {
        hashes.insert(name.to_owned(), sha256_hex(&bytes));
        ctx.blobs
            .put(&BlobKey::artifact(&owner, name)?, bytes)
            .await?;
    }
    let metrics = ModelMetrics {
        labels: inspected.labels.clone(),
        macs: profile.macs,
        arena_bytes: profile.arena_bytes,
        blob_bytes: profile.blob_bytes,
        backbone: format!("imported {}", payload.file_name),
        ..ModelMetrics::default()
    };
    let imported = Imported {
        file_name: payload.file_name.clone(),
        impulse: payload.impulse.clone(),
        input_shape: inspected.input_shape.clone(),
    };
    let current = tinystudio_storage::impulses::latest(&ctx.db, ctx.job.project_id)
        .await?
        .map_or(0, |i| i.version);
    let new = models::NewModel {
        impulse_version: current,
        job_id: ctx.job.id,
        labels: &inspected.labels,
        metrics: &metrics,
        artifact_hashes: &hashes,
        imported: Some(&imported),
    };
    let model = models::insert(&ctx.db, model_id, ctx.job.project_id, new).await?;
    ctx.log(format!("saved as model v{}", model.version))
        .await?;
    ctx.set_progress(0.2);

    // Then its cost on the emulated board; a machine without the firmware
    // toolchain keeps the model and says why it has no instruction counts.
    ctx.log("profiling on the emulated Cortex-M4 (a profile firmware build)")
        .await?;
    let target_dir = ctx.config.firmware_target_dir.join("import-profile");
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let blob = inspected.blob;
    let profiling = tokio::task::spawn_blocking(move || {
        let config = tinystudio_deploy::Config::from_env();
        let mut log = |line: &str| {
            let _ = tx.send(line.to_owned());
        };
        profile_on_emulator(&config, &blob, &target_dir, &mut profile, &mut log).map(|()| profile)
    });
    let mut lines = 0u64;
    while let Some(line) = rx.recv().await {
        lines += 1;
        ctx.set_progress((0.2 + lines as f64 / 500.0).min(0.9));
        ctx.log(line).await?;
    }
    let profile = match profiling.await.context("profiling task")? {
        Ok(profile) => {
            ctx.log(format!(
                "one inference: {} instructions on the emulated Cortex-M4",
                profile.instructions.map_or("?".into(), |i| i.to_string())
            ))
            .await?;
            profile
        }
        Err(e) => {
            ctx.log(format!("not profiled on the emulated board: {e}"))
                .await?;
            let mut profile = inspected.profile;
            profile.profile_note = Some(format!("not measured on the emulated board: {e}"));
            profile
        }
    };
    Ok(ImportOutput {
        model_id: model.id,
        model_version: model.version,
        profile,
    })
}
