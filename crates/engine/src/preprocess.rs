//! The first steps of input preprocessing, shared by the studio and the
//! firmware: any picture (a decoded upload, a raw camera frame) to the
//! impulse's `height x width x channels` pixels. [`crate::input`] then maps
//! those pixels to the int8 tensor.
//!
//! The board must see exactly the pixels the studio trained and tested on,
//! so this is the one implementation both run: integer arithmetic only (no
//! floating point whose rounding could differ between targets), no
//! allocation, and scratch memory the caller sizes from the source's and the
//! target's widths alone.
//!
//! # The resize
//!
//! A separable triangle (bilinear) filter whose support widens when
//! shrinking, as PIL's `BILINEAR` and the `image` crate's `Triangle` do, so a
//! large photo is averaged rather than sampled. Along one axis, resizing
//! `n` input pixels to `m`, output pixel `x` is centred at input position
//! `(x + 1/2) n / m` and input pixel `k` at `k + 1/2`; with
//! `s = max(n / m, 1)` the weight of input pixel `k` is `max(0, 1 - |Δ| / s)`
//! of their distance `Δ`, and the weights of the pixels that exist are
//! normalised to sum to one (so edges are not darkened). Multiplied through
//! by `2m / gcd(n, m)` these weights are small exact integers
//! (`f - |(2k + 1) m' - (2x + 1) n'|` with `n' = n / g`, `m' = m / g`,
//! `f = 2 max(n', m')`), so no weight is ever rounded.
//!
//! The three resize modes are one resize to a scaled size followed by a
//! window on it: `Squash` scales to the target, `FitShortest` scales to cover
//! the target and keeps the centre, `FitLongest` scales to fit inside the
//! target and pads with black. The scaled side is the exact scale rounded
//! half up (`FitShortest`: at least the target; `FitLongest`: at least 1);
//! the window starts at half the difference, rounded down.
//!
//! # Rounding
//!
//! Rows first: each contributing input row is filtered horizontally to
//! `h = round(256 * Σ w_k p_k / Σ w_k)` (eight fractional bits, half up),
//! then the output is `round(Σ w_j h_j / (256 Σ w_j))` (half up) per
//! channel. Both are exact integer divisions, so the result differs from the
//! exact filter by at most 1/2 + 1/512 of a level and is the same on every
//! target. Grayscale is [`luma_bt601`] of the resized RGB pixel.
//!
//! # Memory and cost
//!
//! [`Scratch`] holds one input row as RGB888 (`3 * source width` bytes), one
//! `u64` accumulator per output sample of a row (`3 * target width` of
//! them) and, optionally, horizontally filtered rows kept for the next output
//! rows (`u16`, `3 * target width` per row): `3 * sw + 24 * tw + 6 * tw * k`
//! bytes with `k` rows kept, e.g. 4,992 bytes for a QQVGA frame to 96x96
//! with the 3 rows that resize needs ([`Scratch::rows_to_keep`]). Nothing
//! else is used besides a few locals. With enough rows kept each input row
//! is read and filtered once; with fewer, rows are read again and the
//! result is the same. On the emulated Cortex-M4, a QQVGA RGB565 frame to
//! 96x96 RGB takes about 3.5 M instructions (`crates/device/m4-bench`).
//!
//! Every intermediate fits in `u64` for sides up to [`MAX_SIDE`] and scaled
//! sides up to [`MAX_SCALED_SIDE`]: positions below `2^52`, weights at most
//! `2^31`, weight sums below `2^43`, accumulators below `2^60`. Where a
//! resize's numbers fit 32 bits (every resize of a camera frame), the
//! horizontal pass runs in 32 bits, with the same results.

use crate::error::{Error, Result};

/// Bumped whenever the bytes this module produces for the same picture
/// change, so caches of anything computed from preprocessed pixels (the
/// studio's backbone features) are never reused across versions. Version 1
/// was the `image` crate's floating-point `Triangle` resize, before this
/// module existed.
pub const VERSION: u32 = 2;

/// Longest source or target side: keeps every intermediate within `u64` (see
/// the module documentation).
pub const MAX_SIDE: usize = 1 << 20;

/// Longest side of the scaled picture a crop is taken from (`FitShortest` of
/// a very narrow picture scales its long side far beyond the target). The
/// studio's extreme, a 1 x 1,048,576 picture into 320 x 320, scales to
/// 2^28.3.
pub const MAX_SCALED_SIDE: usize = 1 << 30;

/// Edge Impulse's three resize modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResizeMode {
    /// Stretch to the target, ignoring the aspect ratio.
    Squash,
    /// Scale so the image covers the target, then keep the centre.
    FitShortest,
    /// Scale so the image fits inside the target, then pad with black.
    FitLongest,
}

/// The colours the model sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColorDepth {
    /// Three bytes per pixel: R, G, B.
    Rgb,
    /// One byte per pixel: [`luma_bt601`].
    Grayscale,
}

impl ColorDepth {
    pub const fn channels(self) -> usize {
        match self {
            ColorDepth::Rgb => 3,
            ColorDepth::Grayscale => 1,
        }
    }
}

/// What the impulse's input block asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InputFormat {
    pub width: usize,
    pub height: usize,
    pub resize_mode: ResizeMode,
    pub color_depth: ColorDepth,
}

impl InputFormat {
    /// Bytes of the preprocessed picture: `height * width * channels`.
    pub const fn len(&self) -> usize {
        self.width * self.height * self.color_depth.channels()
    }

    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A picture that can be read one row at a time, so a decoded image and a
/// camera frame in the sensor's own pixel format both feed [`preprocess`]
/// without being converted as a whole first.
pub trait PixelSource {
    fn width(&self) -> usize;
    fn height(&self) -> usize;
    /// Writes row `y` (`< height`) as RGB888 into `rgb`, which holds exactly
    /// `3 * width` bytes. Rows are requested in non-decreasing order of the
    /// output row they serve, and the same row may be requested again.
    fn read_row(&mut self, y: usize, rgb: &mut [u8]);
}

/// A picture already in memory as RGB888, row-major, no padding.
#[derive(Debug, Clone, Copy)]
pub struct RgbPixels<'a> {
    width: usize,
    height: usize,
    data: &'a [u8],
}

impl<'a> RgbPixels<'a> {
    pub fn new(width: usize, height: usize, data: &'a [u8]) -> Result<Self> {
        let expected = width.checked_mul(height).and_then(|n| n.checked_mul(3));
        match expected {
            Some(expected) if expected == data.len() => Ok(Self {
                width,
                height,
                data,
            }),
            _ => Err(Error::LengthMismatch {
                expected: expected.unwrap_or(usize::MAX),
                actual: data.len(),
            }),
        }
    }
}

impl PixelSource for RgbPixels<'_> {
    fn width(&self) -> usize {
        self.width
    }

    fn height(&self) -> usize {
        self.height
    }

    fn read_row(&mut self, y: usize, rgb: &mut [u8]) {
        let len = 3 * self.width;
        rgb.copy_from_slice(&self.data[y * len..(y + 1) * len]);
    }
}

/// The caller's working memory for [`preprocess`]; see the module
/// documentation for the bound. Longer slices are fine.
pub struct Scratch<'a> {
    /// At least [`Scratch::row_len`] of the source's width.
    pub row: &'a mut [u8],
    /// At least [`Scratch::acc_len`] of the target's width.
    pub acc: &'a mut [u64],
    /// Room to keep horizontally filtered rows for the next output rows, in
    /// whole rows of [`Scratch::filtered_len`]`(target width, 1)`. Any
    /// length works, even none: a row that is not kept is read and filtered
    /// again, with the same result. With [`Scratch::rows_to_keep`] rows,
    /// every input row is read and filtered once.
    pub filtered: &'a mut [u16],
}

impl Scratch<'_> {
    pub const fn row_len(source_width: usize) -> usize {
        3 * source_width
    }

    pub const fn acc_len(target_width: usize) -> usize {
        3 * target_width
    }

    pub const fn filtered_len(target_width: usize, rows: usize) -> usize {
        3 * target_width * rows
    }

    /// The most input rows one output row uses: the filtered rows worth
    /// keeping for `source` into `format`.
    pub fn rows_to_keep(source_width: usize, source_height: usize, format: &InputFormat) -> usize {
        if source_width == 0 || source_height == 0 || format.is_empty() {
            return 0;
        }
        let (_, rows) = axes(source_width, source_height, format);
        rows.max_taps()
    }

    /// Total bytes, for budgeting a board's RAM.
    pub const fn bytes(source_width: usize, target_width: usize, rows_kept: usize) -> usize {
        Self::row_len(source_width)
            + 8 * Self::acc_len(target_width)
            + 2 * Self::filtered_len(target_width, rows_kept)
    }
}

/// ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B), rounded, in 16-bit
/// fixed point so it is identical everywhere it runs. The weights sum to
/// exactly 65,536, so a grey pixel keeps its value. (The `image` crate's own
/// grayscale conversion uses BT.709 weights.)
pub fn luma_bt601(r: u8, g: u8, b: u8) -> u8 {
    let y = 19_595 * r as u32 + 38_470 * g as u32 + 7_471 * b as u32;
    ((y + 32_768) >> 16) as u8
}

/// Resizes `source` as `format` asks and writes its pixels (HWC) into `out`,
/// which holds exactly [`InputFormat::len`] bytes.
pub fn preprocess<S: PixelSource + ?Sized>(
    source: &mut S,
    format: &InputFormat,
    scratch: Scratch<'_>,
    out: &mut [u8],
) -> Result<()> {
    let (sw, sh) = (source.width(), source.height());
    let (tw, th) = (format.width, format.height);
    if sw == 0 || sh == 0 {
        return Err(Error::Preprocess("the source picture has no pixels"));
    }
    if tw == 0 || th == 0 {
        return Err(Error::Preprocess("the target size has no pixels"));
    }
    if sw > MAX_SIDE || sh > MAX_SIDE || tw > MAX_SIDE || th > MAX_SIDE {
        return Err(Error::Preprocess("a side is longer than 1,048,576 pixels"));
    }
    if out.len() != format.len() {
        return Err(Error::LengthMismatch {
            expected: format.len(),
            actual: out.len(),
        });
    }
    let row_len = scratch.row.len();
    let row = scratch
        .row
        .get_mut(..Scratch::row_len(sw))
        .ok_or(Error::LengthMismatch {
            expected: Scratch::row_len(sw),
            actual: row_len,
        })?;
    let acc_len = scratch.acc.len();
    let acc = scratch
        .acc
        .get_mut(..Scratch::acc_len(tw))
        .ok_or(Error::LengthMismatch {
            expected: Scratch::acc_len(tw),
            actual: acc_len,
        })?;

    let (cols, rows) = axes(sw, sh, format);
    if cols.scaled > MAX_SCALED_SIDE || rows.scaled > MAX_SCALED_SIDE {
        return Err(Error::Preprocess(
            "the picture is too narrow for this resize (its scaled side would pass 2^30 pixels)",
        ));
    }
    let filtered_len = Scratch::filtered_len(tw, 1);
    let mut cache = RowCache {
        slots: scratch.filtered.len() / filtered_len,
        rows: scratch.filtered,
        len: filtered_len,
        first: 0,
        end: 0,
        pads: !cols.covers_all(),
    };
    let channels = format.color_depth.channels();
    let mut row_first = 0;
    for (i, out_row) in out.chunks_exact_mut(tw * channels).enumerate() {
        let Some(window) = rows.window::<i64>(i, &mut row_first) else {
            out_row.fill(0);
            continue;
        };
        let mut row_weights = 0u64;
        for (n, (y, wy)) in window.enumerate() {
            let first = n == 0;
            row_weights += u64::from(wy);
            if let Some(filtered) = cache.get(y) {
                accumulate(filtered, wy, first, acc);
                continue;
            }
            source.read_row(y, row);
            if let Some(filtered) = cache.insert(y) {
                filter_row(&cols, row, &mut |x, h| {
                    for (f, h) in filtered[3 * x..3 * x + 3].iter_mut().zip(h) {
                        *f = h as u16;
                    }
                });
                accumulate(filtered, wy, first, acc);
            } else {
                if first {
                    acc.fill(0);
                }
                filter_row(&cols, row, &mut |x, h| {
                    for (a, h) in acc[3 * x..3 * x + 3].iter_mut().zip(h) {
                        *a += u64::from(wy) * h;
                    }
                });
            }
        }
        let denominator = 256 * row_weights;
        for (x, pixel) in out_row.chunks_exact_mut(channels).enumerate() {
            let a = &acc[3 * x..3 * x + 3];
            if !cols.covers(x) {
                pixel.fill(0);
                continue;
            }
            let [r, g, b] = [0, 1, 2].map(|c| div_round(a[c], denominator) as u8);
            match format.color_depth {
                ColorDepth::Rgb => pixel.copy_from_slice(&[r, g, b]),
                ColorDepth::Grayscale => pixel[0] = luma_bt601(r, g, b),
            }
        }
    }
    Ok(())
}

/// Filters `row` horizontally and hands each covered output column's three
/// channels, with eight fractional bits (at most 255 * 256), to `sink`.
/// Positions and sums fit 32 bits for every resize a board makes (and most
/// others), and are 64-bit only when they must be, with the same results.
fn filter_row(cols: &Axis, row: &[u8], sink: &mut impl FnMut(usize, [u64; 3])) {
    if cols.fits_32_bits() {
        filter_row_in::<u32, i32>(cols, row, sink);
    } else {
        filter_row_in::<u64, i64>(cols, row, sink);
    }
}

#[inline(always)]
fn filter_row_in<A, D>(cols: &Axis, row: &[u8], sink: &mut impl FnMut(usize, [u64; 3]))
where
    A: Copy
        + Default
        + From<u32>
        + Into<u64>
        + core::ops::Add<Output = A>
        + core::ops::Mul<Output = A>,
    D: Distance,
{
    let mut first = 0;
    for x in 0..cols.target {
        let Some(window) = cols.window::<D>(x, &mut first) else {
            continue;
        };
        let (mut r, mut g, mut b, mut sum) =
            (A::default(), A::default(), A::default(), A::default());
        for (k, w) in window {
            let p = &row[3 * k..3 * k + 3];
            let w = A::from(w);
            r = r + w * A::from(u32::from(p[0]));
            g = g + w * A::from(u32::from(p[1]));
            b = b + w * A::from(u32::from(p[2]));
            sum = sum + w;
        }
        let sum = sum.into();
        sink(x, [r, g, b].map(|v| div_round(v.into() << 8, sum)));
    }
}

/// Adds (or, for the first row, sets) `wy` times a kept filtered row to the
/// accumulators. Columns the resize does not cover hold zeros.
#[inline(always)]
fn accumulate(filtered: &[u16], wy: u32, first: bool, acc: &mut [u64]) {
    if first {
        for (a, &h) in acc.iter_mut().zip(filtered) {
            *a = u64::from(wy) * u64::from(h);
        }
    } else {
        for (a, &h) in acc.iter_mut().zip(filtered) {
            *a += u64::from(wy) * u64::from(h);
        }
    }
}

/// Horizontally filtered input rows `first..end`, kept in a ring of `slots`
/// rows of `len` samples, so that an input row serving several output rows
/// is read and filtered once. Windows only move forwards; a row not kept
/// (the ring too small for a window) is filtered again, with the same
/// result.
struct RowCache<'a> {
    rows: &'a mut [u16],
    slots: usize,
    len: usize,
    first: usize,
    end: usize,
    /// Whether some output columns are padding, which a filtered row must
    /// hold as zeros.
    pads: bool,
}

impl RowCache<'_> {
    fn slot(&self, y: usize) -> core::ops::Range<usize> {
        let s = y % self.slots;
        s * self.len..(s + 1) * self.len
    }

    fn get(&self, y: usize) -> Option<&[u16]> {
        (self.first..self.end)
            .contains(&y)
            .then(|| &self.rows[self.slot(y)])
    }

    /// A slot for row `y`, the next row after those kept (or any row past
    /// them, which starts the ring afresh); `None` for a row before them.
    fn insert(&mut self, y: usize) -> Option<&mut [u16]> {
        if self.slots == 0 || y < self.first {
            return None;
        }
        if y > self.end {
            self.first = y;
            self.end = y;
        }
        if self.end - self.first == self.slots {
            self.first += 1;
        }
        self.end += 1;
        let slot = self.slot(y);
        let filtered = &mut self.rows[slot];
        if self.pads {
            filtered.fill(0);
        }
        Some(filtered)
    }
}

/// `n / d` rounded half up. The board's numbers almost always fit 32 bits,
/// where Cortex-M has a divide instruction; the 64-bit path (a library call
/// there) gives the same quotient.
#[inline]
fn div_round(n: u64, d: u64) -> u64 {
    let n = n + d / 2;
    match (u32::try_from(n), u32::try_from(d)) {
        (Ok(n), Ok(d)) => u64::from(n / d),
        _ => n / d,
    }
}

/// The scaled sizes and windows of both axes: (columns, rows).
fn axes(sw: usize, sh: usize, format: &InputFormat) -> (Axis, Axis) {
    let (tw, th) = (format.width as u64, format.height as u64);
    let (w, h) = (sw as u64, sh as u64);
    // `a * b / c` rounded half up; every product is below 2^41.
    let scale = |a: u64, b: u64, c: u64| (2 * a * b + c) / (2 * c);
    let (scaled_w, scaled_h) = match format.resize_mode {
        ResizeMode::Squash => (tw, th),
        // tw / w >= th / h: the width decides.
        ResizeMode::FitShortest if tw * h >= th * w => (tw, scale(h, tw, w).max(th)),
        ResizeMode::FitShortest => (scale(w, th, h).max(tw), th),
        ResizeMode::FitLongest if tw * h <= th * w => (tw, scale(h, tw, w).clamp(1, th)),
        ResizeMode::FitLongest => (scale(w, th, h).clamp(1, tw), th),
    };
    (
        Axis::new(sw, scaled_w as usize, format.width),
        Axis::new(sh, scaled_h as usize, format.height),
    )
}

/// One axis of the resize: `input` pixels resized to `scaled`, of which the
/// output's pixel `i` is scaled pixel `i + offset` (an offset above zero
/// crops, below zero pads).
struct Axis {
    input: usize,
    scaled: usize,
    target: usize,
    offset: i64,
    /// `n'`, `m'` and `f` of the module documentation.
    n: i64,
    m: i64,
    f: i64,
}

impl Axis {
    fn new(input: usize, scaled: usize, target: usize) -> Self {
        let g = gcd(input as u64, scaled as u64) as i64;
        let (n, m) = (input as i64 / g, scaled as i64 / g);
        Self {
            input,
            scaled,
            target,
            // Crop the centre, or pad with the image at half the padding
            // (rounded down) from the start.
            offset: if scaled >= target {
                ((scaled - target) / 2) as i64
            } else {
                -(((target - scaled) / 2) as i64)
            },
            n,
            m,
            f: 2 * n.max(m),
        }
    }

    /// The most input pixels one output pixel uses: positive weights lie
    /// within `f` of the centre, input pixels `2m` apart.
    fn max_taps(&self) -> usize {
        ((self.f + self.m - 1) / self.m).min(self.input as i64) as usize
    }

    /// Whether a window's distances (below `f + 2m`) fit `i32` and its
    /// sums (at most 255 times the weights' sum, each weight at most `f`)
    /// fit `u32`.
    fn fits_32_bits(&self) -> bool {
        let f = self.f as u64;
        f + 2 * self.m as u64 <= i32::MAX as u64
            && 255 * f * self.max_taps() as u64 <= u64::from(u32::MAX)
    }

    fn covers_all(&self) -> bool {
        self.offset >= 0
    }

    /// The scaled pixel output pixel `i` shows, or `None` for padding.
    fn scaled_index(&self, i: usize) -> Option<i64> {
        let x = i as i64 + self.offset;
        (0..self.scaled as i64).contains(&x).then_some(x)
    }

    fn covers(&self, i: usize) -> bool {
        self.scaled_index(i).is_some()
    }

    /// The input pixels and weights of output pixel `i`. `first` carries the
    /// first contributing input pixel from one call to the next: windows only
    /// move forwards, so finding it costs no division.
    fn window<D: Distance>(&self, i: usize, first: &mut usize) -> Option<Window<D>> {
        let x = self.scaled_index(i)?;
        let centre = (2 * x + 1) * self.n;
        let mut k = *first;
        let mut d = (2 * k as i64 + 1) * self.m - centre;
        while d <= -self.f {
            k += 1;
            d += 2 * self.m;
        }
        *first = k;
        // Within a window the distance stays below f + 2m.
        Some(Window {
            k,
            d: D::from_i64(d),
            end: self.input,
            f: D::from_i64(self.f),
            step: D::from_i64(2 * self.m),
        })
    }
}

/// The integer type of a window's distances: `i32` where they fit (see
/// [`Axis::fits_32_bits`]), `i64` otherwise.
trait Distance: Copy + PartialOrd + core::ops::AddAssign {
    /// `v` must fit.
    fn from_i64(v: i64) -> Self;
    /// `f - |d|` for `0 < f - |d| <= f <= 2^31`.
    fn weight(f: Self, d: Self) -> u32;
}

impl Distance for i32 {
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v as i32
    }

    #[inline(always)]
    fn weight(f: Self, d: Self) -> u32 {
        (f - d.abs()) as u32
    }
}

impl Distance for i64 {
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v
    }

    #[inline(always)]
    fn weight(f: Self, d: Self) -> u32 {
        (f - d.abs()) as u32
    }
}

/// Iterator over (input pixel, weight > 0) of one output pixel. Its first
/// pixel is the nearest-left one whose weight is positive; the nearest input
/// pixel is within half a step of the centre, so there is at least one.
struct Window<D> {
    k: usize,
    d: D,
    end: usize,
    f: D,
    step: D,
}

impl<D: Distance> Iterator for Window<D> {
    type Item = (usize, u32);

    #[inline(always)]
    fn next(&mut self) -> Option<(usize, u32)> {
        if self.k >= self.end || self.d >= self.f {
            return None;
        }
        let item = (self.k, D::weight(self.f, self.d));
        self.k += 1;
        self.d += self.step;
        Some(item)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(width: usize, height: usize, pixels: &[u8], format: InputFormat) -> Result<Vec<u8>> {
        let mut source = RgbPixels::new(width, height, pixels)?;
        let mut row = vec![0u8; Scratch::row_len(width)];
        let mut acc = vec![0u64; Scratch::acc_len(format.width)];
        let keep = Scratch::rows_to_keep(width, height, &format);
        let mut filtered = vec![0u16; Scratch::filtered_len(format.width, keep)];
        let mut out = vec![0u8; format.len()];
        preprocess(
            &mut source,
            &format,
            Scratch {
                row: &mut row,
                acc: &mut acc,
                filtered: &mut filtered,
            },
            &mut out,
        )?;
        Ok(out)
    }

    /// A source that counts its row reads.
    struct Counting<'a> {
        inner: RgbPixels<'a>,
        reads: usize,
    }

    impl PixelSource for Counting<'_> {
        fn width(&self) -> usize {
            self.inner.width()
        }

        fn height(&self) -> usize {
            self.inner.height()
        }

        fn read_row(&mut self, y: usize, rgb: &mut [u8]) {
            self.reads += 1;
            self.inner.read_row(y, rgb);
        }
    }

    fn format(width: usize, height: usize, resize_mode: ResizeMode) -> InputFormat {
        InputFormat {
            width,
            height,
            resize_mode,
            color_depth: ColorDepth::Rgb,
        }
    }

    /// A deterministic, busy test picture.
    fn noise(width: usize, height: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        (0..width * height * 3)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect()
    }

    /// The filter in f64, straight from the definition in the module
    /// documentation: for output pixels `0..count` showing scaled pixels
    /// `offset..` of `n` pixels resized to `m`, their (input index,
    /// weight), or nothing for padding.
    fn reference_axis(n: usize, m: usize, offset: i64, count: usize) -> Vec<Vec<(usize, f64)>> {
        let scale = n as f64 / m as f64;
        let support = scale.max(1.0);
        (0..count)
            .map(|i| {
                let x = i as i64 + offset;
                if x < 0 || x >= m as i64 {
                    return Vec::new();
                }
                let centre = (x as f64 + 0.5) * scale;
                let lo = (centre - support - 1.0).max(0.0) as usize;
                let hi = ((centre + support + 1.0) as usize).min(n);
                let taps: Vec<(usize, f64)> = (lo..hi)
                    .map(|k| (k, 1.0 - ((k as f64 + 0.5 - centre) / support).abs()))
                    .filter(|&(_, w)| w > 0.0)
                    .collect();
                let sum: f64 = taps.iter().map(|t| t.1).sum();
                taps.into_iter().map(|(k, w)| (k, w / sum)).collect()
            })
            .collect()
    }

    /// The scaled size and window offset of one axis, the way the studio
    /// computed them in floating point before this module.
    fn reference_fit(mode: ResizeMode, side: usize, target: usize, scale: f64) -> (usize, i64) {
        let scaled = (side as f64 * scale).round() as usize;
        match mode {
            ResizeMode::Squash => (target, 0),
            ResizeMode::FitShortest => {
                let scaled = scaled.max(target);
                (scaled, ((scaled - target) / 2) as i64)
            }
            ResizeMode::FitLongest => {
                let scaled = scaled.clamp(1, target);
                (scaled, -(((target - scaled) / 2) as i64))
            }
        }
    }

    #[test]
    fn every_mode_matches_the_exact_filter_within_rounding() {
        for &(sw, sh, tw, th) in &[
            (160, 120, 96, 96),
            (32, 32, 96, 96),
            (7, 5, 3, 11),
            (320, 240, 48, 32),
            (97, 61, 96, 60),
            // Sums beyond 32 bits: the 64-bit path.
            (5000, 2, 3, 1),
            // FitShortest of narrow pictures: scaled sides in the millions,
            // rows (always 64-bit) and columns beyond 32 bits.
            (3, 40_001, 40, 40),
            (320_002, 3, 40, 40),
        ] {
            let pixels = noise(sw, sh);
            for mode in [
                ResizeMode::Squash,
                ResizeMode::FitShortest,
                ResizeMode::FitLongest,
            ] {
                let out = run(sw, sh, &pixels, format(tw, th, mode)).unwrap();
                let (sx, sy) = (tw as f64 / sw as f64, th as f64 / sh as f64);
                let scale = match mode {
                    ResizeMode::FitShortest => sx.max(sy),
                    _ => sx.min(sy),
                };
                let (scaled_w, ox) = reference_fit(mode, sw, tw, scale);
                let (scaled_h, oy) = reference_fit(mode, sh, th, scale);
                let wx = reference_axis(sw, scaled_w, ox, tw);
                let wy = reference_axis(sh, scaled_h, oy, th);
                for y in 0..th {
                    for x in 0..tw {
                        for c in 0..3 {
                            let mut exact = 0.0;
                            for &(j, a) in &wy[y] {
                                for &(k, b) in &wx[x] {
                                    exact += a * b * f64::from(pixels[(j * sw + k) * 3 + c]);
                                }
                            }
                            let got = f64::from(out[(y * tw + x) * 3 + c]);
                            assert!(
                                (got - exact).abs() <= 0.5 + 1.0 / 512.0 + 1e-6,
                                "{sw}x{sh}->{tw}x{th} {mode:?} at ({x},{y},{c}): {got} vs {exact}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn too_narrow_for_a_crop_is_an_error() {
        // 1 x 2^20 into 2^11 wide: the long side would scale to 2^31.
        let tall = vec![0u8; 3 << 20];
        let err = run(
            1,
            1 << 20,
            &tall,
            format(1 << 11, 1, ResizeMode::FitShortest),
        );
        assert!(matches!(err, Err(Error::Preprocess(_))), "{err:?}");
        // The studio's extreme is fine: 1 x 2^20 into 320 x 320.
        let out = run(1, 1 << 20, &tall, format(320, 320, ResizeMode::FitShortest)).unwrap();
        assert!(out.iter().all(|&p| p == 0));
    }

    #[test]
    fn same_size_is_the_identity_and_flat_stays_flat() {
        let pixels = noise(13, 9);
        assert_eq!(
            run(13, 9, &pixels, format(13, 9, ResizeMode::Squash)).unwrap(),
            pixels
        );
        let flat = [200u8, 17, 99].repeat(50 * 30);
        for mode in [ResizeMode::Squash, ResizeMode::FitShortest] {
            let out = run(50, 30, &flat, format(33, 47, mode)).unwrap();
            assert_eq!(out, [200u8, 17, 99].repeat(33 * 47), "{mode:?}");
        }
    }

    #[test]
    fn fit_longest_pads_with_black_and_fit_shortest_keeps_the_centre() {
        // 200x100: left half red, right half blue; into 100x100.
        let mut pixels = Vec::new();
        for _ in 0..100 {
            for x in 0..200 {
                pixels.extend_from_slice(if x < 100 { &[255, 0, 0] } else { &[0, 0, 255] });
            }
        }
        let padded = run(200, 100, &pixels, format(100, 100, ResizeMode::FitLongest)).unwrap();
        // Scaled to 100x50, placed at rows 25..75.
        let at = |img: &[u8], x: usize, y: usize| [0, 1, 2].map(|c| img[(y * 100 + x) * 3 + c]);
        assert_eq!(at(&padded, 10, 24), [0, 0, 0]);
        assert_eq!(at(&padded, 10, 25), [255, 0, 0]);
        assert_eq!(at(&padded, 90, 74), [0, 0, 255]);
        assert_eq!(at(&padded, 90, 75), [0, 0, 0]);
        let cropped = run(200, 100, &pixels, format(100, 100, ResizeMode::FitShortest)).unwrap();
        // Kept as is: columns 50..150 of the source.
        assert_eq!(at(&cropped, 0, 0), [255, 0, 0]);
        assert_eq!(at(&cropped, 49, 99), [255, 0, 0]);
        assert_eq!(at(&cropped, 50, 0), [0, 0, 255]);
    }

    #[test]
    fn fit_modes_equal_squash_of_the_scaled_window() {
        // FitShortest of 160x120 into 96x96 is the 128x96 squash, columns 16..112.
        let pixels = noise(160, 120);
        let wide = run(160, 120, &pixels, format(128, 96, ResizeMode::Squash)).unwrap();
        let cropped = run(160, 120, &pixels, format(96, 96, ResizeMode::FitShortest)).unwrap();
        for y in 0..96 {
            assert_eq!(
                &cropped[y * 96 * 3..(y + 1) * 96 * 3],
                &wide[(y * 128 + 16) * 3..(y * 128 + 112) * 3]
            );
        }
        // FitLongest of 160x120 into 96x96 is the 96x72 squash at rows 12..84.
        let small = run(160, 120, &pixels, format(96, 72, ResizeMode::Squash)).unwrap();
        let padded = run(160, 120, &pixels, format(96, 96, ResizeMode::FitLongest)).unwrap();
        assert_eq!(&padded[12 * 96 * 3..84 * 96 * 3], &small[..]);
        assert!(padded[..12 * 96 * 3].iter().all(|&p| p == 0));
        assert!(padded[84 * 96 * 3..].iter().all(|&p| p == 0));
        // An odd padding (95 - 72 = 23 rows) puts the image 11 rows down.
        let padded = run(160, 120, &pixels, format(96, 95, ResizeMode::FitLongest)).unwrap();
        assert_eq!(&padded[11 * 96 * 3..83 * 96 * 3], &small[..]);
        assert!(padded[..11 * 96 * 3].iter().all(|&p| p == 0));
        assert!(padded[83 * 96 * 3..].iter().all(|&p| p == 0));
    }

    #[test]
    fn kept_rows_save_reads_and_change_nothing() {
        for &(sw, sh, tw, th) in &[
            (160, 120, 96, 96),
            (32, 32, 96, 96),
            (320, 240, 40, 30),
            (50, 90, 64, 32),
        ] {
            let pixels = noise(sw, sh);
            for mode in [
                ResizeMode::Squash,
                ResizeMode::FitShortest,
                ResizeMode::FitLongest,
            ] {
                let format = format(tw, th, mode);
                let keep = Scratch::rows_to_keep(sw, sh, &format);
                let mut results = Vec::new();
                for rows in [0, 1, 2, keep, keep + 3] {
                    let mut source = Counting {
                        inner: RgbPixels::new(sw, sh, &pixels).unwrap(),
                        reads: 0,
                    };
                    let mut row = vec![0u8; Scratch::row_len(sw)];
                    let mut acc = vec![0u64; Scratch::acc_len(tw)];
                    // Not a whole number of rows: the rest is unused.
                    let mut filtered = vec![7u16; Scratch::filtered_len(tw, rows) + 5];
                    let mut out = vec![0u8; format.len()];
                    let scratch = Scratch {
                        row: &mut row,
                        acc: &mut acc,
                        filtered: &mut filtered,
                    };
                    preprocess(&mut source, &format, scratch, &mut out).unwrap();
                    if rows >= keep {
                        assert!(
                            source.reads <= sh,
                            "{sw}x{sh}->{tw}x{th} {mode:?}: {} reads",
                            source.reads
                        );
                    }
                    results.push(out);
                }
                assert!(
                    results.windows(2).all(|w| w[0] == w[1]),
                    "{sw}x{sh}->{tw}x{th} {mode:?}"
                );
            }
        }
    }

    #[test]
    fn narrow_and_wide_sums_agree() {
        for &(sw, tw) in &[(160, 96), (7, 3), (320, 33), (32, 96), (1000, 5)] {
            let axis = Axis::new(sw, tw, tw);
            assert!(axis.fits_32_bits(), "{sw}->{tw}");
            let row = noise(sw, 1);
            let (mut narrow, mut wide) = (Vec::new(), Vec::new());
            filter_row_in::<u32, i32>(&axis, &row, &mut |x, h| narrow.push((x, h)));
            filter_row_in::<u64, i64>(&axis, &row, &mut |x, h| wide.push((x, h)));
            assert_eq!(narrow.len(), tw);
            assert_eq!(narrow, wide, "{sw}->{tw}");
        }
        assert!(!Axis::new(5000, 3, 3).fits_32_bits());
        assert!(!Axis::new(320_002, 4_266_693, 40).fits_32_bits());
    }

    #[test]
    fn grayscale_is_luma_of_the_rgb_result() {
        let pixels = noise(40, 30);
        for mode in [
            ResizeMode::Squash,
            ResizeMode::FitShortest,
            ResizeMode::FitLongest,
        ] {
            let rgb = run(40, 30, &pixels, format(24, 20, mode)).unwrap();
            let gray_format = InputFormat {
                color_depth: ColorDepth::Grayscale,
                ..format(24, 20, mode)
            };
            let gray = run(40, 30, &pixels, gray_format).unwrap();
            let expected: Vec<u8> = rgb
                .chunks_exact(3)
                .map(|p| luma_bt601(p[0], p[1], p[2]))
                .collect();
            assert_eq!(gray, expected, "{mode:?}");
        }
    }

    #[test]
    fn luma_uses_bt601_weights() {
        assert_eq!(luma_bt601(255, 255, 255), 255);
        assert_eq!(luma_bt601(0, 0, 0), 0);
        assert_eq!(luma_bt601(255, 0, 0), 76);
        assert_eq!(luma_bt601(0, 255, 0), 150);
        assert_eq!(luma_bt601(0, 0, 255), 29);
        assert!((0..=255u8).all(|v| luma_bt601(v, v, v) == v));
    }

    #[test]
    fn extreme_ratios_stay_in_range() {
        // One long row shrunk to one pixel, and one pixel blown up.
        let wide = [255u8; 3 * 5000];
        assert_eq!(
            run(5000, 1, &wide, format(1, 1, ResizeMode::Squash)).unwrap(),
            [255; 3]
        );
        let out = run(1, 1, &[9, 8, 7], format(300, 2, ResizeMode::Squash)).unwrap();
        assert_eq!(out, [9u8, 8, 7].repeat(600));
    }

    #[test]
    fn bad_buffers_and_sizes_are_errors() {
        let pixels = noise(4, 4);
        assert!(RgbPixels::new(4, 5, &pixels).is_err());
        assert!(run(4, 4, &pixels, format(0, 3, ResizeMode::Squash)).is_err());
        let mut source = RgbPixels::new(4, 4, &pixels).unwrap();
        let f = format(2, 2, ResizeMode::Squash);
        let (mut row, mut acc) = ([0u8; 12], [0u64; 6]);
        let mut out = [0u8; 11];
        let err = preprocess(
            &mut source,
            &f,
            Scratch {
                row: &mut row,
                acc: &mut acc,
                filtered: &mut [],
            },
            &mut out,
        );
        assert_eq!(
            err,
            Err(Error::LengthMismatch {
                expected: 12,
                actual: 11
            })
        );
        let mut out = [0u8; 12];
        let err = preprocess(
            &mut source,
            &f,
            Scratch {
                row: &mut row[..11],
                acc: &mut acc,
                filtered: &mut [],
            },
            &mut out,
        );
        assert!(matches!(err, Err(Error::LengthMismatch { .. })));
    }
}
