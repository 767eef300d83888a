//! Library builds: a trained model packaged as an Arduino library, a C
//! library or a Rust crate (`tinystudio_deploy::library`). The static
//! libraries do not depend on the model, so their cargo builds are reused
//! from one library build to the next (one target folder for all of them);
//! only the packaging is per model.

use anyhow::Context;
use bytes::Bytes;
use tinystudio_deploy::library::{LibraryKind, LibraryModel, build_static_libraries, package};
use tinystudio_domain::artifacts::MODEL_BLOB;
use tinystudio_domain::jobs::deploy::ArtifactFile;
use tinystudio_domain::jobs::{Library, LibraryOutput, LibraryPayload};
use tinystudio_storage::blobs::sha256_hex;
use tinystudio_storage::{BlobKey, models, projects};
use tokio::sync::mpsc;

use super::RunJob;
use crate::models::artifact;
use crate::{JobContext, Permanent};

impl RunJob for Library {
    async fn run(ctx: JobContext, payload: LibraryPayload) -> anyhow::Result<LibraryOutput> {
        run(ctx, payload).await
    }
}

async fn run(ctx: JobContext, payload: LibraryPayload) -> anyhow::Result<LibraryOutput> {
    let kind = LibraryKind::parse(&payload.kind)
        .ok_or_else(|| Permanent(format!("unknown library kind {:?}", payload.kind)))?;
    let model = models::get(&ctx.db, ctx.job.project_id, payload.model_id)
        .await
        .map_err(|e| Permanent(format!("model: {e}")))?;
    let project = projects::get(&ctx.db, ctx.job.project_id).await?;
    let blob = artifact(&ctx, &model, MODEL_BLOB).await?;
    let resize_mode = models::resize_mode_of(&ctx.db, &model).await?;
    ctx.log(format!(
        "packaging model v{} as a {}",
        model.version,
        kind.title()
    ))
    .await?;

    let target_dir = ctx.config.firmware_target_dir.join("libraries");
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let title = project.name.clone();
    let version = u32::try_from(model.version).unwrap_or(u32::MAX);
    let blob_bytes = blob.to_vec();
    let build = tokio::task::spawn_blocking(move || {
        let libraries = if kind.needs_static_libraries() {
            let config = tinystudio_deploy::Config::from_env();
            Some(build_static_libraries(&config, &target_dir, &mut |line| {
                let _ = tx.send(line.to_owned());
            })?)
        } else {
            None
        };
        let model = LibraryModel {
            title: &title,
            version,
            blob: &blob_bytes,
            resize_mode,
        };
        package(kind, &model, libraries.as_ref()).map(|p| (p, libraries))
    });
    let mut lines = 0u64;
    while let Some(line) = rx.recv().await {
        lines += 1;
        ctx.set_progress((0.1 + lines as f64 / 200.0).min(0.9));
        ctx.log(line).await?;
    }
    let (package, libraries) = match build.await.context("library task")? {
        Ok(built) => built,
        // A missing toolchain or an unusable model: retrying cannot help.
        Err(e) => return Err(Permanent(e.to_string()).into()),
    };
    if let Some(l) = &libraries {
        ctx.log(format!(
            "static libraries built with {} in {:.1} s",
            l.toolchain,
            l.duration.as_secs_f64()
        ))
        .await?;
    }
    ctx.log(format!(
        "{}: {} files, {} bytes",
        package.file_name,
        package.files.len(),
        package.bytes.len()
    ))
    .await?;

    let bytes = Bytes::from(package.bytes);
    let file = ArtifactFile {
        name: package.file_name.clone(),
        kind: "zip".into(),
        bytes: bytes.len() as u64,
        sha256: Some(sha256_hex(&bytes)),
    };
    ctx.blobs
        .put(
            &BlobKey::artifact(&ctx.job.id.to_string(), &package.file_name)?,
            bytes,
        )
        .await?;
    Ok(LibraryOutput {
        library_id: ctx.job.id,
        kind: kind.as_str().to_owned(),
        title: kind.title().to_owned(),
        model_id: model.id,
        model_version: model.version,
        file,
        folder: package.folder,
        files: package.files,
        toolchain: libraries.as_ref().map(|l| l.toolchain.clone()),
        build_seconds: libraries.map_or(0.0, |l| l.duration.as_secs_f64()),
    })
}
