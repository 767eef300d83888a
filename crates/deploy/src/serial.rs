//! The serial ports of the machine that runs the studio: listing them,
//! opening one, reading the board's lines and writing frames to it.
//!
//! Ports are the `serialport` crate's (termios on Unix, the Win32 API on
//! Windows), built without its `libudev` feature: on Linux it then lists
//! ports from `/sys/class/tty` (USB CDC ACM boards as `/dev/ttyACM*`,
//! USB-serial adapters as `/dev/ttyUSB*`, and the machine's own UARTs) and
//! needs no system library. Pseudo-terminals (`/dev/pts/N`, e.g. QEMU's
//! `-serial pty`) are not listed but open like any port when named.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// What boards and the firmware use; USB CDC ACM ports ignore it.
pub const DEFAULT_BAUD: u32 = 115_200;

/// The fastest rate accepted (USB-serial bridges top out around 3–4 Mbaud).
pub const MAX_BAUD: u32 = 4_000_000;

/// A line longer than this is cut: binary noise on a wrong baud rate has no
/// line endings, and the reader must not hold it all.
pub const MAX_LINE: usize = 4096;

/// How long one read waits before the reader looks at its stop flag.
const READ_SLICE: Duration = Duration::from_millis(100);

/// One port of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// The device to open (`/dev/ttyACM0`, `COM3`).
    pub path: String,
    /// `usb`, `pci`, `bluetooth` or `other`.
    pub kind: &'static str,
    /// For people: the USB product and its ids, when known.
    pub description: String,
    /// USB vendor and product id.
    pub usb_ids: Option<(u16, u16)>,
}

/// The serial ports this machine has, sorted by path.
pub fn list_ports() -> Result<Vec<PortInfo>> {
    // Without libudev, serialport scans /sys/class/tty and panics when it
    // is absent (containers without /sys): such a machine has no ports.
    #[cfg(target_os = "linux")]
    if !std::path::Path::new("/sys/class/tty").is_dir() {
        return Ok(Vec::new());
    }
    let ports = serialport::available_ports().map_err(|e| Error::Serial {
        path: "(listing ports)".into(),
        what: e.to_string(),
    })?;
    let mut list: Vec<PortInfo> = ports
        .into_iter()
        .map(|p| {
            let (kind, description, usb_ids) = match p.port_type {
                serialport::SerialPortType::UsbPort(u) => {
                    let name = [u.manufacturer, u.product]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ");
                    let name = if name.is_empty() {
                        "USB serial device".to_owned()
                    } else {
                        name
                    };
                    (
                        "usb",
                        format!("{name} ({:04x}:{:04x})", u.vid, u.pid),
                        Some((u.vid, u.pid)),
                    )
                }
                serialport::SerialPortType::PciPort => ("pci", "PCI serial port".to_owned(), None),
                serialport::SerialPortType::BluetoothPort => {
                    ("bluetooth", "Bluetooth serial port".to_owned(), None)
                }
                serialport::SerialPortType::Unknown => ("other", "serial port".to_owned(), None),
            };
            PortInfo {
                path: p.port_name,
                kind,
                description,
                usb_ids,
            }
        })
        .collect();
    list.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(list)
}

/// Checks a baud rate before any port is touched.
pub fn check_baud(baud: u32) -> Result<()> {
    if baud == 0 || baud > MAX_BAUD {
        return Err(Error::BadBaud(baud));
    }
    Ok(())
}

/// Opens `path` at `baud` for exclusive use (8N1, no flow control, raw
/// bytes) and splits it into a reader and a writer, so one thread can wait
/// for lines while another sends frames.
pub fn open(path: &str, baud: u32) -> Result<(LineReader, PortWriter)> {
    check_baud(baud)?;
    if path.trim().is_empty() {
        return Err(Error::NotASerialPort {
            path: path.into(),
            why: "no port named".into(),
        });
    }
    check_device(path)?;
    let port = serialport::new(path, baud)
        .timeout(READ_SLICE)
        .open()
        .map_err(|e| open_error(path, e))?;
    let writer = port.try_clone().map_err(|e| Error::Serial {
        path: path.into(),
        what: format!("cannot share the port between reader and writer: {e}"),
    })?;
    Ok((
        LineReader {
            port,
            path: path.to_owned(),
            lines: LineSplitter::default(),
        },
        PortWriter {
            port: writer,
            path: path.to_owned(),
            baud,
        },
    ))
}

/// Refuses what cannot be a serial port before opening it, so naming a
/// regular file or a disk never opens it for writing.
fn check_device(path: &str) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => not_found(path),
        ErrorKind::PermissionDenied => Error::PortPermission { path: path.into() },
        _ => Error::Serial {
            path: path.into(),
            what: e.to_string(),
        },
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_char_device() {
            return Err(Error::NotASerialPort {
                path: path.into(),
                why: "not a character device".into(),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    Ok(())
}

fn not_found(path: &str) -> Error {
    let available = list_ports()
        .map(|ports| {
            ports
                .iter()
                .map(|p| p.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Error::PortNotFound {
        path: path.into(),
        available: if available.is_empty() {
            "none".into()
        } else {
            available
        },
    }
}

fn open_error(path: &str, e: serialport::Error) -> Error {
    match e.kind() {
        // serialport reports EBUSY (TIOCEXCL) and a held lock as NoDevice.
        serialport::ErrorKind::NoDevice => Error::PortBusy { path: path.into() },
        serialport::ErrorKind::Io(ErrorKind::NotFound) => not_found(path),
        serialport::ErrorKind::Io(ErrorKind::PermissionDenied) => {
            Error::PortPermission { path: path.into() }
        }
        // A character device that is no terminal (`/dev/null`) fails its
        // first termios call.
        _ if !is_terminal(path) => Error::NotASerialPort {
            path: path.into(),
            why: "not a terminal device".into(),
        },
        _ => Error::Serial {
            path: path.into(),
            what: e.to_string(),
        },
    }
}

/// Whether `path` is a terminal, checked on the error path only: opening a
/// board's port twice could reset it.
fn is_terminal(path: &str) -> bool {
    use std::io::IsTerminal;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Without O_NONBLOCK, opening a modem line waits for its carrier.
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    options.open(path).is_ok_and(|f| f.is_terminal())
}

/// Splits a byte stream into lines: `\n` ends a line, a trailing `\r` is
/// dropped, invalid UTF-8 is replaced, a line over [`MAX_LINE`] is cut.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Takes received bytes; returns the lines they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                lines.push(self.take());
            } else if self.pending.len() < MAX_LINE {
                self.pending.push(b);
            } else {
                lines.push(self.take());
                self.pending.push(b);
            }
        }
        lines
    }

    fn take(&mut self) -> String {
        let line = String::from_utf8_lossy(&self.pending)
            .trim_end_matches('\r')
            .to_owned();
        self.pending.clear();
        line
    }
}

/// The reading half of an open port.
pub struct LineReader {
    port: Box<dyn serialport::SerialPort>,
    path: String,
    lines: LineSplitter,
}

impl LineReader {
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The lines that arrived within about `wait` (often none). An error
    /// means the port is gone (the board unplugged, QEMU stopped).
    pub fn poll(&mut self, wait: Duration) -> Result<Vec<String>> {
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 4096];
        loop {
            match self.port.read(&mut buf) {
                Ok(0) => {
                    return Err(Error::Serial {
                        path: self.path.clone(),
                        what: "the port closed".into(),
                    });
                }
                Ok(n) => {
                    let lines = self.lines.push(&buf[..n]);
                    if !lines.is_empty() {
                        return Ok(lines);
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::Serial {
                        path: self.path.clone(),
                        what: format!("the port stopped answering ({e}); was the board unplugged?"),
                    });
                }
            }
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
        }
    }
}

/// The writing half of an open port.
pub struct PortWriter {
    port: Box<dyn serialport::SerialPort>,
    path: String,
    baud: u32,
}

impl PortWriter {
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn baud(&self) -> u32 {
        self.baud
    }

    /// How long `bytes` take on the wire at this baud rate (10 bits a byte
    /// with start and stop bits): a 96x96 RGB frame is 2.4 s at 115200.
    pub fn transfer_time(&self, bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 * 10.0 / f64::from(self.baud))
    }

    /// Writes everything, waiting for the device to take it; gives up when
    /// it has taken nothing for `stall` (a board that stopped reading).
    pub fn write_all(&mut self, bytes: &[u8], stall: Duration) -> Result<()> {
        let mut rest = bytes;
        let mut last_progress = Instant::now();
        while !rest.is_empty() {
            match self.port.write(rest) {
                Ok(0) => {}
                Ok(n) => {
                    rest = &rest[n..];
                    last_progress = Instant::now();
                    continue;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    return Err(Error::Serial {
                        path: self.path.clone(),
                        what: format!("writing failed: {e}"),
                    });
                }
            }
            if last_progress.elapsed() > stall {
                return Err(Error::Timeout {
                    what: format!(
                        "{} to take the frame ({} of {} bytes sent)",
                        self.path,
                        bytes.len() - rest.len(),
                        bytes.len()
                    ),
                    seconds: stall.as_secs_f64(),
                });
            }
        }
        let _ = self.port.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_reads() {
        let mut s = LineSplitter::default();
        assert!(s.push(b"Predictions (DSP: 1 ms.").is_empty());
        assert_eq!(
            s.push(b", Classification: 2 ms.):\r\n  car: 0.5\r\n  tr"),
            vec![
                "Predictions (DSP: 1 ms., Classification: 2 ms.):".to_owned(),
                "  car: 0.5".to_owned()
            ]
        );
        assert_eq!(s.push(b"uck: 0.5\n"), vec!["  truck: 0.5".to_owned()]);
    }

    #[test]
    fn cuts_endless_noise_and_replaces_bad_utf8() {
        let mut s = LineSplitter::default();
        let lines = s.push(&vec![0xffu8; MAX_LINE * 2 + 10]);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].chars().all(|c| c == '\u{fffd}'));
        assert_eq!(s.push(b"\n")[0].chars().count(), 10);
    }

    #[test]
    fn open_errors_say_busy_permission_or_missing() {
        use serialport::ErrorKind as K;
        let err = |kind| open_error("/dev/ttyACM0", serialport::Error::new(kind, "from the OS"));
        assert!(matches!(err(K::NoDevice), Error::PortBusy { .. }));
        let denied = err(K::Io(ErrorKind::PermissionDenied));
        assert!(matches!(denied, Error::PortPermission { .. }));
        assert!(denied.to_string().contains("dialout"), "{denied}");
        assert!(matches!(
            err(K::Io(ErrorKind::NotFound)),
            Error::PortNotFound { .. }
        ));
    }

    #[cfg(unix)]
    #[test]
    fn refuses_bad_baud_rates_and_non_devices() {
        assert!(matches!(check_baud(0), Err(Error::BadBaud(0))));
        assert!(matches!(check_baud(MAX_BAUD + 1), Err(Error::BadBaud(_))));
        assert!(check_baud(DEFAULT_BAUD).is_ok());
        let file = std::env::temp_dir().join(format!("not-a-port-{}", std::process::id()));
        std::fs::write(&file, b"keep me").unwrap();
        let err = open(file.to_str().unwrap(), DEFAULT_BAUD).err().unwrap();
        assert!(matches!(err, Error::NotASerialPort { .. }), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
        std::fs::remove_file(&file).unwrap();
        let err = open("/dev/no-such-port-here", DEFAULT_BAUD).err().unwrap();
        assert!(matches!(err, Error::PortNotFound { .. }), "{err}");
        let err = open("/dev/null", DEFAULT_BAUD).err().unwrap();
        assert!(
            matches!(&err, Error::NotASerialPort { why, .. } if why.contains("terminal")),
            "{err}"
        );
    }
}
