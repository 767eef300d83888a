//! Firmware builds: a trained model + a board -> ELF, .bin/.hex/.uf2, the
//! model files and a size report, all downloadable.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use tinystudio_deploy::{ArtifactKind, BuildOutput, board, estimate_latency};
use tinystudio_domain::ModelId;
use tinystudio_storage::{BlobKey, models};
use tokio::sync::mpsc;

use crate::jobs::train::{BLOB_FILE, TFLITE_FILE};
use crate::models::artifact;
use crate::{JobContext, Permanent};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    model_id: ModelId,
    board: String,
}

/// The firmware file name of each artifact kind.
pub fn artifact_name(kind: ArtifactKind) -> String {
    format!("firmware.{}", kind.extension())
}

pub async fn run(ctx: JobContext) -> anyhow::Result<Value> {
    let payload: Payload = serde_json::from_value(ctx.job.payload.clone())
        .map_err(|e| Permanent(format!("invalid deploy payload: {e}")))?;
    let board = board(&payload.board)
        .ok_or_else(|| Permanent(format!("unknown board {:?}", payload.board)))?;
    let model = models::get(&ctx.db, ctx.job.project_id, payload.model_id)
        .await
        .map_err(|e| Permanent(format!("model: {e}")))?;
    let blob = artifact(&ctx, &model, BLOB_FILE).await?;
    let tflite = artifact(&ctx, &model, TFLITE_FILE).await?;
    ctx.log(format!(
        "building model v{} for {}",
        model.version, board.title
    ))
    .await?;

    // The target folder is kept per board, so the next build only relinks.
    let target_dir = ctx.config.work_dir.join("firmware-target").join(board.name);
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let blob_bytes = blob.to_vec();
    let build = tokio::task::spawn_blocking(move || {
        tinystudio_deploy::build(board, &blob_bytes, &target_dir, &mut |line| {
            let _ = tx.send(line.to_owned());
        })
    });
    let mut lines = 0u64;
    while let Some(line) = rx.recv().await {
        lines += 1;
        ctx.set_progress((0.1 + lines as f64 / 400.0).min(0.9));
        ctx.log(line).await?;
    }
    let output: BuildOutput = match build.await.context("build task")? {
        Ok(output) => output,
        // A model that does not fit, or a missing toolchain: retrying cannot help.
        Err(e) => return Err(Permanent(e.to_string()).into()),
    };
    ctx.log(format!(
        "built with {} in {:.1} s",
        output.toolchain,
        output.duration.as_secs_f64()
    ))
    .await?;

    let owner = ctx.job.id.to_string();
    let mut artifacts = Vec::new();
    for (kind, path) in &output.artifacts {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let name = artifact_name(*kind);
        artifacts.push(json!({ "name": name, "kind": kind.extension(), "bytes": bytes.len() }));
        ctx.blobs
            .put(&BlobKey::artifact(&owner, &name)?, Bytes::from(bytes))
            .await?;
    }
    for (name, bytes) in [(BLOB_FILE, &blob), (TFLITE_FILE, &tflite)] {
        artifacts
            .push(json!({ "name": name, "kind": name.rsplit('.').next(), "bytes": bytes.len() }));
        ctx.blobs
            .put(&BlobKey::artifact(&owner, name)?, bytes.clone())
            .await?;
    }
    let size = &output.size;
    let size_json = json!({
        "flashUsed": size.flash_used,
        "flashLimit": size.flash_limit,
        "modelBytes": size.model_bytes,
        "codeBytes": size.code_bytes,
        "ramStatic": size.ram_static,
        "ramLimit": size.ram_limit,
        "arenaBytes": size.arena_bytes,
        "stackAvailable": size.stack_available,
        "fits": size.fits(),
    });
    // The size report is an artifact too, downloadable beside the binaries.
    let report = serde_json::to_vec_pretty(&json!({
        "board": board.name,
        "modelId": model.id,
        "modelVersion": model.version,
        "size": size_json,
    }))?;
    artifacts.push(json!({ "name": SIZE_REPORT, "kind": "json", "bytes": report.len() }));
    ctx.blobs
        .put(
            &BlobKey::artifact(&owner, SIZE_REPORT)?,
            Bytes::from(report),
        )
        .await?;
    ctx.log(format!(
        "flash {:.1} of {:.0} KB (model {:.1}, code {:.1}); RAM {:.1} of {:.0} KB (arena {:.1}); {} KB left for the stack",
        kb(size.flash_used),
        kb(size.flash_limit),
        kb(size.model_bytes),
        kb(size.code_bytes),
        kb(size.ram_static),
        kb(size.ram_limit),
        kb(size.arena_bytes),
        size.stack_available / 1024
    ))
    .await?;

    // On the emulated board, measure one inference: instructions and the
    // latency they mean on the real Cortex-M4 boards.
    let mut measured = Value::Null;
    if board.emulated {
        let elf = output.elf.clone();
        let input_len = tinystudio_engine::blob::ModelView::parse(&blob)
            .and_then(|v| v.input())
            .map(|t| t.len)
            .unwrap_or(0);
        let probe = tokio::task::spawn_blocking(move || {
            tinystudio_deploy::run_emulated(&elf, &vec![128u8; input_len], Duration::from_secs(120))
        })
        .await?;
        match probe {
            Ok(out) => {
                if let Some(instructions) = out.instructions() {
                    let latency: Vec<Value> = tinystudio_deploy::BOARDS
                        .iter()
                        .filter_map(|b| estimate_latency(b, instructions))
                        .map(|l| json!({ "board": l.board, "ms": l.seconds * 1000.0, "basis": l.basis }))
                        .collect();
                    ctx.log(format!(
                        "one inference: {instructions} instructions on the emulated Cortex-M4"
                    ))
                    .await?;
                    measured = json!({ "instructions": instructions, "latency": latency, "stackUsed": out.stack_used });
                }
            }
            Err(e) => {
                ctx.log(format!("could not measure on the emulated board: {e}"))
                    .await?
            }
        }
    }

    Ok(json!({
        "deploymentId": ctx.job.id,
        "board": board.name,
        "boardTitle": board.title,
        "modelId": model.id,
        "modelVersion": model.version,
        "toolchain": output.toolchain,
        "buildSeconds": output.duration.as_secs_f64(),
        "artifacts": artifacts,
        "flashing": board.flashing,
        "emulated": board.emulated,
        "size": size_json,
        "measured": measured,
    }))
}

/// The flash and RAM report's artifact name.
const SIZE_REPORT: &str = "size-report.json";

fn kb(bytes: u64) -> f64 {
    bytes as f64 / 1024.0
}
