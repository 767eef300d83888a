//! Firmware builds: a trained model + a board -> ELF, .bin/.hex/.uf2, the
//! model files and a size report, all downloadable; on the emulated board,
//! one inference measured.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use tinystudio_deploy::{BuildOptions, BuildOutput, board};
use tinystudio_domain::artifacts::{MODEL_BLOB, MODEL_TFLITE, SIZE_REPORT, firmware_file};
use tinystudio_domain::jobs::deploy::ArtifactFile;
use tinystudio_domain::jobs::{Deploy, DeployOutput, DeployPayload};
use tinystudio_storage::blobs::sha256_hex;
use tinystudio_storage::{BlobKey, models};
use tokio::sync::mpsc;

use super::RunJob;
use crate::models::artifact;
use crate::{JobContext, Permanent};

impl RunJob for Deploy {
    async fn run(ctx: JobContext, payload: DeployPayload) -> anyhow::Result<DeployOutput> {
        run(ctx, payload).await
    }
}

async fn run(ctx: JobContext, payload: DeployPayload) -> anyhow::Result<DeployOutput> {
    let board = board(&payload.board)
        .ok_or_else(|| Permanent(format!("unknown board {:?}", payload.board)))?;
    let model = models::get(&ctx.db, ctx.job.project_id, payload.model_id)
        .await
        .map_err(|e| Permanent(format!("model: {e}")))?;
    let blob = artifact(&ctx, &model, MODEL_BLOB).await?;
    let tflite = artifact(&ctx, &model, MODEL_TFLITE).await?;
    // The camera loop fits its frames to the model as the impulse says.
    let options = BuildOptions {
        resize_mode: models::resize_mode_of(&ctx.db, &model).await?,
        ..BuildOptions::default()
    };
    ctx.log(format!(
        "building model v{} for {}",
        model.version, board.title
    ))
    .await?;

    // The target folder is kept per board, so the next build only relinks.
    let target_dir = ctx.config.firmware_target_dir.join(board.name);
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let blob_bytes = blob.to_vec();
    let build = tokio::task::spawn_blocking(move || {
        let config = tinystudio_deploy::Config::from_env();
        tinystudio_deploy::build_with(
            &config,
            board,
            &blob_bytes,
            &target_dir,
            &options,
            &mut |line| {
                let _ = tx.send(line.to_owned());
            },
        )
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
    let mut store = async |name: String, kind: &str, bytes: Bytes| -> anyhow::Result<()> {
        artifacts.push(ArtifactFile {
            name: name.clone(),
            kind: kind.to_owned(),
            bytes: bytes.len() as u64,
            sha256: Some(sha256_hex(&bytes)),
        });
        ctx.blobs
            .put(&BlobKey::artifact(&owner, &name)?, bytes)
            .await?;
        Ok(())
    };
    for (kind, path) in &output.artifacts {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        store(
            firmware_file(kind.extension()),
            kind.extension(),
            bytes.into(),
        )
        .await?;
    }
    store(MODEL_BLOB.into(), "tsmb", blob.clone()).await?;
    store(MODEL_TFLITE.into(), "tflite", tflite).await?;
    let size = output.size.firmware_size();
    ctx.log(output.size.to_string()).await?;

    // On the emulated board, measure one inference.
    let mut measured = None;
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
        match probe.map(|out| out.measurement()) {
            Ok(Some(m)) => {
                ctx.log(format!(
                    "one inference: {} instructions on the emulated Cortex-M4",
                    m.instructions
                ))
                .await?;
                measured = Some(m);
            }
            Ok(None) => {
                ctx.log("the emulated board did not report its instruction count")
                    .await?
            }
            Err(e) => {
                ctx.log(format!("could not measure on the emulated board: {e}"))
                    .await?
            }
        }
    }

    let mut result = DeployOutput {
        deployment_id: ctx.job.id,
        board: board.name.to_owned(),
        board_title: board.title.to_owned(),
        model_id: model.id,
        model_version: model.version,
        toolchain: output.toolchain.clone(),
        build_seconds: output.duration.as_secs_f64(),
        artifacts,
        flashing: board.flashing.to_owned(),
        emulated: board.emulated,
        size,
        measured,
    };
    // The size report is a file too, downloadable beside the binaries.
    let report = serde_json::to_vec_pretty(&SizeReportFile {
        board: board.name,
        model_id: model.id,
        model_version: model.version,
        size: &result.size,
    })?;
    result.artifacts.push(ArtifactFile {
        name: SIZE_REPORT.into(),
        kind: "json".into(),
        bytes: report.len() as u64,
        sha256: Some(sha256_hex(&report)),
    });
    ctx.blobs
        .put(
            &BlobKey::artifact(&owner, SIZE_REPORT)?,
            Bytes::from(report),
        )
        .await?;
    Ok(result)
}

/// The downloadable size report.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SizeReportFile<'a> {
    board: &'a str,
    model_id: tinystudio_domain::ModelId,
    model_version: i64,
    size: &'a tinystudio_domain::footprint::FirmwareSize,
}
