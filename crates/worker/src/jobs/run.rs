//! Runs a firmware build on the emulated board: the ELF under QEMU, one
//! image over the UART, the board's answer back.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tinystudio_deploy::ArtifactKind;
use tinystudio_domain::JobId;
use tinystudio_engine::interpreter::HostRunner;
use tinystudio_storage::{BlobKey, jobs};

use crate::jobs::deploy::artifact_name;
use crate::jobs::train::BLOB_FILE;
use crate::{JobContext, Permanent};

/// The preprocessed input is stored under the run job's id with this name.
pub const INPUT_FILE: &str = "input.pixels";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    deployment_id: JobId,
}

pub async fn run(ctx: JobContext) -> anyhow::Result<Value> {
    let payload: Payload = serde_json::from_value(ctx.job.payload.clone())
        .map_err(|e| Permanent(format!("invalid run payload: {e}")))?;
    let deployment = jobs::get(&ctx.db, ctx.job.project_id, payload.deployment_id)
        .await
        .map_err(|e| Permanent(format!("deployment: {e}")))?;
    let owner = deployment.id.to_string();
    let fetch = |name: String| {
        let ctx = ctx.clone();
        let owner = owner.clone();
        async move {
            ctx.blobs
                .get(&BlobKey::artifact(&owner, &name)?)
                .await?
                .ok_or_else(|| {
                    anyhow::Error::from(Permanent(format!("the deployment has no {name}")))
                })
        }
    };
    let elf = fetch(artifact_name(ArtifactKind::Elf)).await?;
    let blob = fetch(BLOB_FILE.to_owned()).await?;
    let pixels = ctx
        .blobs
        .get(&BlobKey::artifact(&ctx.job.id.to_string(), INPUT_FILE)?)
        .await?
        .ok_or_else(|| Permanent("the run has no input image".into()))?;

    let dir = ctx
        .config
        .work_dir
        .join("runs")
        .join(ctx.job.id.to_string());
    std::fs::create_dir_all(&dir)?;
    let elf_path = dir.join("firmware.elf");
    std::fs::write(&elf_path, &elf)?;
    ctx.log("starting the emulated board (QEMU, mps2-an386, Cortex-M4)")
        .await?;
    let px = pixels.to_vec();
    let board = tokio::task::spawn_blocking(move || {
        tinystudio_deploy::run_emulated(&elf_path, &px, Duration::from_secs(120))
    })
    .await?;
    let _ = std::fs::remove_dir_all(&dir);
    let output = board.map_err(|e| Permanent(format!("the emulated board: {e}")))?;
    for line in &output.lines {
        ctx.log(format!("board: {line}")).await?;
    }
    // The host engine on the same input: the board must agree byte for byte.
    let host = HostRunner::new(blob.to_vec())
        .and_then(|mut r| r.run_pixels(&pixels))
        .map_err(|e| anyhow::anyhow!("host engine: {e}"))?;
    Ok(json!({
        "deploymentId": deployment.id,
        "lines": output.lines,
        "scores": output.scores.iter().map(|(l, s)| json!({ "label": l, "score": s })).collect::<Vec<_>>(),
        "predicted": output.top().map(|t| t.0.clone()),
        "raw": output.raw,
        "hostRaw": host,
        "matchesHost": output.raw == host,
        "instructions": output.instructions(),
        "classificationMs": output.classification_ms,
    }))
}
