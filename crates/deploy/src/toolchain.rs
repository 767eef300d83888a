//! Finding a Rust toolchain that can build `no_std` code for a board.
//!
//! Two routes, tried in this order:
//!
//! 1. **rustup with the target installed** (`rustup target add <triple>`):
//!    plain `cargo build --target <triple>`, rust-lld links.
//! 2. **a rustc with the standard library's sources but no prebuilt library
//!    for the target** (Debian's `rustc-web` + `cargo-web` + `rust-web-src`,
//!    or any toolchain with `lib/rustlib/src/rust/library`): cargo builds
//!    `core` itself with `-Zbuild-std=core`. That flag is unstable, so a
//!    stable compiler needs `RUSTC_BOOTSTRAP=1`; the GNU Arm linker
//!    (`arm-none-eabi-gcc -nostartfiles`, package `gcc-arm-none-eabi`) links,
//!    since such toolchains ship no rust-lld.
//!
//! A rustc that already has the target's library (route 1 without rustup,
//! e.g. a distribution package) is used like route 1.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::boards::Board;
use crate::error::{Error, Result};

/// How to invoke cargo for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Toolchain {
    /// The target's `core` is installed: a plain cross build.
    Prebuilt {
        cargo: PathBuf,
        rustc: Option<PathBuf>,
        /// Where it was found, for logs.
        origin: String,
    },
    /// `core` is compiled from the library sources (`-Zbuild-std=core`).
    BuildStd {
        cargo: PathBuf,
        rustc: PathBuf,
        /// `.../lib/rustlib/src/rust/library`
        library_src: PathBuf,
        linker: PathBuf,
    },
}

impl Toolchain {
    /// One line for build logs.
    pub fn describe(&self) -> String {
        match self {
            Toolchain::Prebuilt { cargo, origin, .. } => {
                format!("{origin} ({}), prebuilt core", cargo.display())
            }
            Toolchain::BuildStd {
                cargo,
                rustc,
                library_src,
                linker,
            } => format!(
                "{} with {}, core built from {} (-Zbuild-std), linked by {}",
                cargo.display(),
                rustc.display(),
                library_src.display(),
                linker.display()
            ),
        }
    }

    /// The cargo command with arguments and environment for this route;
    /// the caller adds `build`'s own arguments after these.
    pub(crate) fn cargo_command(&self, target: &str) -> Command {
        match self {
            Toolchain::Prebuilt { cargo, rustc, .. } => {
                let mut cmd = Command::new(cargo);
                if let Some(rustc) = rustc {
                    cmd.env("RUSTC", rustc);
                }
                cmd.arg("build");
                cmd
            }
            Toolchain::BuildStd {
                cargo,
                rustc,
                linker,
                ..
            } => {
                let mut cmd = Command::new(cargo);
                cmd.env("RUSTC", rustc)
                    .env("RUSTC_BOOTSTRAP", "1")
                    .env(
                        format!(
                            "CARGO_TARGET_{}_LINKER",
                            target.to_uppercase().replace('-', "_")
                        ),
                        linker,
                    )
                    // Only for the target: host build scripts keep their flags.
                    // With `core` built here, a panic can abort at once
                    // (`-Cpanic=immediate-abort`, what `panic_immediate_abort`
                    // became): no panic messages, locations or `core::fmt`
                    // behind them in the image (9 KB of the Nano 33 BLE's).
                    .env(
                        format!(
                            "CARGO_TARGET_{}_RUSTFLAGS",
                            target.to_uppercase().replace('-', "_")
                        ),
                        BUILD_STD_RUSTFLAGS,
                    )
                    .arg("build")
                    .arg("-Zbuild-std=core");
                cmd
            }
        }
    }
}

/// Target flags of the build-std route: link with `arm-none-eabi-gcc`
/// without its start files, and panics that abort without formatting.
pub(crate) const BUILD_STD_RUSTFLAGS: &str =
    "-C link-arg=-nostartfiles -Zunstable-options -Cpanic=immediate-abort";

fn which(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sysroot(rustc: &Path) -> Option<PathBuf> {
    output(Command::new(rustc).args(["--print", "sysroot"])).map(|s| PathBuf::from(s.trim()))
}

fn has_prebuilt_core(sysroot: &Path, target: &str) -> bool {
    std::fs::read_dir(sysroot.join("lib/rustlib").join(target).join("lib")).is_ok_and(|dir| {
        dir.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("libcore-"))
    })
}

fn library_src(sysroot: &Path) -> Option<PathBuf> {
    let lib = sysroot.join("lib/rustlib/src/rust/library");
    lib.join("core/Cargo.toml").is_file().then_some(lib)
}

/// Finds a toolchain for `board`, or explains what to install.
///
/// `TINYSTUDIO_CARGO` and `TINYSTUDIO_RUSTC` pin the route-2 compiler
/// (default: `/usr/bin/cargo` and `/usr/bin/rustc`, Debian's packages, then
/// `cargo`/`rustc` on `PATH`); `TINYSTUDIO_ARM_LINKER` the linker.
pub fn detect(board: &Board) -> Result<Toolchain> {
    detect_target(board.target)
}

/// [`detect`] for a target triple (the C library's targets are no board's).
pub fn detect_target(target: &str) -> Result<Toolchain> {
    let mut tried = Vec::new();

    // Route 1: rustup with the target installed.
    if let Some(rustup) = which("rustup") {
        match output(Command::new(&rustup).args(["target", "list", "--installed"])) {
            Some(list) if list.lines().any(|l| l.trim() == target) => {
                return Ok(Toolchain::Prebuilt {
                    cargo: which("cargo").unwrap_or_else(|| PathBuf::from("cargo")),
                    rustc: None,
                    origin: "rustup".into(),
                });
            }
            _ => tried.push(format!(
                "rustup has no {target} standard library (`rustup target list --installed`)"
            )),
        }
    }

    // Route 2 (or a prebuilt core outside rustup).
    let pinned = |var: &str| {
        env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut candidates: Vec<(PathBuf, PathBuf)> = Vec::new();
    if let (Some(cargo), Some(rustc)) = (pinned("TINYSTUDIO_CARGO"), pinned("TINYSTUDIO_RUSTC")) {
        candidates.push((cargo, rustc));
    }
    candidates.push(("/usr/bin/cargo".into(), "/usr/bin/rustc".into()));
    if let (Some(cargo), Some(rustc)) = (which("cargo"), which("rustc")) {
        candidates.push((cargo, rustc));
    }
    for (cargo, rustc) in candidates {
        if !cargo.is_file() || !rustc.is_file() {
            continue;
        }
        let Some(root) = sysroot(&rustc) else {
            tried.push(format!("{} does not run", rustc.display()));
            continue;
        };
        if has_prebuilt_core(&root, target) {
            return Ok(Toolchain::Prebuilt {
                cargo,
                rustc: Some(rustc.clone()),
                origin: format!("{} (sysroot {})", rustc.display(), root.display()),
            });
        }
        let Some(library_src) = library_src(&root) else {
            tried.push(format!(
                "{} has neither a {target} core nor the library sources (lib/rustlib/src/rust/library)",
                rustc.display()
            ));
            continue;
        };
        let linker = pinned("TINYSTUDIO_ARM_LINKER").or_else(|| which("arm-none-eabi-gcc"));
        let Some(linker) = linker else {
            tried.push(format!(
                "{} can build core from source, but arm-none-eabi-gcc (the linker) is missing",
                rustc.display()
            ));
            continue;
        };
        return Ok(Toolchain::BuildStd {
            cargo,
            rustc,
            library_src,
            linker,
        });
    }
    Err(Error::NoToolchain {
        target: target.into(),
        hint: format!(
            "install the target with `rustup target add {target}`, or (Debian) \
             `apt-get install rustc-web cargo-web rust-web-src gcc-arm-none-eabi` so core is \
             built from source. Tried: {}",
            if tried.is_empty() {
                "nothing found".to_string()
            } else {
                tried.join("; ")
            }
        ),
    })
}
