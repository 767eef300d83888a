//! Flashing with the boards' tools, proven with fake tools: scripts on the
//! tool path that record their arguments and print what the real tool
//! prints. The UF2 copy goes into a temporary folder that looks like the
//! Pico's RPI-RP2 drive.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tinystudio_deploy::flash::{self, FlashConfig, FlashRequest, Method};
use tinystudio_deploy::{ArtifactKind, Error, board};

struct Bench {
    dir: tempfile::TempDir,
    tools: PathBuf,
    record: PathBuf,
    request: FlashRequest,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let tools = dir.path().join("bin");
        std::fs::create_dir(&tools).unwrap();
        let record = dir.path().join("calls.txt");
        let build = dir.path().join("build");
        std::fs::create_dir(&build).unwrap();
        let mut files = Vec::new();
        for (kind, bytes) in [
            (ArtifactKind::Elf, b"\x7fELF fake".to_vec()),
            (ArtifactKind::Bin, vec![0xa5; 300]),
            (ArtifactKind::Uf2, b"UF2\nW\x95\xfe\x9e".repeat(64)),
        ] {
            let path = build.join(format!("firmware.{}", kind.extension()));
            std::fs::write(&path, bytes).unwrap();
            files.push((kind, path));
        }
        Bench {
            dir,
            tools,
            record,
            request: FlashRequest {
                files,
                ..Default::default()
            },
        }
    }

    /// A fake `name` that records its arguments (one call a line) and
    /// prints `says` then exits with `status`.
    fn tool(&self, name: &str, says: &str, status: i32) {
        let path = self.tools.join(name);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho \"{name} $*\" >> '{}'\necho '{says}'\nexit {status}\n",
                self.record.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn config(&self) -> FlashConfig {
        FlashConfig {
            tool_path: Some(self.tools.clone().into_os_string()),
            drive_roots: vec![self.dir.path().join("media")],
            ..Default::default()
        }
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn file(&self, kind: ArtifactKind) -> &Path {
        &self
            .request
            .files
            .iter()
            .find(|(k, _)| *k == kind)
            .unwrap()
            .1
    }

    /// A folder like the drive the RP2040's boot ROM mounts.
    fn rp2_drive(&self) -> PathBuf {
        let drive = self.dir.path().join("media").join("RPI-RP2");
        std::fs::create_dir_all(&drive).unwrap();
        std::fs::write(
            drive.join("INFO_UF2.TXT"),
            "UF2 Bootloader v3.0\r\nModel: Raspberry Pi RP2\r\nBoard-ID: RPI-RP2\r\n",
        )
        .unwrap();
        drive
    }
}

#[test]
fn nano33ble_goes_through_probe_rs_download_then_reset() {
    let bench = Bench::new();
    bench.tool("probe-rs", "      Finished in 3.1s", 0);
    let report =
        flash::flash(&bench.config(), board("nano33ble").unwrap(), &bench.request).unwrap();
    let elf = bench.file(ArtifactKind::Elf).display().to_string();
    assert_eq!(
        bench.calls(),
        vec![
            format!("probe-rs download --chip nRF52840_xxAA {elf}"),
            "probe-rs reset --chip nRF52840_xxAA".to_owned(),
        ]
    );
    assert_eq!(
        report.method,
        Method::ProbeRs {
            chip: "nRF52840_xxAA"
        }
    );
    assert_eq!(
        report.commands[0],
        format!("probe-rs download --chip nRF52840_xxAA {elf}")
    );
    assert!(report.output.contains("Finished"));
}

#[test]
fn a_missing_probe_and_a_missing_tool_are_named() {
    let bench = Bench::new();
    // No tool at all: the message names it and how to install it.
    let err =
        flash::flash(&bench.config(), board("nano33ble").unwrap(), &bench.request).unwrap_err();
    assert!(matches!(err, Error::ToolMissing(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("probe-rs is not installed"), "{text}");
    assert!(text.contains("cargo install probe-rs-tools"), "{text}");

    // The tool, but no probe plugged in: probe-rs's own words, recognised.
    bench.tool("probe-rs", "Error: No connected probes were found.", 1);
    let err =
        flash::flash(&bench.config(), board("nano33ble").unwrap(), &bench.request).unwrap_err();
    assert!(matches!(err, Error::NoBoard(_)), "{err}");
    assert!(err.to_string().contains("no debug probe found"), "{err}");
    assert_eq!(bench.calls().len(), 1, "no reset after a failed download");

    // Any other failure shows the tool's output.
    bench.tool("probe-rs", "Error: the flash algorithm failed", 1);
    let err =
        flash::flash(&bench.config(), board("nano33ble").unwrap(), &bench.request).unwrap_err();
    assert!(matches!(err, Error::FlashFailed { .. }), "{err}");
    assert!(err.to_string().contains("flash algorithm failed"), "{err}");
}

#[test]
fn bossac_writes_the_bin_over_the_named_port() {
    let bench = Bench::new();
    bench.tool("bossac", "Verify successful", 0);
    let request = FlashRequest {
        port: Some("/dev/ttyACM7".into()),
        ..bench.request.clone()
    };
    let report = flash::flash(
        &bench.config(),
        board("nano33ble-bossac").unwrap(),
        &request,
    )
    .unwrap();
    let bin = bench.file(ArtifactKind::Bin).display().to_string();
    // As boards.rs's note and Arduino's own upload recipe write it.
    assert_eq!(
        bench.calls(),
        vec![format!(
            "bossac -d --port=/dev/ttyACM7 -U -i -e -w {bin} -R"
        )]
    );
    assert_eq!(report.method, Method::Bossac);

    bench.tool("bossac", "No device found on /dev/ttyACM7", 1);
    let err = flash::flash(
        &bench.config(),
        board("nano33ble-bossac").unwrap(),
        &request,
    )
    .unwrap_err();
    assert!(matches!(err, Error::NoBoard(_)), "{err}");
    assert!(err.to_string().contains("double-tap"), "{err}");
}

#[test]
fn pico_copies_the_uf2_onto_a_mounted_drive_before_trying_picotool() {
    let bench = Bench::new();
    bench.tool("picotool", "Loading into Flash: [======] 100%", 0);
    let drive = bench.rp2_drive();
    // A folder that is not the Pico's drive is never written to.
    let other = bench.dir.path().join("media").join("USB-STICK");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("INFO_UF2.TXT"), "Board-ID: SAMD21-Xplained").unwrap();

    let report = flash::flash(&bench.config(), board("pico").unwrap(), &bench.request).unwrap();
    assert_eq!(report.method, Method::Uf2Copy);
    assert_eq!(
        std::fs::read(drive.join("firmware.uf2")).unwrap(),
        std::fs::read(bench.file(ArtifactKind::Uf2)).unwrap()
    );
    assert!(!other.join("firmware.uf2").exists());
    assert!(bench.calls().is_empty(), "the copy needs no tool");

    // A drive named explicitly must be one.
    let request = FlashRequest {
        drive: Some(other.clone()),
        ..bench.request.clone()
    };
    let err = flash::flash(&bench.config(), board("pico").unwrap(), &request).unwrap_err();
    assert!(matches!(err, Error::NoBoard(_)), "{err}");
    assert!(
        err.to_string().contains("not a Pico's RPI-RP2 drive"),
        "{err}"
    );
}

#[test]
fn pico_without_a_drive_uses_picotool_and_says_what_is_missing() {
    let bench = Bench::new();
    let err = flash::flash(&bench.config(), board("pico").unwrap(), &bench.request).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::ToolMissing(_)), "{text}");
    assert!(text.contains("no RPI-RP2 drive is mounted"), "{text}");
    assert!(text.contains("picotool is not installed"), "{text}");
    assert!(text.contains("probe-rs is not installed"), "{text}");

    bench.tool("picotool", "Loading into Flash: [======] 100%", 0);
    let report = flash::flash(&bench.config(), board("pico").unwrap(), &bench.request).unwrap();
    let uf2 = bench.file(ArtifactKind::Uf2).display().to_string();
    assert_eq!(bench.calls(), vec![format!("picotool load -x {uf2}")]);
    assert_eq!(report.method, Method::Picotool);

    bench.tool(
        "picotool",
        "No accessible RP-series devices in BOOTSEL mode were found.",
        1,
    );
    let err = flash::flash(&bench.config(), board("pico").unwrap(), &bench.request).unwrap_err();
    assert!(matches!(err, Error::NoBoard(_)), "{err}");
    assert!(err.to_string().contains("BOOTSEL"), "{err}");
}

#[test]
fn the_emulated_board_has_nothing_to_flash() {
    let bench = Bench::new();
    let err = flash::flash(
        &bench.config(),
        board("mps2-an386").unwrap(),
        &bench.request,
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotFlashable(_)), "{err}");
    assert!(err.to_string().contains("QEMU"), "{err}");
}
