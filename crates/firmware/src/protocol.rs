//! The serial wire format, host to board, and the board's receiver.
//!
//! One image per frame:
//!
//! ```text
//! offset  size  field
//! 0       4     magic "TSIF" (TinyStudio image frame)
//! 4       4     payload length in bytes, u32 little-endian (= h * w * c)
//! 8       4     CRC-32 (IEEE, as zlib) of the payload, u32 little-endian
//! 12      n     raw pixels, HWC, one byte per channel, already resized
//! ```
//!
//! The board answers every frame with lines of text (see `app.rs`): the
//! predictions, or one `error: ...` line for a malformed frame, after which
//! it waits for the next frame.
//!
//! This file is plain `core` code with no board dependency: the host crate
//! `tinystudio-deploy` compiles the very same file (`#[path]`) for its frame
//! encoder and tests the receiver on the host, so both ends share one
//! definition of the format.

use core::fmt;

pub const MAGIC: [u8; 4] = *b"TSIF";
pub const HEADER_LEN: usize = 12;

/// The header of a frame carrying `payload`.
pub fn header(payload: &[u8]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[8..].copy_from_slice(&checksum(payload).to_le_bytes());
    h
}

/// CRC-32 of a payload (the engine's blob checksum, the zlib polynomial).
pub fn checksum(payload: &[u8]) -> u32 {
    tinystudio_engine::crc32::Crc32::new()
        .update(payload)
        .finish()
}

/// Why a frame was rejected. Each becomes one `error: ...` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Bytes arrived that did not start with the magic (line noise, a frame
    /// of another protocol, or the tail of a frame that was abandoned).
    BadMagic { skipped: u32 },
    /// The header announces a payload of another size than the model's input.
    Length { announced: u32, expected: u32 },
    /// The payload does not match the header's checksum.
    Checksum { announced: u32, computed: u32 },
    /// The sender went quiet in the middle of a frame.
    Timeout { received: u32, expected: u32 },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::BadMagic { skipped } => write!(
                f,
                "bad magic: skipped {skipped} bytes that did not start with \"TSIF\""
            ),
            FrameError::Length {
                announced,
                expected,
            } => write!(
                f,
                "wrong length: frame announces {announced} payload bytes, the model takes \
                 {expected}; frame discarded"
            ),
            FrameError::Checksum {
                announced,
                computed,
            } => write!(
                f,
                "bad checksum: header says {announced:#010x}, payload has {computed:#010x}"
            ),
            FrameError::Timeout { received, expected } => write!(
                f,
                "timeout: frame stopped after {received} of {expected} bytes"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for the magic; `matched` bytes of it seen so far.
    Hunting { matched: usize },
    /// Reading the 8 bytes after the magic.
    Header { got: usize },
    /// Reading the payload into the caller's buffer.
    Payload { got: usize },
    /// Throwing away the payload of a frame whose length is wrong; the
    /// error is reported once it has passed (or the line went quiet), so
    /// the sender's next frame is not mistaken for its tail.
    Discarding { left: u32, error: FrameError },
}

/// What the caller should do after feeding a byte or a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Keep reading.
    Pending,
    /// A complete frame with a valid checksum is in the payload buffer.
    Frame,
    /// The frame was rejected; report it and keep reading.
    Rejected(FrameError),
}

/// Byte-at-a-time frame receiver: the board feeds it every received byte and
/// every timeout, it writes the payload straight into the caller's buffer
/// (the model's input tensor, so no second image buffer is needed).
#[derive(Clone)]
pub struct Receiver {
    expected: u32,
    state: State,
    skipped: u32,
    header: [u8; 8],
    crc: tinystudio_engine::crc32::Crc32,
}

impl Receiver {
    /// A receiver for payloads of exactly `expected` bytes.
    pub fn new(expected: usize) -> Self {
        Receiver {
            expected: expected as u32,
            state: State::Hunting { matched: 0 },
            skipped: 0,
            header: [0; 8],
            crc: tinystudio_engine::crc32::Crc32::new(),
        }
    }

    /// Whether silence should end what is being received now. Between
    /// frames the board waits for the host as long as it takes.
    pub fn timeout_applies(&self) -> bool {
        !matches!(self.state, State::Hunting { matched: 0 }) || self.skipped > 0
    }

    /// The line has been quiet for the timeout.
    pub fn timeout(&mut self) -> Poll {
        let state = self.state;
        let skipped = self.skipped;
        self.reset();
        match state {
            State::Hunting { matched } if skipped > 0 || matched > 0 => {
                Poll::Rejected(FrameError::BadMagic {
                    skipped: skipped + matched as u32,
                })
            }
            State::Header { got } => Poll::Rejected(FrameError::Timeout {
                received: (4 + got) as u32,
                expected: HEADER_LEN as u32 + self.expected,
            }),
            State::Payload { got } => Poll::Rejected(FrameError::Timeout {
                received: (HEADER_LEN + got) as u32,
                expected: HEADER_LEN as u32 + self.expected,
            }),
            State::Discarding { error, .. } => Poll::Rejected(error),
            _ => Poll::Pending,
        }
    }

    fn reset(&mut self) {
        self.state = State::Hunting { matched: 0 };
        self.skipped = 0;
        self.crc = tinystudio_engine::crc32::Crc32::new();
    }

    /// Feeds one received byte; `payload` must be `expected` bytes long.
    pub fn feed(&mut self, byte: u8, payload: &mut [u8]) -> Poll {
        match self.state {
            State::Hunting { matched } => {
                if byte == MAGIC[matched] {
                    if matched + 1 < MAGIC.len() {
                        self.state = State::Hunting {
                            matched: matched + 1,
                        };
                        return Poll::Pending;
                    }
                    self.state = State::Header { got: 0 };
                    // Noise before a good frame is reported, then the frame is read.
                    if self.skipped > 0 {
                        let skipped = self.skipped;
                        self.skipped = 0;
                        return Poll::Rejected(FrameError::BadMagic { skipped });
                    }
                    return Poll::Pending;
                }
                // The bytes matched so far were noise; the current one may
                // start the magic again.
                let restart = usize::from(byte == MAGIC[0]);
                self.skipped = self.skipped.saturating_add((matched + 1 - restart) as u32);
                self.state = State::Hunting { matched: restart };
                Poll::Pending
            }
            State::Header { got } => {
                self.header[got] = byte;
                if got + 1 < self.header.len() {
                    self.state = State::Header { got: got + 1 };
                    return Poll::Pending;
                }
                let [a, b, c, d, ..] = self.header;
                let announced = u32::from_le_bytes([a, b, c, d]);
                if announced != self.expected || payload.len() != self.expected as usize {
                    let error = FrameError::Length {
                        announced,
                        expected: self.expected,
                    };
                    if announced == 0 {
                        self.reset();
                        return Poll::Rejected(error);
                    }
                    self.state = State::Discarding {
                        left: announced,
                        error,
                    };
                    return Poll::Pending;
                }
                self.state = State::Payload { got: 0 };
                if self.expected == 0 {
                    return self.finish();
                }
                Poll::Pending
            }
            State::Payload { got } => {
                if let Some(slot) = payload.get_mut(got) {
                    *slot = byte;
                }
                self.crc = self.crc.update(&[byte]);
                if got + 1 < self.expected as usize {
                    self.state = State::Payload { got: got + 1 };
                    Poll::Pending
                } else {
                    self.finish()
                }
            }
            State::Discarding { left, error } => {
                if left > 1 {
                    self.state = State::Discarding {
                        left: left - 1,
                        error,
                    };
                    Poll::Pending
                } else {
                    self.reset();
                    Poll::Rejected(error)
                }
            }
        }
    }

    fn finish(&mut self) -> Poll {
        let [_, _, _, _, a, b, c, d] = self.header;
        let announced = u32::from_le_bytes([a, b, c, d]);
        let computed = self.crc.finish();
        self.reset();
        if announced == computed {
            Poll::Frame
        } else {
            Poll::Rejected(FrameError::Checksum {
                announced,
                computed,
            })
        }
    }
}
