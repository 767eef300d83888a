//! The firmware's loop: receive a frame of pixels, run the impulse, print the
//! predictions; and, on a board with a camera, take a photo every
//! `config::CAMERA_INTERVAL_MS`, preprocess it as the studio does, and print
//! its predictions too. Board independent (see [`crate::board::Board`]).
//!
//! With a camera, after the `ready` line:
//!
//! ```text
//! Starting inferencing in 2 seconds...
//! Taking photo...
//! Predictions (DSP: 140 ms., Classification: 600 ms., Anomaly: 0 ms.):
//!   ...
//! ```
//!
//! followed by the lines of a response below, every interval. Frames sent
//! over the serial port are answered between photos.
//!
//! Output, one response per frame (lines end with `\r\n`):
//!
//! ```text
//! Predictions (DSP: 2 ms., Classification: 805 ms., Anomaly: 0 ms.):
//!   no_person: 0.07812
//!   person: 0.92188
//! raw: -108 108
//! cost: dsp=55336 classification=20144640 unit=instructions
//! stack: used=1736 of 218496
//! done
//! ```
//!
//! The first lines follow Edge Impulse's firmware so people and tools that
//! read those recognise them; `raw:` (the int8 output tensor), `cost:` (the
//! counter converted to instructions or cycles) and `stack:` are for the
//! host's tests and benchmarks, `done` ends the response. A rejected frame
//! gets one `error: ...` line instead. With the `profile` feature, one
//! `op: ...` line per operator precedes `done`.

use core::fmt::{self, Write};

use tinystudio_device::camera::FramePixels;
use tinystudio_engine::preprocess::{Scratch, preprocess};
use tinystudio_engine::{Interpreter, ModelView};

use crate::board::{Board, Camera, CounterUnit};
use crate::config;
use crate::protocol::{Poll, Receiver};

/// Version of the serial protocol, announced in the `ready` line.
pub const PROTOCOL_VERSION: u32 = 1;

/// `core::fmt` sink writing to the board's serial port.
struct Out<'a, B: Board>(&'a mut B);

impl<B: Board> Write for Out<'_, B> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

/// A score with five decimals, as Edge Impulse prints them, without pulling
/// in `core`'s float formatting.
struct Decimal5(f32);

impl fmt::Display for Decimal5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        let (sign, a) = if v < 0.0 { ("-", -v) } else { ("", v) };
        // `as` saturates; scores are in [0, 1] for softmax outputs anyway.
        let scaled = (a * 100_000.0 + 0.5) as u64;
        write!(f, "{sign}{}.{:05}", scaled / 100_000, scaled % 100_000)
    }
}

/// Memory the camera loop works in, static in `main.rs` and sized by
/// `build.rs` (empty slices when the loop is built out).
pub struct CameraBuffers<'a> {
    /// One captured frame.
    pub frame: &'a mut [u8],
    /// The preprocessing's scratch (`tinystudio_engine::preprocess::Scratch`).
    pub row: &'a mut [u8],
    pub acc: &'a mut [u64],
    pub filtered: &'a mut [u16],
}

/// How long the first photo waits after the boot message, in milliseconds.
const FIRST_PHOTO_MS: u32 = 2000;

/// Runs forever: boot message, then one response per frame received over
/// the serial port and, with a camera, one photo classified every
/// `config::CAMERA_INTERVAL_MS`.
pub fn run<B: Board>(
    board: &mut B,
    blob: &[u8],
    arena: &mut [u8],
    mut camera: CameraBuffers<'_>,
) -> ! {
    let model = match prepare(blob) {
        Ok(m) => m,
        Err(e) => {
            let _ = write!(Out(board), "error: the built-in model is unusable: {e}\r\n");
            #[allow(clippy::empty_loop)]
            loop {}
        }
    };
    #[cfg(feature = "selftest")]
    selftest(board);
    let mut receiver = Receiver::new(announce(board, &model));
    // The next photo: (counter at the last one, milliseconds to wait).
    let mut photo = None;
    if config::CAMERA_INTERVAL_MS > 0 && !camera.frame.is_empty() && board.camera().is_some() {
        let _ = write!(
            Out(board),
            "Starting inferencing in {} seconds...\r\n",
            FIRST_PHOTO_MS / 1000
        );
        photo = Some((board.counter(), FIRST_PHOTO_MS));
    }
    // The Prepare step, once: every operator gets its kernel here.
    let mut it = match Interpreter::with_kernels(model.view, arena, &crate::kernels::KERNELS) {
        Ok(it) => it,
        Err(e) => {
            let _ = write!(Out(board), "error: {e}\r\n");
            #[allow(clippy::empty_loop)]
            loop {}
        }
    };
    loop {
        match receive(board, &mut receiver, as_u8_mut(it.input_mut()), photo) {
            Received::Frame => {
                // DSP: the host already resized; only the pixel -> int8 mapping.
                let t0 = board.counter();
                map_pixels(it.input_mut());
                let dsp = board.counter() - t0;
                classify(board, &model, &mut it, dsp);
            }
            Received::Rejected(e) => {
                let _ = write!(Out(board), "error: {e}\r\n");
            }
            Received::PhotoDue => {
                let _ = Out(board).write_str("Taking photo...\r\n");
                match take_photo(board, &mut camera, &mut it) {
                    Ok(dsp) => classify(board, &model, &mut it, dsp),
                    Err(e) => {
                        let _ = write!(Out(board), "error: camera: {e}\r\n");
                    }
                }
                photo = Some((board.counter(), config::CAMERA_INTERVAL_MS));
            }
        }
    }
}

/// Prints the `ready` line; returns the input's size in bytes. Not
/// inlined: the formatting's stack is not under the loop that runs the
/// model.
#[inline(never)]
fn announce<B: Board>(board: &mut B, model: &Prepared<'_>) -> usize {
    let input = model.view.input().ok();
    let (h, w, c) = input.map_or((0, 0, 0), |t| {
        let s = t.shape4();
        (s.h, s.w, s.c)
    });
    let _ = write!(
        Out(board),
        "ready: tinystudio-firmware board={} protocol={} input={h}x{w}x{c} labels={} arena={}\r\n",
        B::NAME,
        PROTOCOL_VERSION,
        model.view.label_count(),
        model.view.arena_size(),
    );
    h * w * c
}

/// Captures a frame and turns it into the model's input exactly as the
/// studio does (`tinystudio_engine::preprocess`, then the pixel mapping);
/// returns the counter ticks of that preprocessing ("DSP"). Not inlined:
/// its locals stay off the stack while the model runs.
#[inline(never)]
fn take_photo<B: Board>(
    board: &mut B,
    buffers: &mut CameraBuffers<'_>,
    it: &mut Interpreter<'_, '_>,
) -> Result<u64, PhotoError<B>> {
    let Some(camera) = board.camera() else {
        return Err(PhotoError::Engine(tinystudio_engine::Error::Unsupported(
            "the camera went away",
        )));
    };
    let frame = camera.capture(buffers.frame).map_err(PhotoError::Camera)?;
    let t0 = board.counter();
    let mut pixels = FramePixels::new(frame, buffers.frame).map_err(|_| {
        PhotoError::Engine(tinystudio_engine::Error::Unsupported(
            "the camera returned more than its buffer holds",
        ))
    })?;
    let scratch = Scratch {
        row: buffers.row,
        acc: buffers.acc,
        filtered: buffers.filtered,
    };
    preprocess(
        &mut pixels,
        &config::INPUT_FORMAT,
        scratch,
        as_u8_mut(it.input_mut()),
    )
    .map_err(PhotoError::Engine)?;
    map_pixels(it.input_mut());
    Ok(board.counter() - t0)
}

/// Why a photo gave no prediction.
enum PhotoError<B: Board> {
    Camera(<B::Camera as Camera>::Error),
    Engine(tinystudio_engine::Error),
}

impl<B: Board> fmt::Display for PhotoError<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhotoError::Camera(e) => write!(f, "{e}"),
            PhotoError::Engine(e) => write!(f, "{e}"),
        }
    }
}

/// The pixel -> int8 mapping, in place: the same table as in the studio.
/// Not inlined: inside the loop's large function the table's address was
/// rebuilt for every pixel (7 instructions a pixel instead of 5).
#[inline(never)]
fn map_pixels(input: &mut [i8]) {
    for x in input.iter_mut() {
        *x = config::PIXEL_MAP[usize::from(*x as u8)];
    }
}

struct Prepared<'a> {
    view: ModelView<'a>,
}

/// Not inlined, as the interpreter's Prepare is not: what parsing and
/// validating needs stays off the loop's frame, under which the model runs.
#[inline(never)]
fn prepare(blob: &[u8]) -> Result<Prepared<'_>, tinystudio_engine::Error> {
    // Verifies the checksum once at boot (catches corrupted flash).
    let view = ModelView::parse(blob)?;
    Ok(Prepared { view })
}

/// Views the int8 input tensor as bytes, so pixels are received in place.
fn as_u8_mut(b: &mut [i8]) -> &mut [u8] {
    // SAFETY: i8 and u8 have the same size, alignment and validity; the
    // exclusive borrow is carried over.
    unsafe { core::slice::from_raw_parts_mut(b.as_mut_ptr().cast::<u8>(), b.len()) }
}

/// What ended a wait for the host.
enum Received {
    /// A good frame is in the payload.
    Frame,
    /// A bad frame, and why.
    Rejected(crate::protocol::FrameError),
    /// Time for a photo (never in the middle of a frame).
    PhotoDue,
}

/// Receives one good frame into `payload`, reports why a frame was bad, or
/// returns when `photo` (the counter at the last photo and the milliseconds
/// to wait) says the next one is due.
// Not inlined: the receiver's state machine stays off the loop's frame,
// under which the model runs.
#[inline(never)]
fn receive<B: Board>(
    board: &mut B,
    rx: &mut Receiver,
    payload: &mut [u8],
    photo: Option<(u64, u32)>,
) -> Received {
    let mut last = board.counter();
    loop {
        let poll = match board.read_byte() {
            Some(byte) => {
                last = board.counter();
                rx.feed(byte, payload)
            }
            None if rx.timeout_applies()
                && board.counter().wrapping_sub(last) > B::FRAME_TIMEOUT_TICKS =>
            {
                rx.timeout()
            }
            None => match photo {
                Some((since, wait_ms))
                    if !rx.timeout_applies()
                        && millis::<B>(board.counter().wrapping_sub(since))
                            >= u64::from(wait_ms) =>
                {
                    return Received::PhotoDue;
                }
                _ => continue,
            },
        };
        match poll {
            Poll::Pending => {}
            Poll::Frame => return Received::Frame,
            Poll::Rejected(e) => return Received::Rejected(e),
        }
    }
}

/// Counter ticks as the board's milliseconds: the cost (cycles, or
/// instructions on the emulated board) at its clock, rounded.
fn millis<B: Board>(ticks: u64) -> u64 {
    let hz = u64::from(B::CPU_HZ);
    (B::counter_cost(ticks) * 1000 + hz / 2) / hz
}

/// Runs the model on the input already in place and prints the
/// predictions; `dsp` is the counter ticks its preprocessing took.
fn classify<B: Board>(board: &mut B, model: &Prepared<'_>, it: &mut Interpreter<'_, '_>, dsp: u64) {
    let t1 = board.counter();
    #[cfg(feature = "profile")]
    let mut marks = [0u64; MAX_PROFILED_OPS];
    #[cfg(feature = "profile")]
    let result = it.invoke_observed(|i, _, _| {
        if let Some(m) = marks.get_mut(i) {
            *m = board.counter();
        }
    });
    #[cfg(not(feature = "profile"))]
    let result = it.invoke();
    let t2 = board.counter();
    #[cfg(feature = "profile")]
    report(board, model, it, result, (dsp, t1, t2), &marks);
    #[cfg(not(feature = "profile"))]
    report(board, model, it, result, (dsp, t1, t2));
}

/// Prints what [`classify`] found. Not inlined, so the formatting's stack
/// is not on the stack while the model runs.
#[inline(never)]
fn report<B: Board>(
    board: &mut B,
    model: &Prepared<'_>,
    it: &Interpreter<'_, '_>,
    result: tinystudio_engine::Result<()>,
    (dsp, t1, t2): (u64, u64, u64),
    #[cfg(feature = "profile")] marks: &[u64; MAX_PROFILED_OPS],
) {
    if let Err(e) = result {
        let _ = write!(Out(board), "error: inference failed: {e}\r\n");
        return;
    }
    let mut out = Out(board);
    let _ = write!(
        out,
        "Predictions (DSP: {} ms., Classification: {} ms., Anomaly: 0 ms.):\r\n",
        millis::<B>(dsp),
        millis::<B>(t2 - t1)
    );
    let tensor = model.view.output().ok();
    let (scale, zero_point) = tensor.map_or((1.0, 0), |t| (t.scale, t.zero_point));
    let output = it.output();
    for (i, &q) in output.iter().enumerate() {
        let score = (i32::from(q) - zero_point) as f32 * scale;
        let _ = match model.view.label(i) {
            Some(label) => write!(out, "  {label}: {}\r\n", Decimal5(score)),
            None => write!(out, "  class{i}: {}\r\n", Decimal5(score)),
        };
    }
    let _ = out.write_str("raw:");
    for &q in output {
        let _ = write!(out, " {q}");
    }
    let unit = match B::COST_UNIT {
        CounterUnit::Cycles => "cycles",
        CounterUnit::Instructions => "instructions",
    };
    let _ = write!(
        out,
        "\r\ncost: dsp={} classification={} unit={unit}\r\n",
        B::counter_cost(dsp),
        B::counter_cost(t2 - t1),
    );
    let (used, total) = stack_usage();
    let _ = write!(out, "stack: used={used} of {total}\r\n");
    #[cfg(feature = "profile")]
    {
        let mut prev = t1;
        for (i, &mark) in marks.iter().enumerate().take(model.view.op_count()) {
            if let Ok(op) = model.view.op(i) {
                let _ = write!(
                    out,
                    "op: index={i} name={} kernel={} macs={} cost={}\r\n",
                    op.name(),
                    op.kernel_name(),
                    op.macs(),
                    B::counter_cost(mark - prev),
                );
            }
            prev = mark;
        }
    }
    let _ = out.write_str("done\r\n");
}

/// Random layers through the optimised kernels and the reference kernels,
/// compared byte for byte on this CPU (the engine's `self_check`).
#[cfg(feature = "selftest")]
fn selftest<B: Board>(board: &mut B) {
    use tinystudio_engine::kernels::cortex_m4::{SELF_CHECK_SCRATCH, self_check};
    static mut SCRATCH: [u8; SELF_CHECK_SCRATCH] = [0; SELF_CHECK_SCRATCH];
    // SAFETY: runs once at boot, the only user of SCRATCH.
    let scratch = unsafe { &mut *core::ptr::addr_of_mut!(SCRATCH) };
    let _ = match self_check(0x5DEE_CE66_D1CE_4E5B, 400, scratch) {
        Ok(done) => write!(
            Out(board),
            "selftest: ok convolutions={} depthwise={} fully_connected={} add={} in_place={}\r\n",
            done.convolutions,
            done.depthwise,
            done.fully_connected,
            done.add,
            done.in_place
        ),
        Err(m) => write!(
            Out(board),
            "selftest: FAILED case={} kernel={} at={} expected={} actual={}\r\n",
            m.case,
            m.kernel,
            m.at,
            m.expected,
            m.actual
        ),
    };
}

/// Operators timed by the `profile` build (later ones are not reported).
#[cfg(feature = "profile")]
const MAX_PROFILED_OPS: usize = 128;

/// Deepest stack use so far: cortex-m-rt paints the stack with
/// `0xCCCC_CCCC` at reset (feature `paint-stack`); the first overwritten
/// word from the bottom marks the high-water line.
fn stack_usage() -> (usize, usize) {
    unsafe extern "C" {
        static _stack_start: u32;
        static _stack_end: u32;
    }
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let bottom = core::ptr::addr_of!(_stack_end) as usize;
    let mut p = bottom;
    // SAFETY: every word between the linker's `_stack_end` and
    // `_stack_start` is RAM owned by the stack; reads are volatile because
    // the compiler cannot know the stack writes them.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == 0xCCCC_CCCC {
        p += 4;
    }
    (top - p, top - bottom)
}
