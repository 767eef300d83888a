//! Building the firmware for a board with a model built in.

use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tinystudio_domain::impulse::ResizeMode;
use tinystudio_engine::ModelView;

use crate::Config;
use crate::artifacts::{ElfImage, UF2_FAMILY_RP2040};
use crate::boards::{ArtifactKind, Board};
use crate::error::{Error, Result};
use crate::footprint::check_fits;
use crate::size::SizeReport;
use crate::toolchain;
use crate::wire;

/// Variations of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// Milliseconds between the camera loop's photos; 0 builds the loop and
    /// its frame buffer out.
    pub camera_interval_ms: u32,
    /// How the camera's frames are fitted to the model's input: the
    /// impulse's resize mode (the colour depth follows from the model).
    pub resize_mode: ResizeMode,
    /// Per-operator timing (`op:` lines after each inference); costs a
    /// counter read per operator, so benchmarks of the whole inference use
    /// the plain build.
    pub profile: bool,
    /// Run the engine's randomized kernel check at boot (a `selftest:` line
    /// before `ready`; see `Emulator::boot_lines`).
    pub selftest: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            camera_interval_ms: DEFAULT_CAMERA_INTERVAL_MS,
            resize_mode: ResizeMode::default(),
            profile: false,
            selftest: false,
        }
    }
}

/// A photo every two seconds, as Edge Impulse's example firmware takes them.
pub const DEFAULT_CAMERA_INTERVAL_MS: u32 = 2000;

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    pub board: &'static Board,
    /// The linked firmware (also in `artifacts`).
    pub elf: PathBuf,
    /// Every file for flashing, one per [`Board::artifacts`] kind.
    pub artifacts: Vec<(ArtifactKind, PathBuf)>,
    pub size: SizeReport,
    /// Which toolchain route built it.
    pub toolchain: String,
    pub duration: Duration,
}

impl BuildOutput {
    pub fn artifact(&self, kind: ArtifactKind) -> Option<&Path> {
        self.artifacts
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, p)| p.as_path())
    }
}

/// Builds the firmware for `board` with `model_blob` built in, in
/// `target_dir` (keep it between builds: the second build of a board only
/// recompiles the firmware crate and relinks, seconds instead of a minute).
/// Every line cargo prints goes to `log`.
///
/// Refuses models that cannot fit before building ([`check_fits`]).
/// Blocking and CPU-heavy: run it on a worker thread, not an async runtime.
pub fn build(
    board: &'static Board,
    model_blob: &[u8],
    target_dir: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<BuildOutput> {
    build_with(
        &Config::from_env(),
        board,
        model_blob,
        target_dir,
        &BuildOptions::default(),
        log,
    )
}

/// [`build`] with an explicit configuration and options.
pub fn build_with(
    config: &Config,
    board: &'static Board,
    model_blob: &[u8],
    target_dir: &Path,
    options: &BuildOptions,
    log: &mut dyn FnMut(&str),
) -> Result<BuildOutput> {
    let started = Instant::now();
    let view = ModelView::parse(model_blob)?;
    if view.input_mapper().is_none() {
        return Err(Error::InvalidModel(tinystudio_engine::Error::Message(
            "the blob has no readable input tensor".into(),
        )));
    }
    check_fits(board, model_blob)?;
    let manifest = config.firmware_dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(Error::FirmwareSourceMissing(config.firmware_dir.clone()));
    }
    let toolchain = toolchain::detect(board)?;
    log(&format!(
        "building the firmware for {} ({}) with {}",
        board.name,
        board.target,
        toolchain.describe()
    ));

    let mut flavour = board.name.to_string();
    if options.profile {
        flavour.push_str("-profile");
    }
    if options.selftest {
        flavour.push_str("-selftest");
    }
    let work = target_dir.join("tinystudio").join(&flavour);
    fs::create_dir_all(&work).map_err(Error::io(format!("creating {}", work.display())))?;
    // One build per target directory at a time: builds of boards sharing a
    // target triple overwrite the same ELF before it is copied out.
    let lock = lock_target_dir(target_dir)?;

    // Rewritten only when it changed, so an unchanged model relinks nothing.
    let blob_path = work.join(tinystudio_domain::artifacts::MODEL_BLOB);
    if fs::read(&blob_path).ok().as_deref() != Some(model_blob) {
        fs::write(&blob_path, model_blob)
            .map_err(Error::io(format!("writing {}", blob_path.display())))?;
    }

    let mut features = board.features.to_string();
    if options.profile {
        features.push_str(",profile");
    }
    if options.selftest {
        features.push_str(",selftest");
    }
    let mut cmd = toolchain.cargo_command(board.target);
    cmd.current_dir(&config.firmware_dir)
        .arg("--release")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--target", board.target, "--features", &features])
        .arg("--target-dir")
        .arg(target_dir)
        .env("TINYSTUDIO_MODEL_BLOB", &blob_path)
        .env(
            "TINYSTUDIO_CAMERA_INTERVAL_MS",
            options.camera_interval_ms.to_string(),
        )
        .env("TINYSTUDIO_RESIZE_MODE", options.resize_mode.as_str());
    run_cargo(&mut cmd, log)?;

    let built = target_dir
        .join(board.target)
        .join("release")
        .join("tinystudio-firmware");
    let image = ElfImage::read(&built)?;
    // Artifacts go to a directory per model, so a later build of another
    // model for the same board does not replace files still in use.
    let out_dir = work.join(format!("{:08x}", wire::checksum(model_blob)));
    fs::create_dir_all(&out_dir).map_err(Error::io(format!("creating {}", out_dir.display())))?;
    let mut artifacts = Vec::new();
    for &kind in board.artifacts {
        let path = out_dir.join(format!("tinystudio-{flavour}.{}", kind.extension()));
        let write = |bytes: &[u8]| {
            fs::write(&path, bytes).map_err(Error::io(format!("writing {}", path.display())))
        };
        match kind {
            ArtifactKind::Elf => {
                fs::copy(&built, &path)
                    .map_err(Error::io(format!("copying the ELF to {}", path.display())))?;
            }
            ArtifactKind::Bin => write(&image.to_bin())?,
            ArtifactKind::Hex => write(image.to_hex().as_bytes())?,
            ArtifactKind::Uf2 => write(&image.to_uf2(UF2_FAMILY_RP2040))?,
        }
        artifacts.push((kind, path));
    }
    let elf = artifacts
        .iter()
        .find(|(k, _)| *k == ArtifactKind::Elf)
        .map(|(_, p)| p.clone())
        .unwrap_or(built);
    let size = SizeReport::from_elf(board, &image, model_blob);
    for line in size.to_string().lines() {
        log(line);
    }
    if !size.fits() {
        log(&format!(
            "warning: only {} bytes of RAM left for the stack on {}",
            size.stack_available, board.name
        ));
    }
    drop(lock);
    Ok(BuildOutput {
        board,
        elf,
        artifacts,
        size,
        toolchain: toolchain.describe(),
        duration: started.elapsed(),
    })
}

/// Takes the target directory's build lock (held until dropped): one cargo
/// build per target directory at a time, firmware or library.
pub(crate) fn lock_target_dir(target_dir: &Path) -> Result<fs::File> {
    let dir = target_dir.join("tinystudio");
    fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let lock_path = dir.join("build.lock");
    let lock = fs::File::create(&lock_path)
        .map_err(Error::io(format!("creating {}", lock_path.display())))?;
    lock.lock()
        .map_err(Error::io(format!("locking {}", lock_path.display())))?;
    Ok(lock)
}

/// Runs a prepared cargo command (see [`toolchain::Toolchain::cargo_command`]),
/// every line it prints going to `log`; a failure carries the log's last
/// lines.
pub(crate) fn run_cargo(cmd: &mut Command, log: &mut dyn FnMut(&str)) -> Result<()> {
    clean_env(cmd);
    cmd.env("CARGO_TERM_COLOR", "never")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = crate::process::dies_with_parent(cmd)
        .spawn()
        .map_err(Error::io(format!("starting {:?}", cmd.get_program())))?;
    // cargo reports on stderr; stdout is drained on a thread so neither pipe blocks.
    let stdout = child.stdout.take();
    let drain = std::thread::spawn(move || {
        stdout.map_or_else(Vec::new, |s| {
            BufReader::new(s).lines().map_while(|l| l.ok()).collect()
        })
    });
    let mut tail: std::collections::VecDeque<String> = Default::default();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            log(&line);
            if tail.len() == 40 {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
    let status = child
        .wait()
        .map_err(Error::io("waiting for cargo".to_string()))?;
    for line in drain.join().unwrap_or_default() {
        log(&line);
    }
    if !status.success() {
        return Err(Error::BuildFailed {
            status: status.to_string(),
            tail: Vec::from(tail).join("\n"),
        });
    }
    Ok(())
}

/// Removes what an outer cargo (a test run, `cargo run` of the studio)
/// exports for its own build, which would otherwise redirect this one
/// (its RUSTC, flags, target directory, package metadata).
fn clean_env(cmd: &mut Command) {
    let explicit: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, _)| k.to_str().map(str::to_owned))
        .collect();
    let keep = |k: &str| {
        k == "CARGO_HOME"
            || k == "CARGO_BUILD_JOBS"
            || [
                "CARGO_NET_",
                "CARGO_HTTP_",
                "CARGO_REGISTRIES_",
                "CARGO_REGISTRY_",
            ]
            .iter()
            .any(|p| k.starts_with(p))
    };
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        if explicit.iter().any(|e| e == k) {
            continue;
        }
        let outer = (k.starts_with("CARGO") && !keep(k))
            || k.starts_with("RUSTC")
            || k.starts_with("RUSTDOC")
            || k.starts_with("__CARGO")
            || matches!(
                k,
                "RUSTFLAGS" | "OUT_DIR" | "TARGET" | "HOST" | "OPT_LEVEL" | "PROFILE" | "DEBUG"
            );
        if outer {
            cmd.env_remove(OsStr::new(k));
        }
    }
}
