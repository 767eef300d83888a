//! Reading what a board prints, line by line, whoever asked for it.
//!
//! A board answers each frame the host sends with a predictions block (or
//! one `error:` line), and a board with a camera also classifies on its
//! own, every few seconds:
//!
//! ```text
//! Starting inferencing in 2 seconds...
//! Taking photo...
//! Predictions (DSP: 9 ms., Classification: 322 ms., Anomaly: 0 ms.):
//!   car: 0.07812
//!   truck: 0.92188
//! raw: -108 108
//! done
//! ```
//!
//! [`Monitor`] turns lines into [`BoardEvent`]s and tells the two apart: a
//! block (or error) after `Taking photo...` is the camera's, unasked; any
//! other answers the host's frame. The emulator driver and the studio's
//! serial connections both read boards through it.

use crate::emulator::{BoardOutput, Ready};

/// The line a camera loop prints before it classifies its own photo.
pub const PHOTO_MARKER: &str = "Taking photo";

/// A predictions block longer than this is not one (a board printing
/// without end between `Predictions` and `done`). A block has a line per
/// output value: an imported autoencoder has hundreds (MLPerf Tiny's has
/// 640), so the bound only stops a board that never ends its block.
const MAX_BLOCK_LINES: usize = 1 << 16;

/// What a line, or the block it completes, means.
#[derive(Debug, Clone, PartialEq)]
pub enum BoardEvent {
    /// The board (re)started and announced its firmware.
    Ready(Ready),
    /// A complete predictions block, up to its `done`.
    Predictions {
        output: BoardOutput,
        /// Classified a photo of the board's own camera, not a frame.
        unasked: bool,
    },
    /// An `error: ...` line: a frame was refused (or the camera failed,
    /// when `unasked`).
    Error { message: String, unasked: bool },
    /// The firmware panicked (`panic: ...`); it prints nothing more.
    Panic(String),
    /// A block that could not be read, and why.
    Garbled(String),
}

impl BoardEvent {
    /// Whether this answers a frame the host sent.
    pub fn is_answer(&self) -> bool {
        match self {
            BoardEvent::Predictions { unasked, .. } | BoardEvent::Error { unasked, .. } => !unasked,
            BoardEvent::Panic(_) | BoardEvent::Garbled(_) => true,
            BoardEvent::Ready(_) => false,
        }
    }
}

/// The line reader's state: inside a block or not, and whether a photo
/// was announced.
#[derive(Debug, Default, Clone)]
pub struct Monitor {
    block: Option<Block>,
    photo: bool,
}

#[derive(Debug, Clone)]
struct Block {
    lines: Vec<String>,
    unasked: bool,
}

impl Monitor {
    /// Takes the next line (without its line ending).
    pub fn feed(&mut self, line: &str) -> Option<BoardEvent> {
        if let Some(ready) = Ready::parse(line) {
            *self = Monitor::default();
            return Some(BoardEvent::Ready(ready));
        }
        if line.starts_with("panic:") {
            *self = Monitor::default();
            return Some(BoardEvent::Panic(line.to_owned()));
        }
        if let Some(message) = line.strip_prefix("error:") {
            let unasked = self.block.take().map_or(self.photo, |b| b.unasked);
            self.photo = false;
            return Some(BoardEvent::Error {
                message: message.trim().to_owned(),
                unasked,
            });
        }
        if line.starts_with(PHOTO_MARKER) {
            self.photo = true;
            return None;
        }
        if line.starts_with("Predictions (") {
            // A block cut short by a reset or noise is dropped with it.
            self.block = Some(Block {
                lines: vec![line.to_owned()],
                unasked: std::mem::take(&mut self.photo),
            });
            return None;
        }
        if line == "done" {
            let Some(block) = self.block.take() else {
                return Some(BoardEvent::Garbled(
                    "`done` without a predictions block before it".into(),
                ));
            };
            return Some(match BoardOutput::parse(&block.lines) {
                Ok(output) => BoardEvent::Predictions {
                    output,
                    unasked: block.unasked,
                },
                Err(e) => BoardEvent::Garbled(e.to_string()),
            });
        }
        if let Some(block) = &mut self.block {
            block.lines.push(line.to_owned());
            if block.lines.len() > MAX_BLOCK_LINES {
                self.block = None;
                return Some(BoardEvent::Garbled(format!(
                    "a predictions block ran past {MAX_BLOCK_LINES} lines without `done`"
                )));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(m: &mut Monitor, text: &str) -> Vec<BoardEvent> {
        text.lines().filter_map(|l| m.feed(l)).collect()
    }

    const ANSWER: &str = "Predictions (DSP: 1 ms., Classification: 30 ms., Anomaly: 0 ms.):\n  \
        car: 0.07812\n  truck: 0.92188\nraw: -108 108\ncost: dsp=10 classification=20 unit=cycles\n\
        stack: used=100 of 1000\ndone";

    #[test]
    fn camera_blocks_are_unasked_and_frame_answers_are_not() {
        let mut m = Monitor::default();
        let camera = format!(
            "Starting inferencing in 2 seconds...\nTaking photo...\n{}",
            ANSWER.replace("30 ms", "322 ms")
        );
        let events = feed_all(&mut m, &format!("{camera}\n{ANSWER}\n{camera}"));
        let seen: Vec<(bool, u64)> = events
            .iter()
            .map(|e| match e {
                BoardEvent::Predictions { output, unasked } => (*unasked, output.classification_ms),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(seen, vec![(true, 322), (false, 30), (true, 322)]);
        assert!(!events[0].is_answer() && events[1].is_answer());
        let BoardEvent::Predictions { output, .. } = &events[1] else {
            unreachable!()
        };
        assert_eq!(output.raw, vec![-108, 108]);
        assert_eq!(output.scores[1], ("truck".to_owned(), 0.92188));
        assert_eq!(output.lines.len(), 6);
    }

    #[test]
    fn errors_ready_lines_and_broken_blocks() {
        let mut m = Monitor::default();
        let events = feed_all(
            &mut m,
            "ready: tinystudio-firmware board=mps2-an386 protocol=1 input=32x32x3 labels=3 arena=9000\n\
             error: bad checksum: header says 0x00000001, payload has 0x00000002\n\
             Taking photo...\nerror: camera did not answer\n\
             Predictions (DSP: 1 ms., Classification: 30 ms., Anomaly: 0 ms.):\n  car: 0.5\ndone\n\
             done\n\
             Predictions (DSP: 1 ms., Classification: 30 ms., Anomaly: 0 ms.):\n  car: 0.5\n\
             ready: tinystudio-firmware board=mps2-an386 protocol=1 input=32x32x3 labels=3 arena=9000\n\
             panic: out of bounds",
        );
        assert!(matches!(&events[0], BoardEvent::Ready(r) if r.input == [32, 32, 3]));
        assert!(matches!(
            &events[1],
            BoardEvent::Error { message, unasked: false } if message.starts_with("bad checksum")
        ));
        assert!(matches!(
            &events[2],
            BoardEvent::Error { unasked: true, .. }
        ));
        // Scores without a raw line: not a whole answer.
        assert!(matches!(&events[3], BoardEvent::Garbled(e) if e.contains("raw")));
        assert!(matches!(&events[4], BoardEvent::Garbled(e) if e.contains("without")));
        // A reset drops the block it cut short.
        assert!(matches!(&events[5], BoardEvent::Ready(_)));
        assert!(matches!(&events[6], BoardEvent::Panic(p) if p.contains("out of bounds")));
        assert_eq!(events.len(), 7);
    }
}
