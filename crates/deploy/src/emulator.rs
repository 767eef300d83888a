//! Running the firmware on the emulated Cortex-M4 (QEMU's MPS2 AN386) and
//! talking to it over its UART, as the studio talks to a real board.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Config;
use crate::error::{Error, Result};
use crate::monitor::{BoardEvent, Monitor};
use crate::wire;

/// The serial frame carrying one image (see `crates/firmware/src/protocol.rs`).
pub fn frame(pixels: &[u8]) -> Vec<u8> {
    let mut f = wire::header(pixels).to_vec();
    f.extend_from_slice(pixels);
    f
}

/// The board's `ready` line: what the firmware was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    pub board: String,
    pub protocol: u32,
    /// `[h, w, c]` of the pixels a frame must carry.
    pub input: [usize; 3],
    pub labels: usize,
    pub arena: usize,
    pub line: String,
}

impl Ready {
    pub(crate) fn parse(line: &str) -> Option<Ready> {
        let rest = line.strip_prefix("ready:")?;
        let field = |name: &str| {
            rest.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        };
        let mut dims = field("input")?.split('x').map(|d| d.parse().ok());
        Some(Ready {
            board: field("board")?.to_string(),
            protocol: field("protocol")?.parse().ok()?,
            input: [dims.next()??, dims.next()??, dims.next()??],
            labels: field("labels")?.parse().ok()?,
            arena: field("arena")?.parse().ok()?,
            line: line.to_string(),
        })
    }

    /// Bytes of pixels per frame.
    pub fn input_len(&self) -> usize {
        self.input.iter().product()
    }
}

/// What the board's counter measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostUnit {
    /// Executed instructions (the emulated board under `-icount shift=0`).
    Instructions,
    /// Core clock cycles (DWT CYCCNT or SysTick on real boards).
    Cycles,
}

/// Counter readings of one inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Pixel-to-int8 mapping.
    pub dsp: u64,
    /// The model's `invoke`, nothing else.
    pub classification: u64,
    pub unit: CostUnit,
}

/// One operator of a `profile` build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpProfile {
    pub index: usize,
    pub name: String,
    pub kernel: String,
    pub macs: u64,
    pub cost: u64,
}

/// One classification as the board reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardOutput {
    /// Every line of the response, as printed.
    pub lines: Vec<String>,
    /// Label and dequantized score per class, in output order.
    pub scores: Vec<(String, f32)>,
    /// The int8 output tensor, byte for byte.
    pub raw: Vec<i8>,
    /// Milliseconds as the board printed them (its counter's clock).
    pub dsp_ms: u64,
    pub classification_ms: u64,
    pub cost: Option<Cost>,
    /// Deepest stack use since reset, bytes.
    pub stack_used: Option<u64>,
    /// Per operator, from a `profile` build (empty otherwise).
    pub ops: Vec<OpProfile>,
}

impl BoardOutput {
    /// Instructions of the inference, when the counter counts instructions.
    pub fn instructions(&self) -> Option<u64> {
        self.cost
            .filter(|c| c.unit == CostUnit::Instructions)
            .map(|c| c.classification)
    }

    /// The inference's instructions and stack, as the studio keeps them.
    pub fn measurement(&self) -> Option<tinystudio_domain::footprint::Measurement> {
        Some(tinystudio_domain::footprint::Measurement {
            instructions: self.instructions()?,
            stack_used: self.stack_used,
        })
    }

    /// The class with the highest score.
    pub fn top(&self) -> Option<&(String, f32)> {
        self.scores.iter().max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Parses one response (the lines from `Predictions` to `done`).
    pub fn parse(lines: &[String]) -> Result<BoardOutput> {
        let bad = |what: &str| Error::Board(format!("{what} in response: {}", lines.join(" | ")));
        let mut out = BoardOutput {
            lines: lines.to_vec(),
            scores: Vec::new(),
            raw: Vec::new(),
            dsp_ms: 0,
            classification_ms: 0,
            cost: None,
            stack_used: None,
            ops: Vec::new(),
        };
        let kv = |s: &str, name: &str| -> Option<u64> {
            s.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?
                .parse()
                .ok()
        };
        let mut saw_header = false;
        for line in lines {
            if let Some(rest) = line.strip_prefix("Predictions (DSP: ") {
                saw_header = true;
                let num = |s: &str| s.split_whitespace().next()?.parse::<u64>().ok();
                out.dsp_ms = num(rest).ok_or_else(|| bad("unreadable DSP time"))?;
                out.classification_ms = rest
                    .split("Classification: ")
                    .nth(1)
                    .and_then(num)
                    .ok_or_else(|| bad("unreadable classification time"))?;
            } else if let Some(rest) = line.strip_prefix("  ") {
                let (label, score) = rest
                    .rsplit_once(": ")
                    .ok_or_else(|| bad("unreadable score line"))?;
                let score = score
                    .trim()
                    .parse::<f32>()
                    .map_err(|_| bad("unreadable score"))?;
                out.scores.push((label.to_string(), score));
            } else if let Some(rest) = line.strip_prefix("raw:") {
                out.raw = rest
                    .split_whitespace()
                    .map(str::parse)
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| bad("unreadable raw output"))?;
            } else if let Some(rest) = line.strip_prefix("cost:") {
                let unit = if rest.contains("unit=instructions") {
                    CostUnit::Instructions
                } else {
                    CostUnit::Cycles
                };
                out.cost = Some(Cost {
                    dsp: kv(rest, "dsp").ok_or_else(|| bad("unreadable cost"))?,
                    classification: kv(rest, "classification")
                        .ok_or_else(|| bad("unreadable cost"))?,
                    unit,
                });
            } else if let Some(rest) = line.strip_prefix("stack:") {
                out.stack_used = kv(rest, "used");
            } else if let Some(rest) = line.strip_prefix("op:") {
                let word = |name: &str| {
                    rest.split_whitespace()
                        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                        .unwrap_or("")
                        .to_string()
                };
                out.ops.push(OpProfile {
                    index: kv(rest, "index").unwrap_or(0) as usize,
                    name: word("name"),
                    kernel: word("kernel"),
                    macs: kv(rest, "macs").unwrap_or(0),
                    cost: kv(rest, "cost").unwrap_or(0),
                });
            }
        }
        if !saw_header || out.raw.len() != out.scores.len() {
            return Err(bad("missing predictions or raw output"));
        }
        Ok(out)
    }
}

/// A response: predictions, or the board's `error:` line.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    Output(BoardOutput),
    Error(String),
}

/// A running emulated board. Dropping it stops QEMU.
pub struct Emulator {
    child: Child,
    stream: TcpStream,
    pending: Vec<u8>,
    ready: Ready,
    boot: Vec<String>,
    /// QEMU's working directory, where the emulated camera's frames file is.
    _dir: tempfile::TempDir,
}

/// The file the emulated board's camera reads its frames from, in QEMU's
/// working directory (`crates/firmware/src/board/mps2.rs`, `HostCamera`).
pub const CAMERA_FRAMES_FILE: &str = "tinystudio-camera.frames";

/// One frame for the emulated camera: a `TSCF` header (width and height as
/// little-endian u16, format 0 = RGB565) and the pixels of `rgb` (RGB888,
/// row-major) as RGB565 in the byte order the OV7675 sends. Concatenate
/// frames for a sequence; the camera takes one per photo, round and round.
pub fn camera_frame(width: u16, height: u16, rgb: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + rgb.len() / 3 * 2);
    out.extend_from_slice(b"TSCF");
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    for px in rgb.chunks_exact(3) {
        let v =
            (u16::from(px[0]) >> 3) << 11 | (u16::from(px[1]) >> 2) << 5 | u16::from(px[2]) >> 3;
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

impl Emulator {
    /// Starts the ELF under QEMU and waits for its `ready` line.
    pub fn start(elf: &Path, timeout: Duration) -> Result<Emulator> {
        Self::start_with(&Config::from_env(), elf, timeout)
    }

    /// [`start`](Self::start) with an explicit configuration (QEMU binary).
    ///
    /// QEMU runs `-icount shift=0`: virtual time advances 1 ns per
    /// instruction, which is what makes the board's counter count
    /// instructions. The UART is a TCP connection to a port we listen on,
    /// not stdio, so binary pixels pass untouched by QEMU's terminal
    /// multiplexer (which would take 0x01 as its escape key).
    pub fn start_with(config: &Config, elf: &Path, timeout: Duration) -> Result<Emulator> {
        Self::start_camera(config, elf, timeout, None)
    }

    /// [`start_with`](Self::start_with), the emulated camera taking its
    /// photos from `frames` ([`camera_frame`]s): the firmware's camera loop
    /// then prints `Taking photo...` and its predictions every interval
    /// (read them with [`read_photo`](Self::read_photo)). QEMU runs with
    /// semihosting, through which the firmware reads the frames.
    ///
    /// QEMU is killed when the thread that started it ends (so a worker
    /// killed mid-run leaves no emulator behind): use the emulator on the
    /// thread that started it, as `run_emulated` does.
    pub fn start_camera(
        config: &Config,
        elf: &Path,
        timeout: Duration,
        frames: Option<&[u8]>,
    ) -> Result<Emulator> {
        if !elf.is_file() {
            return Err(Error::Emulator(format!("no firmware at {}", elf.display())));
        }
        // A directory of its own, so no stray frames file is ever read.
        let dir = tempfile::tempdir().map_err(Error::io("creating QEMU's working directory"))?;
        if let Some(frames) = frames {
            std::fs::write(dir.path().join(CAMERA_FRAMES_FILE), frames)
                .map_err(Error::io("writing the emulated camera's frames"))?;
        }
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(Error::io("listening on a local port for QEMU's UART"))?;
        let port = listener
            .local_addr()
            .map_err(Error::io("reading the local port"))?
            .port();
        let mut child = crate::process::dies_with_parent(&mut Command::new(&config.qemu))
            .args([
                "-M",
                "mps2-an386",
                "-cpu",
                "cortex-m4",
                "-icount",
                "shift=0",
            ])
            .args(["-nographic", "-monitor", "none"])
            .args(["-semihosting-config", "enable=on,target=native"])
            .arg("-serial")
            .arg(format!("tcp:127.0.0.1:{port}"))
            .arg("-kernel")
            .arg(elf)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Error::Emulator(format!(
                    "cannot start {} ({e}); install QEMU (Debian: apt-get install qemu-system-arm) \
                     or set TINYSTUDIO_QEMU",
                    config.qemu.display()
                ))
            })?;
        listener
            .set_nonblocking(true)
            .map_err(Error::io("configuring the UART socket"))?;
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if let Some(status) = child.try_wait().ok().flatten() {
                        return Err(Error::Emulator(format!(
                            "QEMU exited ({status}) before connecting: {}",
                            stderr_of(&mut child)
                        )));
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(Error::Timeout {
                            what: "QEMU to connect its UART".into(),
                            seconds: timeout.as_secs_f64(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(Error::io("accepting QEMU's UART connection")(e)),
            }
        };
        stream
            .set_nonblocking(false)
            .map_err(Error::io("configuring the UART socket"))?;
        let _ = stream.set_nodelay(true);
        let mut emu = Emulator {
            child,
            stream,
            _dir: dir,
            pending: Vec::new(),
            ready: Ready {
                board: String::new(),
                protocol: 0,
                input: [0; 3],
                labels: 0,
                arena: 0,
                line: String::new(),
            },
            boot: Vec::new(),
        };
        let deadline = Instant::now() + timeout;
        loop {
            let line = emu.read_line(deadline.saturating_duration_since(Instant::now()))?;
            if let Some(ready) = Ready::parse(&line) {
                emu.ready = ready;
                return Ok(emu);
            }
            if let Some(err) = line.strip_prefix("error:") {
                return Err(Error::Board(err.trim().to_string()));
            }
            emu.boot.push(line);
        }
    }

    /// Lines the firmware printed before `ready` (e.g. `selftest:`).
    pub fn boot_lines(&self) -> &[String] {
        &self.boot
    }

    /// What the firmware announced at boot.
    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// Sends bytes to the board's UART as they are (for malformed frames).
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream
            .write_all(bytes)
            .map_err(Error::io("writing to the emulated UART"))
    }

    /// Sends one image and waits for its predictions. The board's `error:`
    /// answer becomes [`Error::Board`].
    pub fn classify(&mut self, pixels: &[u8], timeout: Duration) -> Result<BoardOutput> {
        if pixels.len() != self.ready.input_len() {
            return Err(Error::Board(format!(
                "the firmware takes {}x{}x{} = {} bytes of pixels, got {}",
                self.ready.input[0],
                self.ready.input[1],
                self.ready.input[2],
                self.ready.input_len(),
                pixels.len()
            )));
        }
        self.send(&frame(pixels))?;
        match self.read_response(timeout)? {
            Response::Output(o) => Ok(o),
            Response::Error(e) => Err(Error::Board(e)),
        }
    }

    /// Reads up to the end of the next response to a frame (`done` or
    /// `error:`), passing over what a camera loop prints unasked.
    pub fn read_response(&mut self, timeout: Duration) -> Result<Response> {
        let deadline = Instant::now() + timeout;
        let mut monitor = Monitor::default();
        loop {
            let line = self.read_line(deadline.saturating_duration_since(Instant::now()))?;
            match monitor.feed(&line) {
                Some(BoardEvent::Predictions {
                    output,
                    unasked: false,
                }) => return Ok(Response::Output(output)),
                Some(BoardEvent::Error {
                    message,
                    unasked: false,
                }) => return Ok(Response::Error(message)),
                Some(BoardEvent::Panic(line)) => return Err(Error::Board(line)),
                Some(BoardEvent::Garbled(why)) => return Err(Error::Board(why)),
                _ => {}
            }
        }
    }

    /// The predictions of the camera loop's next photo (`Taking photo...`
    /// and the block after it); answers to frames are skipped.
    pub fn read_photo(&mut self, timeout: Duration) -> Result<BoardOutput> {
        let deadline = Instant::now() + timeout;
        let mut monitor = Monitor::default();
        loop {
            let line = self.read_line(deadline.saturating_duration_since(Instant::now()))?;
            match monitor.feed(&line) {
                Some(BoardEvent::Predictions {
                    output,
                    unasked: true,
                }) => return Ok(output),
                Some(BoardEvent::Error {
                    message,
                    unasked: true,
                }) => return Err(Error::Board(message)),
                Some(BoardEvent::Panic(line)) => return Err(Error::Board(line)),
                _ => {}
            }
        }
    }

    /// The next line from the board, without its line ending.
    pub fn read_line(&mut self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=pos).collect();
                return Ok(String::from_utf8_lossy(&line)
                    .trim_end_matches(['\r', '\n'])
                    .to_string());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout {
                    what: "a line from the emulated board".into(),
                    seconds: timeout.as_secs_f64(),
                });
            }
            self.stream
                .set_read_timeout(Some(left.min(Duration::from_millis(500))))
                .map_err(Error::io("configuring the UART socket"))?;
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    return Err(Error::Emulator(format!(
                        "QEMU closed the UART: {}",
                        stderr_of(&mut self.child)
                    )));
                }
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if let Some(status) = self.child.try_wait().ok().flatten() {
                        return Err(Error::Emulator(format!(
                            "QEMU exited ({status}): {}",
                            stderr_of(&mut self.child)
                        )));
                    }
                }
                Err(e) => return Err(Error::io("reading the emulated UART")(e)),
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    if child.try_wait().ok().flatten().is_some()
        && let Some(mut e) = child.stderr.take()
    {
        let _ = e.read_to_string(&mut s);
    }
    s.trim().to_string()
}

/// Runs one image through the firmware under QEMU: starts it, sends the
/// frame, parses the answer, stops QEMU.
pub fn run_emulated(elf: &Path, pixels: &[u8], timeout: Duration) -> Result<BoardOutput> {
    let deadline = Instant::now() + timeout;
    let mut emu = Emulator::start(elf, timeout)?;
    emu.classify(pixels, deadline.saturating_duration_since(Instant::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    #[test]
    fn parses_a_response() {
        let out = BoardOutput::parse(&lines(
            "Predictions (DSP: 1 ms., Classification: 322 ms., Anomaly: 0 ms.):\n  car: 0.07812\n  \
             truck: 0.92188\nraw: -108 108\ncost: dsp=10 classification=2000 unit=instructions\n\
             stack: used=4188 of 224512\nop: index=0 name=CONV_2D kernel=conv_patch macs=9 cost=77",
        ))
        .unwrap();
        assert_eq!(out.classification_ms, 322);
        assert_eq!(out.scores[1], ("truck".to_string(), 0.92188));
        assert_eq!(out.raw, vec![-108, 108]);
        assert_eq!(out.instructions(), Some(2000));
        assert_eq!(out.stack_used, Some(4188));
        assert_eq!(out.ops[0].kernel, "conv_patch");
        assert_eq!(out.top().unwrap().0, "truck");
    }

    #[test]
    fn parses_the_ready_line() {
        let r = Ready::parse(
            "ready: tinystudio-firmware board=mps2-an386 protocol=1 input=96x96x3 labels=2 arena=37632",
        )
        .unwrap();
        assert_eq!(r.input, [96, 96, 3]);
        assert_eq!(r.input_len(), 27648);
        assert_eq!(r.arena, 37632);
    }
}
