//! Putting a finished build on a board plugged into the machine that runs
//! the studio, with the board's own tool: `probe-rs` (Nano 33 BLE through a
//! debug probe), `bossac` (Nano 33 BLE through the Arduino bootloader), a
//! UF2 copy to the Pico's `RPI-RP2` drive or `picotool`. The commands are
//! those of each board's [`Board::flashing`] note.
//!
//! The tools are programs, found on `PATH` (or [`FlashConfig::tool_path`]),
//! so each is called exactly as a person would call it and tests can put
//! recording scripts in their place. A missing tool or a missing board is
//! an error that says what to install or plug in.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::boards::{ArtifactKind, Board};
use crate::error::{Error, Result};

/// Where tools and drives are looked for.
#[derive(Debug, Clone)]
pub struct FlashConfig {
    /// Folders searched for the tools, in `PATH`'s form; `None`: the
    /// studio's own `PATH`.
    pub tool_path: Option<OsString>,
    /// Folders that may be a mounted `RPI-RP2` drive or hold one (like
    /// `/media/$USER`), searched besides the machine's mount table.
    pub drive_roots: Vec<PathBuf>,
    /// How long one tool may run.
    pub timeout: Duration,
}

impl Default for FlashConfig {
    fn default() -> Self {
        FlashConfig {
            tool_path: None,
            drive_roots: Vec::new(),
            timeout: Duration::from_secs(120),
        }
    }
}

/// How a board is flashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `probe-rs download --chip CHIP firmware.elf`, then a reset.
    ProbeRs { chip: &'static str },
    /// `bossac ... -w firmware.bin -R` over the Arduino bootloader's port.
    Bossac,
    /// `firmware.uf2` copied onto the RP2040 boot ROM's drive.
    Uf2Copy,
    /// `picotool load -x firmware.uf2` (the Pico in BOOTSEL mode over USB).
    Picotool,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::ProbeRs { .. } => "probe-rs",
            Method::Bossac => "bossac",
            Method::Uf2Copy => "uf2-copy",
            Method::Picotool => "picotool",
        }
    }

    fn tool(self) -> Option<(&'static str, &'static str)> {
        match self {
            Method::ProbeRs { .. } => Some((
                "probe-rs",
                "install it with `cargo install probe-rs-tools --locked`, and connect a debug probe to the board's SWD pins",
            )),
            Method::Bossac => Some((
                "bossac",
                "install Arduino's bossac (in the Arduino IDE's \"Arduino Mbed OS Nano Boards\" core) or Debian's `apt-get install bossa-cli`",
            )),
            Method::Picotool => Some((
                "picotool",
                "install it (Debian 13: `apt-get install picotool`), or hold BOOTSEL while plugging the Pico in and let its RPI-RP2 drive mount",
            )),
            Method::Uf2Copy => None,
        }
    }
}

/// The ways each board can be flashed, in order of preference.
pub fn methods(board: &Board) -> Vec<Method> {
    match board.name {
        "nano33ble" => vec![Method::ProbeRs {
            chip: "nRF52840_xxAA",
        }],
        "nano33ble-bossac" => vec![Method::Bossac],
        "pico" => vec![
            Method::Uf2Copy,
            Method::Picotool,
            Method::ProbeRs { chip: "RP2040" },
        ],
        _ => Vec::new(),
    }
}

/// What to flash, and where the person said the board is.
#[derive(Debug, Clone, Default)]
pub struct FlashRequest {
    /// The build's files (`firmware.elf`, `.bin`, `.uf2`, ...), by kind.
    pub files: Vec<(ArtifactKind, PathBuf)>,
    /// The bootloader's serial port (bossac); found by USB id when absent.
    pub port: Option<String>,
    /// The mounted `RPI-RP2` drive (UF2 copy); searched for when absent.
    pub drive: Option<PathBuf>,
}

impl FlashRequest {
    fn file(&self, kind: ArtifactKind) -> Result<&Path> {
        self.files
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, p)| p.as_path())
            .ok_or_else(|| {
                Error::NotFlashable(format!(
                    "the build has no firmware.{} to flash",
                    kind.extension()
                ))
            })
    }
}

/// One step of flashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Run {
        program: PathBuf,
        args: Vec<OsString>,
    },
    Copy {
        from: PathBuf,
        to: PathBuf,
    },
}

impl Step {
    /// The step as a shell line, for people and logs.
    pub fn display(&self) -> String {
        match self {
            Step::Run { program, args } => {
                let name = program.file_name().unwrap_or(program.as_os_str());
                std::iter::once(name)
                    .chain(args.iter().map(OsString::as_os_str))
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            Step::Copy { from, to } => format!("cp {} {}", from.display(), to.display()),
        }
    }
}

/// The chosen method and its steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub method: Method,
    pub steps: Vec<Step>,
}

/// What flashing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashReport {
    pub method: Method,
    /// Each step as a shell line.
    pub commands: Vec<String>,
    /// What the tools printed (stdout, then stderr).
    pub output: String,
}

/// Chooses how to flash `board` here: the first of its [`methods`] whose
/// tool is installed (a UF2 copy when a drive is mounted or named), with the
/// command lines it will run.
pub fn plan(config: &FlashConfig, board: &Board, request: &FlashRequest) -> Result<Plan> {
    let methods = methods(board);
    if methods.is_empty() {
        return Err(Error::NotFlashable(if board.emulated {
            format!(
                "{} is emulated: it runs under QEMU, there is nothing to flash",
                board.name
            )
        } else {
            format!("the studio cannot flash {} itself", board.name)
        }));
    }
    let mut missing = Vec::new();
    for method in methods {
        if method == Method::Uf2Copy {
            let drive = match &request.drive {
                Some(named) => Some(check_drive(named)?),
                None => find_drive(config),
            };
            if let Some(drive) = drive {
                let from = request.file(ArtifactKind::Uf2)?.to_path_buf();
                return Ok(Plan {
                    method,
                    steps: vec![Step::Copy {
                        from,
                        to: drive.join("firmware.uf2"),
                    }],
                });
            }
            missing.push(
                "no RPI-RP2 drive is mounted (hold BOOTSEL while plugging the Pico in)".to_owned(),
            );
            continue;
        }
        let Some((tool, install)) = method.tool() else {
            continue;
        };
        let Some(program) = find_tool(config, tool) else {
            missing.push(format!("{tool} is not installed ({install})"));
            continue;
        };
        let steps = match method {
            Method::ProbeRs { chip } => {
                let elf = request.file(ArtifactKind::Elf)?;
                vec![
                    run(
                        &program,
                        ["download", "--chip", chip].map(OsStr::new),
                        [elf],
                    ),
                    run(&program, ["reset", "--chip", chip].map(OsStr::new), []),
                ]
            }
            Method::Bossac => {
                let bin = request.file(ArtifactKind::Bin)?;
                let port = match &request.port {
                    Some(p) if !p.trim().is_empty() => p.trim().to_owned(),
                    _ => find_arduino_port()?,
                };
                let mut args: Vec<OsString> =
                    vec!["-d".into(), format!("--port={port}").into(), "-U".into()];
                args.extend(["-i", "-e", "-w"].map(OsString::from));
                args.push(bin.as_os_str().to_owned());
                args.push("-R".into());
                vec![Step::Run { program, args }]
            }
            Method::Picotool => {
                let uf2 = request.file(ArtifactKind::Uf2)?;
                vec![run(&program, ["load", "-x"].map(OsStr::new), [uf2])]
            }
            Method::Uf2Copy => unreachable!("handled above"),
        };
        return Ok(Plan { method, steps });
    }
    Err(Error::ToolMissing(format!(
        "cannot flash {}: {}",
        board.name,
        missing.join("; ")
    )))
}

fn run<const N: usize, const M: usize>(
    program: &Path,
    words: [&OsStr; N],
    files: [&Path; M],
) -> Step {
    Step::Run {
        program: program.to_path_buf(),
        args: words
            .iter()
            .map(|w| w.to_os_string())
            .chain(files.iter().map(|f| f.as_os_str().to_owned()))
            .collect(),
    }
}

/// Flashes: [`plan`], then each step, stopping at the first that fails.
/// Blocking (a tool may run for many seconds): call it from a worker
/// thread.
pub fn flash(config: &FlashConfig, board: &Board, request: &FlashRequest) -> Result<FlashReport> {
    let plan = plan(config, board, request)?;
    let mut output = String::new();
    let mut commands = Vec::new();
    for step in &plan.steps {
        commands.push(step.display());
        match step {
            Step::Copy { from, to } => copy_uf2(from, to)?,
            Step::Run { program, args } => {
                let (ok, printed) = run_tool(program, args, config.timeout)?;
                output.push_str(&printed);
                if !ok {
                    return Err(failure(plan.method, &step.display(), &printed));
                }
            }
        }
    }
    Ok(FlashReport {
        method: plan.method,
        commands,
        output,
    })
}

/// A tool's failure, recognising "no board" in what it printed.
fn failure(method: Method, command: &str, printed: &str) -> Error {
    let lower = printed.to_lowercase();
    let no_board = match method {
        Method::ProbeRs { .. } => {
            (lower.contains("no connected probes") || lower.contains("no probe")).then_some(
                "no debug probe found: connect the probe to the board's SWD pins and to this machine over USB",
            )
        }
        Method::Bossac => (lower.contains("no device found") || lower.contains("no such file"))
            .then_some(
                "no board answered on the port: double-tap the Nano's reset button (the LED pulses) and flash again within a few seconds",
            ),
        Method::Picotool => lower.contains("no accessible").then_some(
            "no Pico in BOOTSEL mode: hold BOOTSEL while plugging it in, then flash again",
        ),
        Method::Uf2Copy => None,
    };
    match no_board {
        Some(what) => Error::NoBoard(format!("{what} ({command}: {})", last_lines(printed))),
        None => Error::FlashFailed {
            command: command.to_owned(),
            output: last_lines(printed),
        },
    }
}

fn last_lines(s: &str) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// Finds `tool` on the configured path. The `which` crate does what a
/// shell does (executable bit, `PATHEXT` on Windows).
pub fn find_tool(config: &FlashConfig, tool: &str) -> Option<PathBuf> {
    let path = config
        .tool_path
        .clone()
        .or_else(|| std::env::var_os("PATH"))?;
    let cwd = std::env::current_dir().ok()?;
    which::which_in(tool, Some(path), cwd).ok()
}

/// The Arduino bootloader's port: the one USB port with Arduino's vendor id
/// and a bootloader's product id.
fn find_arduino_port() -> Result<String> {
    pick_arduino_port(&crate::serial::list_ports()?)
}

/// Arduino's boards enumerate with the product id's top bit clear in their
/// bootloader (the Nano 33 BLE: `2341:005a`) and set while a sketch runs
/// (`2341:805a`), which is also what TinyStudio's firmware shows on the
/// board's USB serial port: bossac needs the former.
fn pick_arduino_port(ports: &[crate::serial::PortInfo]) -> Result<String> {
    const ARDUINO_VID: u16 = 0x2341;
    const APPLICATION: u16 = 0x8000;
    let arduino = |bootloader: bool| -> Vec<&str> {
        ports
            .iter()
            .filter(|p| {
                p.usb_ids.is_some_and(|(vid, pid)| {
                    vid == ARDUINO_VID && (pid & APPLICATION == 0) == bootloader
                })
            })
            .map(|p| p.path.as_str())
            .collect()
    };
    match arduino(true).as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => match arduino(false).as_slice() {
            [] => Err(Error::NoBoard(
                "no Arduino board on a USB port: plug the Nano 33 BLE in, double-tap its reset button (the LED pulses), then flash again".into(),
            )),
            running => Err(Error::NoBoard(format!(
                "the Arduino board on {} is running its firmware, not the bootloader: double-tap its reset button (the LED pulses), then flash again",
                running.join(", ")
            ))),
        },
        many => Err(Error::NoBoard(format!(
            "several Arduino boards are plugged in ({}): name the port to flash",
            many.join(", ")
        ))),
    }
}

/// What the RP2040's boot ROM writes on its drive.
const INFO_FILE: &str = "INFO_UF2.TXT";

fn is_rp2_drive(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(INFO_FILE))
        .is_ok_and(|info| info.contains("RPI-RP2") || info.contains("RP2040"))
}

fn check_drive(dir: &Path) -> Result<PathBuf> {
    if is_rp2_drive(dir) {
        Ok(dir.to_path_buf())
    } else {
        Err(Error::NoBoard(format!(
            "{} is not a Pico's RPI-RP2 drive (no {INFO_FILE} naming RPI-RP2 there)",
            dir.display()
        )))
    }
}

/// A mounted `RPI-RP2` drive: a mount point of the machine, or one of the
/// configured roots or a folder directly inside one.
pub fn find_drive(config: &FlashConfig) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = mount_points();
    for root in &config.drive_roots {
        candidates.push(root.clone());
        if let Ok(entries) = std::fs::read_dir(root) {
            candidates.extend(entries.flatten().map(|e| e.path()));
        }
    }
    candidates.into_iter().find(|d| is_rp2_drive(d))
}

/// The machine's mount points (Linux's mount table, macOS's `/Volumes`).
fn mount_points() -> Vec<PathBuf> {
    let mut points = Vec::new();
    if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
        for line in mounts.lines() {
            if let Some(point) = line.split(' ').nth(1) {
                // The mount table escapes spaces and tabs as octal.
                points.push(PathBuf::from(
                    point.replace("\\040", " ").replace("\\011", "\t"),
                ));
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir("/Volumes") {
        points.extend(entries.flatten().map(|e| e.path()));
    }
    points
}

fn copy_uf2(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).map_err(Error::io(format!("reading {}", from.display())))?;
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(to)?;
        f.write_all(&bytes)?;
        // The boot ROM flashes as blocks arrive and reboots after the last
        // one: make sure they left the page cache.
        f.sync_all()
    };
    write().map_err(|e| Error::FlashFailed {
        command: format!("cp {} {}", from.display(), to.display()),
        output: e.to_string(),
    })
}

/// Runs a tool with no input; returns whether it succeeded and what it
/// printed. Both pipes are drained on threads so a chatty tool cannot
/// block on a full pipe while we wait for it.
fn run_tool(program: &Path, args: &[OsString], timeout: Duration) -> Result<(bool, String)> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::io(format!("starting {}", program.display())))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(Error::io(format!("waiting for {}", program.display())))?
        {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let printed = format!(
        "{}{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    match status {
        Some(status) => Ok((status.success(), printed)),
        None => Err(Error::Timeout {
            what: format!("{} to finish", program.display()),
            seconds: timeout.as_secs_f64(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serial::PortInfo;

    fn port(path: &str, usb_ids: Option<(u16, u16)>) -> PortInfo {
        PortInfo {
            path: path.into(),
            kind: "usb",
            description: String::new(),
            usb_ids,
        }
    }

    #[test]
    fn bossac_gets_the_bootloaders_port_not_the_running_firmwares() {
        let bootloader = port("/dev/ttyACM1", Some((0x2341, 0x005a)));
        let firmware = port("/dev/ttyACM0", Some((0x2341, 0x805a)));
        let pico = port("/dev/ttyACM2", Some((0x2e8a, 0x000a)));
        let adapter = port("/dev/ttyUSB0", None);
        assert_eq!(
            pick_arduino_port(&[firmware.clone(), bootloader.clone(), pico.clone()]).unwrap(),
            "/dev/ttyACM1"
        );
        let Err(Error::NoBoard(why)) = pick_arduino_port(&[firmware.clone(), adapter.clone()])
        else {
            panic!("a board running its firmware is not flashable by bossac");
        };
        assert!(
            why.contains("/dev/ttyACM0 is running its firmware"),
            "{why}"
        );
        assert!(why.contains("double-tap"), "{why}");
        let Err(Error::NoBoard(why)) = pick_arduino_port(&[pico, adapter]) else {
            panic!("no Arduino board");
        };
        assert!(why.starts_with("no Arduino board"), "{why}");
        let second = port("/dev/ttyACM3", Some((0x2341, 0x005a)));
        let Err(Error::NoBoard(why)) = pick_arduino_port(&[bootloader, second]) else {
            panic!("two bootloaders");
        };
        assert!(why.contains("/dev/ttyACM1, /dev/ttyACM3"), "{why}");
    }
}
