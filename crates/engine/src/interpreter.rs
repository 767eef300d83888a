//! Runs a validated [`ModelView`] in a caller-provided arena: no allocation,
//! no panics (every slice access is checked; the blob was validated at parse).
//!
//! Prepare and Eval are split as in TFLite Micro. The blob's parse
//! validated every operator; [`Interpreter::new`] checks each against the
//! kernels of the build, picks its kernel (the first whose `supports`
//! accepts it) and whether kernels may take free arena as scratch, and
//! keeps the choices in the arena's last bytes ([`crate::blob::plan_len`],
//! a byte per operator). [`Interpreter::invoke`] then only decodes each
//! operator's record ([`ModelView::op`]) and runs its kernel: it validates
//! nothing again and makes no choice. Create the interpreter once and
//! invoke it for every inference.
//!
//! A windowed layer the planner put over its own input runs in one call
//! where its kernel has an in-place entry that takes it (the Cortex-M4
//! convolution and depthwise kernels: [`KernelSet`]'s `conv_in_place`),
//! otherwise one output row per call (as `for_each_band` walks them).

use core::ops::Range;

use crate::blob::{ModelView, PreparedOp, as_i8_mut, plan_len};
use crate::error::{Error, Result};
use crate::kernels::set::{self, Choice, KernelSet};
use crate::kernels::{Shape4, Window, Windowed};

/// A plan entry for a layer that runs in place and whose row bands do not
/// all select the same kernel: `invoke` then selects per band.
const PER_BAND: Choice = Choice::MAX;

pub struct Interpreter<'m, 'r> {
    model: ModelView<'m>,
    /// The activations, then free arena kernels may take as scratch.
    arena: &'r mut [i8],
    /// The Prepare step's kernel choice per operator (the arena's end).
    plan: &'r [Choice],
    input: Range<usize>,
    output: Range<usize>,
    kernels: &'static KernelSet,
    /// Whether kernels may take the arena's free space at each layer as
    /// scratch (see [`free_gap`]).
    arena_scratch: bool,
}

fn split1(arena: &mut [i8], a: Range<usize>, out: Range<usize>) -> Result<(&[i8], &mut [i8])> {
    let bad = || Error::Malformed("operator buffers outside the arena");
    if a.end <= out.start {
        let (lo, hi) = arena.split_at_mut(out.start);
        Ok((
            lo.get(a).ok_or_else(bad)?,
            hi.get_mut(..out.len()).ok_or_else(bad)?,
        ))
    } else if out.end <= a.start {
        let (lo, hi) = arena.split_at_mut(a.start);
        Ok((
            hi.get(..a.len()).ok_or_else(bad)?,
            lo.get_mut(out).ok_or_else(bad)?,
        ))
    } else {
        Err(Error::Malformed(
            "operator input and output overlap in the arena",
        ))
    }
}

fn split2<'x>(
    arena: &'x mut [i8],
    a: Range<usize>,
    b: Range<usize>,
    out: Range<usize>,
) -> Result<(&'x [i8], &'x [i8], &'x mut [i8])> {
    let bad = || Error::Malformed("operator buffers outside the arena");
    if arena.len() < out.end || out.start > out.end {
        return Err(bad());
    }
    let (lo, rest) = arena.split_at_mut(out.start);
    let (o, hi) = rest.split_at_mut(out.len());
    let (lo, hi): (&'x [i8], &'x [i8]) = (lo, hi);
    let pick = |r: Range<usize>| -> Result<&'x [i8]> {
        if r.end <= out.start {
            lo.get(r).ok_or_else(bad)
        } else if r.start >= out.end {
            hi.get(r.start - out.end..r.end - out.end).ok_or_else(bad)
        } else {
            Err(Error::Malformed(
                "operator input and output overlap in the arena",
            ))
        }
    };
    Ok((pick(a)?, pick(b)?, o))
}

/// Whether two arena ranges overlap (an operator then runs in place).
pub(crate) fn overlap(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

/// The calls a windowed operator makes: one over its whole input and output
/// when they are apart in the arena, otherwise (in place) one per output
/// row, over the input rows it reads, so that rows written never cover
/// input rows still to be read. `f` gets each call's parameters (those of
/// its band of rows); the first error ends the calls.
pub(crate) fn for_each_band<P: Windowed>(
    in_place: bool,
    params: &P,
    mut f: impl FnMut(P) -> Result<()>,
) -> Result<()> {
    if !in_place {
        return f(*params);
    }
    let (in_shape, out_shape, window) = params.geometry();
    for r in 0..out_shape.h {
        let (start, end, pad_top) = window.row_band(r, in_shape.h);
        let band = params.band(
            Shape4 {
                h: end - start,
                ..in_shape
            },
            Shape4 { h: 1, ..out_shape },
            Window { pad_top, ..window },
        );
        f(band)?;
    }
    Ok(())
}

/// Runs a windowed operator, in place one output row at a time when the
/// planner put its output over its input (validated at parse against
/// `Window::in_place_delta`), each row reading only the input rows it
/// needs, as [`for_each_band`] walks them, unless `whole` runs the layer
/// in place in one call (`Ok(true)`; see `kernels::set::ConvInPlaceFn`).
/// `gap` is free arena the kernel may use as scratch (see [`free_gap`]).
/// (Its own loop rather than [`for_each_band`]'s closure: that closure is
/// not inlined and put 80 B on the deepest stack, under every kernel.)
fn windowed<P: Windowed>(
    arena: &mut [i8],
    (input, output): (Range<usize>, Range<usize>),
    params: &P,
    gap: Range<usize>,
    kernel: impl Fn(&P, &[i8], &mut [i8], &mut [u32]) -> Result<()>,
    whole: impl Fn(&P, &mut [i8], (Range<usize>, Range<usize>), &mut [u32]) -> Result<bool>,
) -> Result<()> {
    if !overlap(&input, &output) {
        let (i, o, g) = split_with_gap(arena, input, output, gap)?;
        return kernel(params, i, o, g);
    }
    let lo = input.start.min(output.start);
    let (span, g) = split_span_with_gap(arena, lo..input.end.max(output.end), gap.clone())?;
    let at = |r: &Range<usize>| r.start - lo..r.end - lo;
    if whole(params, span, (at(&input), at(&output)), g)? {
        return Ok(());
    }
    let (in_shape, out_shape, window) = params.geometry();
    let in_row = in_shape.w * in_shape.c;
    let out_row = out_shape.w * out_shape.c;
    for r in 0..out_shape.h {
        let (start, end, pad_top) = window.row_band(r, in_shape.h);
        let p = params.band(
            Shape4 {
                h: end - start,
                ..in_shape
            },
            Shape4 { h: 1, ..out_shape },
            Window { pad_top, ..window },
        );
        let rows = input.start + start * in_row..input.start + end * in_row;
        let out = output.start + r * out_row..output.start + (r + 1) * out_row;
        let (i, o, g) = split_with_gap(arena, rows, out, gap.clone())?;
        kernel(&p, i, o, g)?;
    }
    Ok(())
}

/// The largest stretch of the arena outside an operator's input and output
/// ranges: free while it runs when no other tensor is live then (a chain of
/// layers, [`is_chain`]). Kernels take their scratch from it instead of the
/// stack.
pub(crate) fn free_gap(len: usize, a: &Range<usize>, b: &Range<usize>) -> Range<usize> {
    let (lo, hi) = (a.start.min(b.start), a.end.max(b.end).min(len));
    let mut best = 0..lo;
    if len - hi > best.len() {
        best = hi..len;
    }
    let between = if a.end <= b.start {
        a.end..b.start
    } else if b.end <= a.start {
        b.end..a.start
    } else {
        0..0
    };
    if between.len() > best.len() {
        best = between;
    }
    best
}

/// `split1` plus the free stretch `gap` (disjoint from both ranges) as
/// words (its unaligned ends left out).
fn split_with_gap(
    arena: &mut [i8],
    a: Range<usize>,
    out: Range<usize>,
    gap: Range<usize>,
) -> Result<(&[i8], &mut [i8], &mut [u32])> {
    let bad = || Error::Malformed("operator buffers outside the arena");
    if gap.is_empty() {
        let (i, o) = split1(arena, a, out)?;
        return Ok((i, o, &mut []));
    }
    if gap.end > arena.len() {
        return Err(bad());
    }
    let (lo, rest) = arena.split_at_mut(gap.start);
    let (g, hi) = rest.split_at_mut(gap.len());
    let below = |r: &Range<usize>| r.end <= gap.start;
    let above = |r: &Range<usize>| r.start >= gap.end;
    let shift = |r: &Range<usize>| r.start - gap.end..r.end - gap.end;
    let (i, o): (&[i8], &mut [i8]) = match (below(&a), below(&out)) {
        (true, true) => split1(lo, a, out)?,
        (false, false) if above(&a) && above(&out) => split1(hi, shift(&a), shift(&out))?,
        (true, false) if above(&out) => (
            lo.get(a).ok_or_else(bad)?,
            hi.get_mut(shift(&out)).ok_or_else(bad)?,
        ),
        (false, true) if above(&a) => (
            hi.get(shift(&a)).ok_or_else(bad)?,
            lo.get_mut(out).ok_or_else(bad)?,
        ),
        _ => return Err(Error::Malformed("scratch overlaps an operator's buffers")),
    };
    // SAFETY: any bytes are valid `u32`s; `align_to_mut` keeps the words
    // inside `g` and aligned.
    let (_, words, _) = unsafe { g.align_to_mut::<u32>() };
    Ok((i, o, words))
}

/// The span `span` of the arena (an in-place layer's input and output) and
/// the free stretch `gap` (outside it) as words, as [`split_with_gap`].
fn split_span_with_gap(
    arena: &mut [i8],
    span: Range<usize>,
    gap: Range<usize>,
) -> Result<(&mut [i8], &mut [u32])> {
    let bad = || Error::Malformed("operator buffers outside the arena");
    if span.start > span.end || span.end > arena.len() || gap.end > arena.len() {
        return Err(bad());
    }
    let (s, g) = if gap.is_empty() {
        (&mut arena[span], &mut [][..])
    } else if gap.end <= span.start {
        let (lo, hi) = arena.split_at_mut(span.start);
        (&mut hi[..span.len()], &mut lo[gap])
    } else if gap.start >= span.end {
        let (lo, hi) = arena.split_at_mut(gap.start);
        (&mut lo[span], &mut hi[..gap.len()])
    } else {
        return Err(Error::Malformed("scratch overlaps an operator's buffers"));
    };
    // SAFETY: any bytes are valid `u32`s; `align_to_mut` keeps the words
    // inside `g` and aligned.
    let (_, words, _) = unsafe { g.align_to_mut::<u32>() };
    Ok((s, words))
}

/// Whether each operator reads only the previous one's output (and the
/// first the model's input, the last writes its output): then nothing but
/// an operator's own input and output is live while it runs.
/// Not inlined: its operator records stay off the caller's frame (the
/// firmware's loop, under which the model runs).
#[inline(never)]
pub(crate) fn is_chain(model: &ModelView<'_>) -> Result<bool> {
    let mut prev = model.input()?.range();
    for i in 0..model.op_count() {
        let op = model.op(i)?;
        let input = match op {
            PreparedOp::Conv { input, .. }
            | PreparedOp::Depthwise { input, .. }
            | PreparedOp::FullyConnected { input, .. }
            | PreparedOp::AveragePool { input, .. }
            | PreparedOp::MaxPool { input, .. }
            | PreparedOp::Reshape { input, .. }
            | PreparedOp::Softmax { input, .. }
            | PreparedOp::Requantize { input, .. }
            | PreparedOp::Mean { input, .. } => input,
            PreparedOp::Add { .. } => return Ok(false),
        };
        if model.tensor(input)?.range() != prev {
            return Ok(false);
        }
        prev = model.tensor(op.output())?.range();
    }
    Ok(prev == model.output()?.range())
}

/// The Prepare step: every operator's kernel into `plan`. Not inlined:
/// its operator records stay off the frame of the caller, under which the
/// model then runs (the firmware's loop).
#[inline(never)]
fn prepare_all(model: &ModelView<'_>, kernels: &KernelSet, plan: &mut [Choice]) -> Result<()> {
    for (i, choice) in plan.iter_mut().enumerate() {
        *choice = prepare(model, kernels, &model.op(i)?)?;
    }
    Ok(())
}

/// The Prepare step for one operator: its kernel in `kernels` (for a
/// layer that runs in place, the kernel of every row band, or [`PER_BAND`]
/// if they differ), or the error naming what the build lacks.
fn prepare(model: &ModelView<'_>, kernels: &KernelSet, op: &PreparedOp<'_>) -> Result<Choice> {
    let ranges = |input: usize, output: usize| -> Result<_> {
        Ok((model.tensor(input)?.range(), model.tensor(output)?.range()))
    };
    // Every call's choice, folded into one.
    fn bands<P: Windowed>(
        (input, output): (Range<usize>, Range<usize>),
        params: &P,
        select: impl Fn(&P) -> Result<Choice>,
    ) -> Result<Choice> {
        let mut plan = None;
        for_each_band(overlap(&input, &output), params, |band| {
            let c = select(&band)?;
            plan = Some(match plan {
                Some(a) if a != c => PER_BAND,
                a => a.unwrap_or(c),
            });
            Ok(())
        })?;
        Ok(plan.unwrap_or(0))
    }
    match *op {
        PreparedOp::Conv {
            ref params,
            input,
            output,
        } => bands(ranges(input, output)?, params, |p| kernels.select_conv(p)),
        PreparedOp::Depthwise {
            ref params,
            input,
            output,
        } => bands(ranges(input, output)?, params, |p| {
            kernels.select_depthwise(p)
        }),
        PreparedOp::FullyConnected { ref params, .. } => kernels.select_fully_connected(params),
        PreparedOp::AveragePool { .. } => kernels.average_pool_fn().map(|_| 0),
        PreparedOp::MaxPool { .. } => kernels.max_pool_fn().map(|_| 0),
        PreparedOp::Softmax { .. } => kernels.softmax_fn().map(|_| 0),
        PreparedOp::Requantize { .. } => kernels.requantize_fn().map(|_| 0),
        PreparedOp::Add { .. } => kernels.add_fn().map(|_| 0),
        PreparedOp::Mean { .. } => kernels.mean_fn().map(|_| 0),
        PreparedOp::Reshape { .. } => Ok(0),
    }
}

impl<'m, 'r> Interpreter<'m, 'r> {
    /// Binds a model to an arena of at least `model.arena_size()` bytes.
    pub fn new(model: ModelView<'m>, arena: &'r mut [u8]) -> Result<Self> {
        Self::with_kernels(model, arena, &set::ALL)
    }

    /// [`Interpreter::new`] with only the kernels in `kernels` (a firmware's
    /// set for its one model, `kernels::set::needed`): the others are then
    /// never referenced and stay out of the image. A layer the set has no
    /// kernel for fails with `Error::Unsupported`.
    ///
    /// This is the Prepare step: every operator is checked against the
    /// build's kernels and given its kernel here, once (see the module
    /// documentation). Not inlined, so that a caller's loop (the firmware's)
    /// does not carry Prepare's frame under every inference.
    #[inline(never)]
    pub fn with_kernels(
        model: ModelView<'m>,
        arena: &'r mut [u8],
        kernels: &'static KernelSet,
    ) -> Result<Self> {
        if arena.len() < model.arena_size() {
            return Err(Error::ArenaTooSmall {
                needed: model.arena_size(),
                available: arena.len(),
            });
        }
        let ops = model.op_count();
        let (arena, plan) = arena.split_at_mut(arena.len() - plan_len(ops));
        let plan = &mut plan[..ops];
        prepare_all(&model, kernels, plan)?;
        let input = model.input()?.range();
        let output = model.output()?.range();
        Ok(Interpreter {
            model,
            arena: as_i8_mut(arena),
            plan,
            input,
            output,
            kernels,
            arena_scratch: kernels.uses_arena_scratch() && is_chain(&model)?,
        })
    }

    pub fn model(&self) -> &ModelView<'m> {
        &self.model
    }

    /// The kernel the Prepare step picked for operator `i` (`None` past the
    /// last operator).
    pub fn kernel_name(&self, i: usize) -> Option<&'static str> {
        let choice = usize::from(*self.plan.get(i)?);
        let k = self.kernels;
        Some(match self.model.op(i).ok()? {
            _ if choice == usize::from(PER_BAND) => "chosen per row band",
            PreparedOp::Conv { .. } => k.conv.get(choice)?.name,
            PreparedOp::Depthwise { .. } => k.depthwise.get(choice)?.name,
            PreparedOp::FullyConnected { .. } => k.fully_connected.get(choice)?.name,
            op => op.kernel_name(),
        })
    }

    /// The input tensor, to be filled before [`invoke`](Self::invoke).
    pub fn input_mut(&mut self) -> &mut [i8] {
        self.arena.get_mut(self.input.clone()).unwrap_or_default()
    }

    /// The output tensor after [`invoke`](Self::invoke).
    pub fn output(&self) -> &[i8] {
        self.arena.get(self.output.clone()).unwrap_or_default()
    }

    /// Copies an int8 input tensor in (its length must match the model's input).
    pub fn set_input(&mut self, input: &[i8]) -> Result<()> {
        let dst = self.input_mut();
        if dst.len() != input.len() {
            return Err(Error::LengthMismatch {
                expected: dst.len(),
                actual: input.len(),
            });
        }
        dst.copy_from_slice(input);
        Ok(())
    }

    /// Fills the input from 8-bit pixels through the model's pixel scaling
    /// (bytes as they are for a model that takes raw tensors).
    pub fn set_input_pixels(&mut self, pixels: &[u8]) -> Result<()> {
        let mapper = self
            .model
            .input_mapper()
            .ok_or(Error::Malformed("the blob has no input tensor"))?;
        mapper.map(pixels, self.input_mut())
    }

    /// Runs every operator in order.
    pub fn invoke(&mut self) -> Result<()> {
        for i in 0..self.model.op_count() {
            let op = self.model.op(i)?;
            self.run_op(&op, self.choice(i)?)?;
        }
        Ok(())
    }

    /// Runs every operator, showing each operator's output to `observer`
    /// (for per-layer debugging and profiling).
    pub fn invoke_observed(
        &mut self,
        mut observer: impl FnMut(usize, &PreparedOp<'m>, &[i8]),
    ) -> Result<()> {
        for i in 0..self.model.op_count() {
            let op = self.model.op(i)?;
            self.run_op(&op, self.choice(i)?)?;
            let out = self.model.tensor(op.output())?.range();
            observer(i, &op, self.arena.get(out).unwrap_or_default());
        }
        Ok(())
    }

    /// The kernel the Prepare step planned for operator `i`.
    fn choice(&self, i: usize) -> Result<Choice> {
        self.plan
            .get(i)
            .copied()
            .ok_or(Error::Malformed("operator index out of range"))
    }

    fn range(&self, t: usize) -> Result<Range<usize>> {
        Ok(self.model.tensor(t)?.range())
    }

    /// Free arena around an operator's input and output, if kernels may use it.
    fn gap(&self, a: &Range<usize>, b: &Range<usize>) -> Range<usize> {
        if self.arena_scratch {
            free_gap(self.arena.len(), a, b)
        } else {
            0..0
        }
    }

    fn run_op(&mut self, op: &PreparedOp<'m>, choice: Choice) -> Result<()> {
        let k = self.kernels;
        // The plan's kernel, or the band's own for a [`PER_BAND`] layer.
        let pick = |select: &dyn Fn() -> Result<Choice>| {
            if choice == PER_BAND {
                select()
            } else {
                Ok(choice)
            }
        };
        match *op {
            PreparedOp::Conv {
                ref params,
                input,
                output,
            } => {
                let (input, output) = (self.range(input)?, self.range(output)?);
                let gap = self.gap(&input, &output);
                windowed(
                    self.arena,
                    (input, output),
                    params,
                    gap,
                    |p, i, o, g| k.conv(pick(&|| k.select_conv(p))?, p, i, o, g),
                    |p, span, ranges, g| k.conv_in_place(choice, p, span, ranges, g),
                )
            }
            PreparedOp::Depthwise {
                ref params,
                input,
                output,
            } => {
                let (input, output) = (self.range(input)?, self.range(output)?);
                let gap = self.gap(&input, &output);
                windowed(
                    self.arena,
                    (input, output),
                    params,
                    gap,
                    |p, i, o, g| k.depthwise(pick(&|| k.select_depthwise(p))?, p, i, o, g),
                    |p, span, ranges, g| k.depthwise_in_place(choice, p, span, ranges, g),
                )
            }
            PreparedOp::FullyConnected {
                ref params,
                input,
                output,
            } => {
                let (input, output) = (self.range(input)?, self.range(output)?);
                let gap = self.gap(&input, &output);
                let (i, o, g) = split_with_gap(self.arena, input, output, gap)?;
                k.fully_connected(choice, params, i, o, g)
            }
            PreparedOp::AveragePool {
                ref params,
                input,
                output,
            } => windowed(
                self.arena,
                (self.range(input)?, self.range(output)?),
                params,
                0..0,
                {
                    let f = k.average_pool_fn()?;
                    move |p, i, o, _| f(p, i, o)
                },
                |_, _, _, _| Ok(false),
            ),
            PreparedOp::MaxPool {
                ref params,
                input,
                output,
            } => windowed(
                self.arena,
                (self.range(input)?, self.range(output)?),
                params,
                0..0,
                {
                    let f = k.max_pool_fn()?;
                    move |p, i, o, _| f(p, i, o)
                },
                |_, _, _, _| Ok(false),
            ),
            PreparedOp::Softmax {
                ref params,
                input,
                output,
            } => {
                let (i, o) = split1(self.arena, self.range(input)?, self.range(output)?)?;
                k.softmax_fn()?(params, i, o)
            }
            PreparedOp::Requantize {
                ref params,
                input,
                output,
            } => {
                let (i, o) = split1(self.arena, self.range(input)?, self.range(output)?)?;
                k.requantize_fn()?(params, i, o)
            }
            PreparedOp::Add {
                ref params,
                inputs,
                output,
            } => {
                let (a, b, o) = split2(
                    self.arena,
                    self.range(inputs[0])?,
                    self.range(inputs[1])?,
                    self.range(output)?,
                )?;
                k.add_fn()?(params, a, b, o)
            }
            PreparedOp::Mean {
                ref params,
                input,
                output,
            } => {
                let (i, o) = split1(self.arena, self.range(input)?, self.range(output)?)?;
                k.mean_fn()?(params, i, o)
            }
            PreparedOp::Reshape { input, output } => {
                let (src, dst) = (self.range(input)?, self.range(output)?);
                if src.start != dst.start {
                    let (i, o) = split1(self.arena, src, dst)?;
                    o.copy_from_slice(i);
                }
                Ok(())
            }
        }
    }
}

/// One operator's output after an inference: what the network sees at
/// that layer.
#[cfg(feature = "std")]
#[derive(Debug, Clone, PartialEq)]
pub struct LayerOutput {
    /// The operator, as TFLite names it (`CONV_2D`, ...).
    pub op: &'static str,
    /// `[n, h, w, c]`, leading dimensions padded with 1.
    pub shape: [usize; 4],
    pub data: Vec<i8>,
}

/// Host convenience: owns a blob and an arena for repeated inferences.
#[cfg(feature = "std")]
pub struct HostRunner {
    blob: Vec<u8>,
    arena: Vec<u8>,
}

#[cfg(feature = "std")]
impl HostRunner {
    /// Validates the blob (checksum included) and allocates its arena.
    pub fn new(blob: Vec<u8>) -> Result<Self> {
        let size = ModelView::parse(&blob)?.arena_size();
        Ok(HostRunner {
            blob,
            arena: vec![0; size],
        })
    }

    pub fn view(&self) -> Result<ModelView<'_>> {
        ModelView::parse_verified(&self.blob)
    }

    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// One inference from an int8 input tensor.
    pub fn run(&mut self, input: &[i8]) -> Result<Vec<i8>> {
        let view = ModelView::parse_verified(&self.blob)?;
        let mut it = Interpreter::new(view, &mut self.arena)?;
        it.set_input(input)?;
        it.invoke()?;
        Ok(it.output().to_vec())
    }

    /// One inference from 8-bit pixels (uses the blob's pixel scaling).
    pub fn run_pixels(&mut self, pixels: &[u8]) -> Result<Vec<i8>> {
        let view = ModelView::parse_verified(&self.blob)?;
        let mut it = Interpreter::new(view, &mut self.arena)?;
        it.set_input_pixels(pixels)?;
        it.invoke()?;
        Ok(it.output().to_vec())
    }

    /// One inference from 8-bit pixels (the blob's pixel scaling),
    /// returning every operator's output with its name and shape.
    pub fn run_pixels_layers(&mut self, pixels: &[u8]) -> Result<Vec<LayerOutput>> {
        self.layers(|it| it.set_input_pixels(pixels))
    }

    /// One inference from an int8 input tensor, returning every operator's
    /// output with its name and shape.
    pub fn run_layers(&mut self, input: &[i8]) -> Result<Vec<LayerOutput>> {
        self.layers(|it| it.set_input(input))
    }

    fn layers(
        &mut self,
        set_input: impl FnOnce(&mut Interpreter<'_, '_>) -> Result<()>,
    ) -> Result<Vec<LayerOutput>> {
        let view = ModelView::parse_verified(&self.blob)?;
        let shapes: Vec<[usize; 4]> = (0..view.op_count())
            .map(|i| {
                let s = view.tensor(view.op(i)?.output())?.shape4();
                Ok([s.n, s.h, s.w, s.c])
            })
            .collect::<Result<_>>()?;
        let mut it = Interpreter::new(view, &mut self.arena)?;
        set_input(&mut it)?;
        let mut layers = Vec::new();
        it.invoke_observed(|i, op, out| {
            layers.push(LayerOutput {
                op: op.name(),
                shape: shapes[i],
                data: out.to_vec(),
            })
        })?;
        Ok(layers)
    }
}
