//! The TinyStudio int8 engine behind a small C ABI, for firmware written in
//! C or C++ (an Arduino sketch, a vendor SDK project): `include/tinystudio.h`
//! declares every function here, with the same names and numbers.
//!
//! Nothing allocates: the caller owns the model blob (usually a `const`
//! array in flash), the tensor arena and a [`Context`] (an opaque block the
//! header sizes), and hands their addresses in once, at [`ts_init`]. The
//! blob and the arena must outlive the context.
//!
//! Built for `thumbv7em-*` the engine's Cortex-M4 kernels run (its build
//! script sets `cfg(arm_dsp)`, as for the firmware); for `thumbv6m-none-eabi`
//! the portable ones. Either way the outputs are the host engine's, byte for
//! byte (`crates/deploy/tests/library.rs` checks it under QEMU).
#![no_std]

use core::ffi::c_char;
use core::fmt::{self, Write};
use core::mem::{align_of, size_of};

use tinystudio_engine::preprocess::{ColorDepth, InputFormat, PixelSource, ResizeMode, Scratch};
use tinystudio_engine::{Error, InputMapper, Interpreter, ModelView, preprocess};

/// `TS_CONTEXT_WORDS` in the header: the context's size in 8-byte words.
pub const CONTEXT_WORDS: usize = 96;

/// What the caller allocates for one model (`ts_context`); its contents are
/// private to this library.
#[repr(C)]
pub struct Context {
    opaque: [u64; CONTEXT_WORDS],
}

/// `ts_status` in the header.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok = 0,
    /// A null pointer, or a context that `ts_init` did not set up.
    InvalidArgument = 1,
    /// The blob is not a usable model (bad magic, checksum, format version,
    /// an operator the engine lacks, no pixel scaling for pixel input).
    InvalidModel = 2,
    /// The arena is smaller than `ts_arena_size` says.
    ArenaTooSmall = 3,
    /// A buffer's length does not match what the model expects.
    LengthMismatch = 4,
    /// The scratch buffer is smaller than `ts_scratch_size` says.
    ScratchTooSmall = 5,
    /// The picture cannot be preprocessed (no pixels, a side too long, an
    /// unknown pixel format or resize mode).
    BadImage = 6,
    /// The engine failed while running (details: `ts_last_error`).
    EngineError = 7,
}

/// Marks a context `ts_init` has written, so a zeroed or foreign block is
/// refused instead of read as pointers.
const MAGIC: u32 = 0x5453_4354;

struct Ready {
    view: ModelView<'static>,
    /// Pixels to int8, through the blob's pixel scaling (when it has one).
    mapper: Option<InputMapper>,
    arena: *mut u8,
    arena_len: usize,
}

struct State {
    magic: u32,
    ready: Option<Ready>,
    last_error: Option<Error>,
}

const _: () = assert!(
    size_of::<State>() <= size_of::<Context>() && align_of::<State>() <= align_of::<Context>(),
    "State must fit in the C header's ts_context"
);

fn state<'a>(ctx: *mut Context) -> Option<&'a mut State> {
    if ctx.is_null() {
        return None;
    }
    // SAFETY: non-null, sized and aligned for State (the assertion above);
    // the magic tells a block written by ts_init from any other bytes.
    let state = unsafe { &mut *ctx.cast::<State>() };
    (state.magic == MAGIC).then_some(state)
}

/// The state for a call that may fail: its previous failure is forgotten,
/// so `ts_last_error` always describes the latest call on the context.
fn state_for_call<'a>(ctx: *mut Context) -> Option<&'a mut State> {
    let state = state(ctx)?;
    state.last_error = None;
    Some(state)
}

fn ready<'a>(ctx: *const Context) -> Option<&'a Ready> {
    state(ctx.cast_mut()).and_then(|s| s.ready.as_ref())
}

fn status_of(e: &Error) -> Status {
    match e {
        Error::ArenaTooSmall { .. } => Status::ArenaTooSmall,
        Error::LengthMismatch { .. } => Status::LengthMismatch,
        Error::Preprocess(_) => Status::BadImage,
        Error::Truncated(_)
        | Error::Malformed(_)
        | Error::Unsupported(_)
        | Error::UnsupportedOperator(_)
        | Error::BadMagic
        | Error::UnsupportedVersion(_)
        | Error::ChecksumMismatch { .. } => Status::InvalidModel,
    }
}

/// Records `e` for `ts_last_error` and returns its status.
fn fail(state: &mut State, e: Error) -> Status {
    let status = status_of(&e);
    state.last_error = Some(e);
    status
}

/// # Safety
/// `ptr` is null or points at `len` readable bytes that outlive `'a`.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    // SAFETY: the caller's promise.
    (!ptr.is_null()).then(|| unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// Bytes of tensor arena the model needs, or 0 when `blob` is not a valid
/// model.
///
/// # Safety
/// `blob` points at `blob_len` readable bytes (or is null).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_arena_size(blob: *const u8, blob_len: usize) -> usize {
    // SAFETY: forwarded from the caller.
    unsafe { bytes(blob, blob_len) }
        .and_then(|b| ModelView::parse(b).ok())
        .map_or(0, |v| v.arena_size())
}

/// Sets up `ctx` for the model in `blob` (verified once here: checksum and
/// every operator) with `arena` as its working memory.
///
/// # Safety
/// `ctx` points at a writable `ts_context`; `blob` at `blob_len` bytes and
/// `arena` at `arena_len` writable bytes, both left alone and alive while
/// `ctx` is used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_init(
    ctx: *mut Context,
    blob: *const u8,
    blob_len: usize,
    arena: *mut u8,
    arena_len: usize,
) -> Status {
    if ctx.is_null() {
        return Status::InvalidArgument;
    }
    // SAFETY: see state(); writing a whole State needs no prior contents.
    let state = unsafe {
        ctx.cast::<State>().write(State {
            magic: MAGIC,
            ready: None,
            last_error: None,
        });
        &mut *ctx.cast::<State>()
    };
    // SAFETY: the caller's promise; the blob outlives the context.
    let Some(blob) = (unsafe { bytes(blob, blob_len) }) else {
        return Status::InvalidArgument;
    };
    if arena.is_null() {
        return Status::InvalidArgument;
    }
    let view = match ModelView::parse(blob) {
        Ok(v) => v,
        Err(e) => return fail(state, e),
    };
    if arena_len < view.arena_size() {
        return fail(
            state,
            Error::ArenaTooSmall {
                needed: view.arena_size(),
                available: arena_len,
            },
        );
    }
    state.ready = Some(Ready {
        mapper: view.input_mapper(),
        view,
        arena,
        arena_len,
    });
    Status::Ok
}

impl Ready {
    /// An interpreter over the caller's arena, prepared anew for each call
    /// (its plan lives in the arena, which is the caller's between calls;
    /// preparing takes a pass over the operators, about 1 % of an inference).
    fn interpreter(&self) -> Result<Interpreter<'static, '_>, Error> {
        // SAFETY: ts_init's caller keeps the arena alive and to us; the
        // returned interpreter borrows self, so only one exists at a time.
        let arena = unsafe { core::slice::from_raw_parts_mut(self.arena, self.arena_len) };
        Interpreter::new(self.view, arena)
    }

    fn input_shape(&self) -> (usize, usize, usize) {
        self.view.input().map_or((0, 0, 0), |t| {
            let s = t.shape4();
            (s.h, s.w, s.c)
        })
    }
}

/// The model's input as height, width and channels (1 grayscale, 3 RGB).
///
/// # Safety
/// `ctx` as for every function; each out pointer is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_input_shape(
    ctx: *const Context,
    height: *mut u32,
    width: *mut u32,
    channels: *mut u32,
) -> Status {
    let Some(r) = ready(ctx) else {
        return Status::InvalidArgument;
    };
    let (h, w, c) = r.input_shape();
    for (ptr, v) in [(height, h), (width, w), (channels, c)] {
        if !ptr.is_null() {
            // SAFETY: the caller's promise.
            unsafe { ptr.write(v as u32) };
        }
    }
    Status::Ok
}

/// Bytes of the model's input tensor (height x width x channels); 0 before
/// `ts_init` succeeded.
///
/// # Safety
/// `ctx` is null or a `ts_context`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_input_size(ctx: *const Context) -> usize {
    ready(ctx)
        .and_then(|r| r.view.input().ok())
        .map_or(0, |t| t.len)
}

/// Number of scores the model outputs (its classes).
///
/// # Safety
/// `ctx` is null or a `ts_context`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_output_size(ctx: *const Context) -> usize {
    ready(ctx)
        .and_then(|r| r.view.output().ok())
        .map_or(0, |t| t.len)
}

/// Number of labels the blob records (normally `ts_output_size`).
///
/// # Safety
/// `ctx` is null or a `ts_context`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_label_count(ctx: *const Context) -> usize {
    ready(ctx).map_or(0, |r| r.view.label_count())
}

/// Copies label `index` into `buf` (NUL-terminated, cut to `buf_len - 1`
/// bytes) and returns its full length, or 0 when there is no such label.
/// The model header (`model_data.h`) also has the labels as C strings.
///
/// # Safety
/// `ctx` is null or a `ts_context`; `buf` is null or `buf_len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_label(
    ctx: *const Context,
    index: usize,
    buf: *mut c_char,
    buf_len: usize,
) -> usize {
    let Some(label) = ready(ctx).and_then(|r| r.view.label(index)) else {
        return 0;
    };
    // SAFETY: the caller's promise.
    unsafe { copy_c_string(label.as_bytes(), buf, buf_len) };
    label.len()
}

/// # Safety
/// `buf` is null or `buf_len` writable bytes.
unsafe fn copy_c_string(s: &[u8], buf: *mut c_char, buf_len: usize) {
    if buf.is_null() || buf_len == 0 {
        return;
    }
    let n = s.len().min(buf_len - 1);
    // SAFETY: n + 1 <= buf_len bytes are written.
    unsafe {
        core::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), n);
        buf.add(n).write(0);
    }
}

/// The input tensor inside the arena, `ts_input_size` bytes, to be filled
/// in place (e.g. straight from a camera driver); null before `ts_init`.
///
/// # Safety
/// `ctx` is null or a `ts_context`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_input(ctx: *mut Context) -> *mut i8 {
    match ready(ctx).map(|r| (r, r.view.input())) {
        // SAFETY: the input tensor lies inside the arena (checked at parse
        // against the arena size, which the arena is at least).
        Some((r, Ok(t))) => unsafe { r.arena.add(t.offset).cast::<i8>() },
        _ => core::ptr::null_mut(),
    }
}

/// Copies an int8 input tensor in (`len` must be `ts_input_size`).
///
/// # Safety
/// `ctx` is null or a `ts_context`; `input` is null or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_set_input_int8(
    ctx: *mut Context,
    input: *const i8,
    len: usize,
) -> Status {
    let Some(state) = state_for_call(ctx) else {
        return Status::InvalidArgument;
    };
    // SAFETY: the caller's promise.
    let Some(input) = (unsafe { bytes(input.cast::<u8>(), len) }) else {
        return Status::InvalidArgument;
    };
    let Some(r) = state.ready.as_ref() else {
        return Status::InvalidArgument;
    };
    let result = r.interpreter().and_then(|mut it| {
        let dst = it.input_mut();
        if dst.len() != input.len() {
            return Err(Error::LengthMismatch {
                expected: dst.len(),
                actual: input.len(),
            });
        }
        for (d, &s) in dst.iter_mut().zip(input) {
            *d = s as i8;
        }
        Ok(())
    });
    finish(state, result)
}

fn finish(state: &mut State, result: Result<(), Error>) -> Status {
    match result {
        Ok(()) => Status::Ok,
        Err(e) => fail(state, e),
    }
}

fn no_scaling() -> Error {
    Error::Unsupported("the model records no pixel scaling; fill the int8 input instead")
}

/// Fills the input from 8-bit pixels already at the model's size and
/// colour (height x width x channels, HWC), through the model's pixel
/// scaling: what the studio's host engine does with the same pixels.
///
/// # Safety
/// `ctx` is null or a `ts_context`; `pixels` is null or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_set_input_pixels(
    ctx: *mut Context,
    pixels: *const u8,
    len: usize,
) -> Status {
    let Some(state) = state_for_call(ctx) else {
        return Status::InvalidArgument;
    };
    // SAFETY: the caller's promise.
    let Some(pixels) = (unsafe { bytes(pixels, len) }) else {
        return Status::InvalidArgument;
    };
    let Some(r) = state.ready.as_ref() else {
        return Status::InvalidArgument;
    };
    let result = match r.mapper.as_ref() {
        None => Err(no_scaling()),
        Some(mapper) => r
            .interpreter()
            .and_then(|mut it| mapper.map(pixels, it.input_mut())),
    };
    finish(state, result)
}

/// `ts_pixel_format` in the header.
const FORMAT_RGB888: u32 = 0;
const FORMAT_GRAY8: u32 = 1;

fn resize_mode(code: u32) -> Option<ResizeMode> {
    match code {
        0 => Some(ResizeMode::Squash),
        1 => Some(ResizeMode::FitShortest),
        2 => Some(ResizeMode::FitLongest),
        _ => None,
    }
}

/// A picture in memory, RGB888 or 8-bit grayscale, row-major, no padding.
struct Picture<'a> {
    width: usize,
    height: usize,
    gray: bool,
    data: &'a [u8],
}

impl PixelSource for Picture<'_> {
    fn width(&self) -> usize {
        self.width
    }

    fn height(&self) -> usize {
        self.height
    }

    fn read_row(&mut self, y: usize, rgb: &mut [u8]) {
        if self.gray {
            let row = &self.data[y * self.width..(y + 1) * self.width];
            // A grey pixel's BT.601 luma is itself (the weights sum to one),
            // so a grayscale model sees the camera's values unchanged.
            for (px, &v) in rgb.chunks_exact_mut(3).zip(row) {
                px.fill(v);
            }
        } else {
            let len = 3 * self.width;
            rgb.copy_from_slice(&self.data[y * len..(y + 1) * len]);
        }
    }
}

/// Scratch bytes `ts_set_input_image` needs for a `width` x `height`
/// picture: the engine's preprocessing scratch (one source row, a row of
/// accumulators, the filtered rows worth keeping) plus alignment slack; 0
/// before `ts_init`.
///
/// # Safety
/// `ctx` is null or a `ts_context`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_scratch_size(ctx: *const Context, width: u32, height: u32) -> usize {
    ready(ctx).map_or(0, |r| scratch_size(r, width as usize, height as usize))
}

fn scratch_size(r: &Ready, w: usize, h: usize) -> usize {
    // Enough for any resize mode: the rows worth keeping depend on it.
    [
        ResizeMode::Squash,
        ResizeMode::FitShortest,
        ResizeMode::FitLongest,
    ]
    .into_iter()
    .filter_map(|mode| input_format(r, mode))
    .map(|format| {
        let rows = Scratch::rows_to_keep(w, h, &format);
        Scratch::bytes(w, format.width, rows) + 16
    })
    .max()
    .unwrap_or(0)
}

fn input_format(r: &Ready, resize_mode: ResizeMode) -> Option<InputFormat> {
    let (height, width, channels) = r.input_shape();
    let color_depth = match channels {
        1 => ColorDepth::Grayscale,
        3 => ColorDepth::Rgb,
        _ => return None,
    };
    Some(InputFormat {
        width,
        height,
        resize_mode,
        color_depth,
    })
}

/// Resizes a picture of any size to the model's input as the studio does
/// for an upload (`resize_mode`: the impulse's, `TS_MODEL_RESIZE_MODE` in
/// the model header), converts it to grayscale if the model is, and fills
/// the input through the pixel scaling. `scratch` is working memory of at
/// least `ts_scratch_size(ctx, width, height)` bytes.
///
/// # Safety
/// `ctx` is null or a `ts_context`; `pixels` is null or width x height x
/// (3 or 1) readable bytes; `scratch` is null or `scratch_len` writable bytes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ts_set_input_image(
    ctx: *mut Context,
    pixels: *const u8,
    width: u32,
    height: u32,
    pixel_format: u32,
    resize_mode_code: u32,
    scratch: *mut u8,
    scratch_len: usize,
) -> Status {
    let Some(state) = state_for_call(ctx) else {
        return Status::InvalidArgument;
    };
    let (w, h) = (width as usize, height as usize);
    let gray = match pixel_format {
        FORMAT_RGB888 => false,
        FORMAT_GRAY8 => true,
        _ => return fail(state, Error::Preprocess("unknown pixel format")),
    };
    let Some(mode) = resize_mode(resize_mode_code) else {
        return fail(state, Error::Preprocess("unknown resize mode"));
    };
    let Some(len) = w
        .checked_mul(h)
        .and_then(|n| n.checked_mul(if gray { 1 } else { 3 }))
    else {
        return fail(state, Error::Preprocess("the picture is too large"));
    };
    // SAFETY: the caller's promise.
    let Some(data) = (unsafe { bytes(pixels, len) }) else {
        return Status::InvalidArgument;
    };
    if scratch.is_null() {
        return Status::InvalidArgument;
    }
    // SAFETY: the caller's promise.
    let scratch = unsafe { core::slice::from_raw_parts_mut(scratch, scratch_len) };
    let Some(r) = state.ready.as_ref() else {
        return Status::InvalidArgument;
    };
    let Some(mapper) = r.mapper.as_ref() else {
        return fail(state, no_scaling());
    };
    let Some(format) = input_format(r, mode) else {
        return fail(
            state,
            Error::Unsupported("the model's input has neither 1 nor 3 channels"),
        );
    };
    let Some(parts) = split_scratch(scratch, w, &format) else {
        let needed = scratch_size(r, w, h);
        state.last_error = Some(Error::LengthMismatch {
            expected: needed,
            actual: scratch_len,
        });
        return Status::ScratchTooSmall;
    };
    let mut picture = Picture {
        width: w,
        height: h,
        gray,
        data,
    };
    let result = r.interpreter().and_then(|mut it| {
        let input = it.input_mut();
        // SAFETY: i8 and u8 have the same size, alignment and validity.
        let out = unsafe {
            core::slice::from_raw_parts_mut(input.as_mut_ptr().cast::<u8>(), input.len())
        };
        preprocess(&mut picture, &format, parts, out)?;
        for x in input.iter_mut() {
            *x = mapper.map_pixel(*x as u8);
        }
        Ok(())
    });
    finish(state, result)
}

/// Carves the engine's `Scratch` out of the caller's bytes: the `u64`
/// accumulators aligned, then the source row, then whole filtered rows.
fn split_scratch<'a>(
    bytes: &'a mut [u8],
    source_width: usize,
    format: &InputFormat,
) -> Option<Scratch<'a>> {
    // SAFETY: any bytes are valid u64s; align_to_mut gives aligned middles.
    let (head, words, _) = unsafe { bytes.align_to_mut::<u64>() };
    let skip = head.len();
    let acc_len = Scratch::acc_len(format.width);
    if words.len() < acc_len {
        return None;
    }
    let bytes = &mut bytes[skip..];
    let (acc_bytes, rest) = bytes.split_at_mut(acc_len * 8);
    // SAFETY: acc_bytes starts 8-aligned and holds exactly acc_len u64s.
    let acc =
        unsafe { core::slice::from_raw_parts_mut(acc_bytes.as_mut_ptr().cast::<u64>(), acc_len) };
    let row_len = Scratch::row_len(source_width);
    if rest.len() < row_len {
        return None;
    }
    let (row, rest) = rest.split_at_mut(row_len);
    // SAFETY: any bytes are valid u16s.
    let (_, filtered, _) = unsafe { rest.align_to_mut::<u16>() };
    let one = Scratch::filtered_len(format.width, 1).max(1);
    let keep = filtered.len() / one * one;
    Some(Scratch {
        row,
        acc,
        filtered: &mut filtered[..keep],
    })
}

/// Runs the model on the input tensor.
///
/// # Safety
/// `ctx` is null or a `ts_context`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_invoke(ctx: *mut Context) -> Status {
    let Some(state) = state_for_call(ctx) else {
        return Status::InvalidArgument;
    };
    let Some(r) = state.ready.as_ref() else {
        return Status::InvalidArgument;
    };
    let result = r.interpreter().and_then(|mut it| it.invoke());
    match result {
        Ok(()) => Status::Ok,
        Err(e) => {
            let status = status_of(&e);
            state.last_error = Some(e);
            if status == Status::InvalidModel {
                Status::EngineError
            } else {
                status
            }
        }
    }
}

/// The int8 output tensor after `ts_invoke`, `ts_output_size` bytes
/// (what the board's `raw:` line prints).
///
/// # Safety
/// `ctx` is null or a `ts_context`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_output(ctx: *const Context) -> *const i8 {
    match ready(ctx).map(|r| (r, r.view.output())) {
        // SAFETY: as for ts_input.
        Some((r, Ok(t))) => unsafe { r.arena.add(t.offset).cast::<i8>().cast_const() },
        _ => core::ptr::null(),
    }
}

/// The scores after `ts_invoke`, dequantized (`(q - zero_point) * scale`,
/// as the firmware prints them), into `scores[0..count]`; `count` must be
/// `ts_output_size`.
///
/// # Safety
/// `ctx` is null or a `ts_context`; `scores` is null or `count` writable floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_scores(ctx: *const Context, scores: *mut f32, count: usize) -> Status {
    let Some(r) = ready(ctx) else {
        return Status::InvalidArgument;
    };
    let Ok(t) = r.view.output() else {
        return Status::InvalidArgument;
    };
    if scores.is_null() {
        return Status::InvalidArgument;
    }
    if count != t.len {
        return Status::LengthMismatch;
    }
    // SAFETY: ts_output's range; the caller's promise for `scores`.
    let raw = unsafe { core::slice::from_raw_parts(ts_output(ctx), t.len) };
    for (i, &q) in raw.iter().enumerate() {
        let score = (i32::from(q) - t.zero_point) as f32 * t.scale;
        // SAFETY: i < count.
        unsafe { scores.add(i).write(score) };
    }
    Status::Ok
}

/// Writes why the latest call on `ctx` failed (the engine's own message)
/// into `buf`, NUL-terminated, and returns its full length; an empty
/// message and 0 when it did not fail (or failed on an argument, which the
/// status says all about). Calls that only read (`ts_scores`, the sizes)
/// leave it.
///
/// # Safety
/// `ctx` is null or a `ts_context`; `buf` is null or `buf_len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ts_last_error(
    ctx: *const Context,
    buf: *mut c_char,
    buf_len: usize,
) -> usize {
    if !buf.is_null() && buf_len > 0 {
        // SAFETY: buf_len > 0 writable bytes; an empty message until written.
        unsafe { buf.write(0) };
    }
    let Some(e) = state(ctx.cast_mut()).and_then(|s| s.last_error.as_ref()) else {
        return 0;
    };
    let mut out = CStrWriter {
        buf,
        cap: buf_len,
        len: 0,
    };
    let _ = write!(out, "{e}");
    if !buf.is_null() && buf_len > 0 {
        // SAFETY: the terminator goes at min(len, cap - 1) < cap.
        unsafe { buf.add(out.len.min(buf_len - 1)).write(0) };
    }
    out.len
}

/// Formats into a C buffer, counting what did not fit.
struct CStrWriter {
    buf: *mut c_char,
    cap: usize,
    len: usize,
}

impl Write for CStrWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if !self.buf.is_null() && self.len + 1 < self.cap {
                // SAFETY: len + 1 < cap, so len is inside the buffer.
                unsafe { self.buf.add(self.len).write(b as c_char) };
            }
            self.len += 1;
        }
        Ok(())
    }
}

/// A constant name for a status, e.g. `"TS_ERR_ARENA_TOO_SMALL"`.
#[unsafe(no_mangle)]
pub extern "C" fn ts_status_name(status: u32) -> *const c_char {
    let name: &'static [u8] = match status {
        0 => b"TS_OK\0",
        1 => b"TS_ERR_INVALID_ARGUMENT\0",
        2 => b"TS_ERR_INVALID_MODEL\0",
        3 => b"TS_ERR_ARENA_TOO_SMALL\0",
        4 => b"TS_ERR_LENGTH_MISMATCH\0",
        5 => b"TS_ERR_SCRATCH_TOO_SMALL\0",
        6 => b"TS_ERR_BAD_IMAGE\0",
        7 => b"TS_ERR_ENGINE\0",
        _ => b"TS_ERR_UNKNOWN\0",
    };
    name.as_ptr().cast()
}

/// The library's name and version, e.g. `"tinystudio 0.1.0"`.
#[unsafe(no_mangle)]
pub extern "C" fn ts_version() -> *const c_char {
    concat!("tinystudio ", env!("CARGO_PKG_VERSION"), "\0")
        .as_ptr()
        .cast()
}

/// The engine returns errors instead of panicking; a panic is a bug. A
/// static library cannot know the board's way to report it, so it stops
/// here, where a debugger finds it.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    #[allow(clippy::empty_loop)]
    loop {}
}
