//! Runs a firmware build on the emulated board: the ELF under QEMU, one
//! image over the UART, the board's answer back, checked against the host
//! engine on the same input.

use std::time::Duration;

use tinystudio_deploy::ArtifactKind;
use tinystudio_domain::artifacts::{MODEL_BLOB, RUN_INPUT, firmware_file};
use tinystudio_domain::jobs::run::LabelScore;
use tinystudio_domain::jobs::{Deploy, Run, RunOutput, RunPayload};
use tinystudio_engine::interpreter::HostRunner;
use tinystudio_storage::blobs::get_checked;
use tinystudio_storage::{BlobKey, jobs};

use super::RunJob;
use crate::{JobContext, Permanent};

impl RunJob for Run {
    async fn run(ctx: JobContext, payload: RunPayload) -> anyhow::Result<RunOutput> {
        run(ctx, payload).await
    }
}

async fn run(ctx: JobContext, payload: RunPayload) -> anyhow::Result<RunOutput> {
    let deployment = jobs::get(&ctx.db, ctx.job.project_id, payload.deployment_id)
        .await
        .map_err(|e| Permanent(format!("deployment: {e}")))?;
    // The build's files are checked against the hashes it recorded.
    let built = deployment.output::<Deploy>().ok().flatten();
    let fetch = async |owner: String, name: &str| -> anyhow::Result<bytes::Bytes> {
        let expected = built.as_ref().and_then(|b| b.artifact_sha256(name));
        get_checked(
            ctx.blobs.as_ref(),
            &BlobKey::artifact(&owner, name)?,
            expected,
        )
        .await?
        .ok_or_else(|| Permanent(format!("{name} is missing")).into())
    };
    let elf = fetch(
        deployment.id.to_string(),
        &firmware_file(ArtifactKind::Elf.extension()),
    )
    .await?;
    let blob = fetch(deployment.id.to_string(), MODEL_BLOB).await?;
    let pixels = fetch(ctx.job.id.to_string(), RUN_INPUT).await?;

    let dir = ctx
        .config
        .work_dir
        .join("runs")
        .join(ctx.job.id.to_string());
    std::fs::create_dir_all(&dir)?;
    let elf_path = dir.join("firmware.elf");
    std::fs::write(&elf_path, &elf)?;
    ctx.log(match &payload.input_name {
        Some(name) => {
            format!("starting the emulated board (QEMU, mps2-an386, Cortex-M4) for {name}")
        }
        None => "starting the emulated board (QEMU, mps2-an386, Cortex-M4)".to_owned(),
    })
    .await?;
    ctx.set_progress(0.2);
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
    Ok(RunOutput {
        deployment_id: deployment.id,
        input_name: payload.input_name,
        true_label: payload.true_label,
        scores: output
            .scores
            .iter()
            .map(|(label, score)| LabelScore {
                label: label.clone(),
                score: *score,
            })
            .collect(),
        predicted: output.top().map(|t| t.0.clone()),
        matches_host: output.raw == host,
        host_raw: host,
        instructions: output.instructions(),
        classification_ms: output.classification_ms,
        raw: output.raw,
        lines: output.lines,
    })
}
