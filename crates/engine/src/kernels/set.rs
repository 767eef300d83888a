//! Kernel sets: which kernels one build carries.
//!
//! [`ALL`] is every kernel of this target, in the dispatch tables' order
//! (what [`crate::Interpreter::new`] runs with). A firmware built for one
//! model carries only the kernels that model's layers select: its build
//! script calls [`needed`] with the blob and writes the set out as Rust
//! ([`Needs::to_rust`]), and the firmware runs
//! [`crate::Interpreter::with_kernels`] with it. Nothing else refers to the
//! other kernels, so the linker drops them (portable convolutions, the
//! reference convolutions, pooling and ADD a model does not use: 12 KB of
//! the Nano 33 BLE's flash with VWW).
//!
//! Each named entry below is the same kernel as the table entry of the same
//! name (`tests::entries_are_the_tables`).

#[cfg(armv6m)]
use super::cortex_m0;
#[cfg(arm_dsp)]
use super::cortex_m4;
use super::{
    AddParams, ConvKernel, ConvParams, DepthwiseKernel, DepthwiseParams, FullyConnectedKernel,
    FullyConnectedParams, MeanParams, PoolParams, RequantizeParams, SoftmaxParams, conv_patch,
    depthwise_dm1, pointwise, reference,
};
use crate::error::{Error, Result};
use core::ops::Range;

pub type PoolFn = fn(&PoolParams, &[i8], &mut [i8]) -> Result<()>;
pub type SoftmaxFn = fn(&SoftmaxParams, &[i8], &mut [i8]) -> Result<()>;
pub type AddFn = fn(&AddParams, &[i8], &[i8], &mut [i8]) -> Result<()>;
pub type MeanFn = fn(&MeanParams, &[i8], &mut [i8]) -> Result<()>;
pub type RequantizeFn = fn(&RequantizeParams, &[i8], &mut [i8]) -> Result<()>;
/// A kernel's variant that works in scratch memory it is handed (the
/// arena's free space at that layer) instead of on the stack.
pub type ConvArenaFn = fn(&ConvParams<'_>, &[i8], &mut [i8], &mut [u32]) -> Result<()>;
pub type DepthwiseArenaFn = fn(&DepthwiseParams<'_>, &[i8], &mut [i8], &mut [u32]) -> Result<()>;
pub type FullyConnectedArenaFn =
    fn(&FullyConnectedParams<'_>, &[i8], &mut [i8], &mut [u32]) -> Result<()>;
/// A kernel's run of a whole layer that the planner put in place: its input
/// and output ranges of one span of the arena (overlapping), and scratch.
/// `Ok(false)`, having written nothing, where the kernel cannot; the
/// interpreter then calls it once per output row.
pub type ConvInPlaceFn =
    fn(&ConvParams<'_>, &mut [i8], (Range<usize>, Range<usize>), &mut [u32]) -> Result<bool>;
pub type DepthwiseInPlaceFn =
    fn(&DepthwiseParams<'_>, &mut [i8], (Range<usize>, Range<usize>), &mut [u32]) -> Result<bool>;

/// The kernels an interpreter may run, per operator, most specialised
/// first; `None` for an operator the build leaves out.
pub struct KernelSet {
    pub conv: &'static [ConvKernel],
    pub depthwise: &'static [DepthwiseKernel],
    pub fully_connected: &'static [FullyConnectedKernel],
    /// Per entry of `conv` (same index; shorter means none for the rest):
    /// the variant that takes the arena's free space as scratch, if any.
    pub conv_in_arena: &'static [Option<ConvArenaFn>],
    pub depthwise_in_arena: &'static [Option<DepthwiseArenaFn>],
    pub fully_connected_in_arena: &'static [Option<FullyConnectedArenaFn>],
    /// Per entry of `conv` (as `conv_in_arena`): the variant that runs a
    /// whole layer in place, if any.
    pub conv_in_place: &'static [Option<ConvInPlaceFn>],
    pub depthwise_in_place: &'static [Option<DepthwiseInPlaceFn>],
    pub average_pool: Option<PoolFn>,
    pub max_pool: Option<PoolFn>,
    pub softmax: Option<SoftmaxFn>,
    pub add: Option<AddFn>,
    pub requantize: Option<RequantizeFn>,
    pub mean: Option<MeanFn>,
}

/// Every kernel of this target.
pub static ALL: KernelSet = KernelSet {
    conv: super::CONV_KERNELS,
    depthwise: super::DEPTHWISE_KERNELS,
    fully_connected: super::FULLY_CONNECTED_KERNELS,
    conv_in_arena: &[],
    depthwise_in_arena: &[],
    fully_connected_in_arena: &[],
    conv_in_place: &[],
    depthwise_in_place: &[],
    average_pool: Some(reference::average_pool),
    max_pool: Some(reference::max_pool),
    softmax: Some(reference::softmax),
    add: Some(super::add::add),
    requantize: Some(reference::requantize_tensor),
    mean: Some(reference::mean),
};

/// Which optimised kernels a target has, as the engine's build script
/// decides it from the target's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Core {
    /// Armv7E-M (`thumbv7em-*`): the Cortex-M4 kernels.
    CortexM4,
    /// Armv6-M (`thumbv6m-*`): the Cortex-M0+ kernels.
    CortexM0,
    /// Any other target: the portable kernels.
    Other,
}

impl Core {
    pub fn of_target(target: &str) -> Core {
        if target.starts_with("thumbv7em") {
            Core::CortexM4
        } else if target.starts_with("thumbv6m") {
            Core::CortexM0
        } else {
            Core::Other
        }
    }
}

fn left_out(op: &'static str) -> Error {
    Error::Unsupported(op)
}

/// A [`KernelSet`] entry index for one operator, as the interpreter's
/// Prepare step picks it ([`KernelSet::select_conv`] and its siblings).
pub type Choice = u8;

/// Index of the first kernel of `table` whose `supports` accepts the
/// parameters (as a [`Choice`]).
fn first<K>(table: &[K], supports: impl Fn(&K) -> bool) -> Option<Choice> {
    table
        .iter()
        .position(supports)
        .and_then(|i| Choice::try_from(i).ok())
}

impl KernelSet {
    /// The convolution kernel for `p`: the first that supports it.
    pub fn select_conv(&self, p: &ConvParams<'_>) -> Result<Choice> {
        first(self.conv, |k| (k.supports)(p)).ok_or(left_out(
            "no convolution kernel for this layer in this build",
        ))
    }

    pub fn select_depthwise(&self, p: &DepthwiseParams<'_>) -> Result<Choice> {
        first(self.depthwise, |k| (k.supports)(p))
            .ok_or(left_out("no depthwise kernel for this layer in this build"))
    }

    pub fn select_fully_connected(&self, p: &FullyConnectedParams<'_>) -> Result<Choice> {
        first(self.fully_connected, |k| (k.supports)(p)).ok_or(left_out(
            "no fully connected kernel for this layer in this build",
        ))
    }

    /// Runs convolution kernel `choice`, in `scratch` where it has an arena
    /// variant. (The kernel checks its parameters again; a choice that does
    /// not support them fails there.)
    pub fn conv(
        &self,
        choice: Choice,
        p: &ConvParams<'_>,
        input: &[i8],
        output: &mut [i8],
        scratch: &mut [u32],
    ) -> Result<()> {
        let i = usize::from(choice);
        match (self.conv_in_arena.get(i), self.conv.get(i)) {
            (Some(Some(f)), _) => f(p, input, output, scratch),
            (_, Some(k)) => (k.eval)(p, input, output),
            _ => Err(left_out("no such convolution kernel in this build")),
        }
    }

    pub fn depthwise(
        &self,
        choice: Choice,
        p: &DepthwiseParams<'_>,
        input: &[i8],
        output: &mut [i8],
        scratch: &mut [u32],
    ) -> Result<()> {
        let i = usize::from(choice);
        match (self.depthwise_in_arena.get(i), self.depthwise.get(i)) {
            (Some(Some(f)), _) => f(p, input, output, scratch),
            (_, Some(k)) => (k.eval)(p, input, output),
            _ => Err(left_out("no such depthwise kernel in this build")),
        }
    }

    pub fn fully_connected(
        &self,
        choice: Choice,
        p: &FullyConnectedParams<'_>,
        input: &[i8],
        output: &mut [i8],
        scratch: &mut [u32],
    ) -> Result<()> {
        let i = usize::from(choice);
        match (
            self.fully_connected_in_arena.get(i),
            self.fully_connected.get(i),
        ) {
            (Some(Some(f)), _) => f(p, input, output, scratch),
            (_, Some(k)) => (k.eval)(p, input, output),
            _ => Err(left_out("no such fully connected kernel in this build")),
        }
    }

    /// Runs a whole in-place layer with convolution kernel `choice`, if it
    /// has such a variant and can (see [`ConvInPlaceFn`]); `Ok(false)`,
    /// nothing written, otherwise.
    pub fn conv_in_place(
        &self,
        choice: Choice,
        p: &ConvParams<'_>,
        span: &mut [i8],
        ranges: (Range<usize>, Range<usize>),
        scratch: &mut [u32],
    ) -> Result<bool> {
        match self.conv_in_place.get(usize::from(choice)) {
            Some(Some(f)) => f(p, span, ranges, scratch),
            _ => Ok(false),
        }
    }

    pub fn depthwise_in_place(
        &self,
        choice: Choice,
        p: &DepthwiseParams<'_>,
        span: &mut [i8],
        ranges: (Range<usize>, Range<usize>),
        scratch: &mut [u32],
    ) -> Result<bool> {
        match self.depthwise_in_place.get(usize::from(choice)) {
            Some(Some(f)) => f(p, span, ranges, scratch),
            _ => Ok(false),
        }
    }

    /// Whether any kernel of the set takes arena scratch (the interpreter
    /// then works out the free space at each layer).
    pub fn uses_arena_scratch(&self) -> bool {
        !(self.conv_in_arena.is_empty()
            && self.depthwise_in_arena.is_empty()
            && self.fully_connected_in_arena.is_empty())
    }
}

/// The kernels of the operators with one kernel each, or the error naming
/// the operator the build leaves out: Prepare checks them, `invoke` calls
/// them.
impl KernelSet {
    pub fn average_pool_fn(&self) -> Result<PoolFn> {
        self.average_pool
            .ok_or(left_out("AVERAGE_POOL_2D is not in this build"))
    }

    pub fn max_pool_fn(&self) -> Result<PoolFn> {
        self.max_pool
            .ok_or(left_out("MAX_POOL_2D is not in this build"))
    }

    pub fn softmax_fn(&self) -> Result<SoftmaxFn> {
        self.softmax.ok_or(left_out("SOFTMAX is not in this build"))
    }

    pub fn requantize_fn(&self) -> Result<RequantizeFn> {
        self.requantize
            .ok_or(left_out("QUANTIZE is not in this build"))
    }

    pub fn add_fn(&self) -> Result<AddFn> {
        self.add.ok_or(left_out("ADD is not in this build"))
    }

    pub fn mean_fn(&self) -> Result<MeanFn> {
        self.mean.ok_or(left_out("MEAN is not in this build"))
    }
}

#[cfg(arm_dsp)]
pub const CONV_M4: ConvKernel = ConvKernel {
    name: "conv_m4_gemm",
    supports: cortex_m4::conv_supports,
    eval: cortex_m4::conv_eval,
};
#[cfg(armv6m)]
pub const CONV_M0: ConvKernel = ConvKernel {
    name: "conv_m0_gemm_1x8",
    supports: cortex_m0::conv_supports,
    eval: cortex_m0::conv_eval,
};
#[cfg(armv6m)]
pub const DEPTHWISE_M0_3X3: DepthwiseKernel = DepthwiseKernel {
    name: "depthwise_m0_3x3",
    supports: cortex_m0::depthwise_supports,
    eval: cortex_m0::depthwise_eval,
};
#[cfg(armv6m)]
pub const FC_M0: FullyConnectedKernel = FullyConnectedKernel {
    name: "fc_m0_gemm_1x8",
    supports: cortex_m0::fully_connected_supports,
    eval: cortex_m0::fully_connected_eval,
};
pub const CONV_POINTWISE: ConvKernel = ConvKernel {
    name: "conv_1x1_pointwise",
    supports: pointwise::supports,
    eval: pointwise::eval,
};
pub const CONV_PATCH: ConvKernel = ConvKernel {
    name: "conv_patch",
    supports: conv_patch::supports,
    eval: conv_patch::eval,
};
pub const CONV_REFERENCE: ConvKernel = ConvKernel {
    name: "conv_reference",
    supports: |_| true,
    eval: reference::conv,
};
#[cfg(arm_dsp)]
pub const CONV_M4_IN_ARENA: ConvArenaFn = cortex_m4::conv_eval_in;
#[cfg(arm_dsp)]
pub const DEPTHWISE_M4_3X3_IN_ARENA: DepthwiseArenaFn = cortex_m4::depthwise_eval_in;
#[cfg(arm_dsp)]
pub const CONV_M4_IN_PLACE: ConvInPlaceFn = cortex_m4::conv_eval_in_place;
#[cfg(arm_dsp)]
pub const DEPTHWISE_M4_3X3_IN_PLACE: DepthwiseInPlaceFn = cortex_m4::depthwise_eval_in_place;
#[cfg(arm_dsp)]
pub const FC_M4_IN_ARENA: FullyConnectedArenaFn = cortex_m4::fully_connected_eval_in;
#[cfg(arm_dsp)]
pub const DEPTHWISE_M4_3X3: DepthwiseKernel = DepthwiseKernel {
    name: "depthwise_m4_3x3",
    supports: cortex_m4::depthwise_supports,
    eval: cortex_m4::depthwise_eval,
};
#[cfg(arm_dsp)]
pub const DEPTHWISE_M4_TAPS: DepthwiseKernel = DepthwiseKernel {
    name: "depthwise_m4_taps",
    supports: cortex_m4::depthwise_taps_supports,
    eval: cortex_m4::depthwise_taps_eval,
};
#[cfg(arm_dsp)]
pub const DEPTHWISE_M4_AS_CONV: DepthwiseKernel = DepthwiseKernel {
    name: "depthwise_m4_as_conv",
    supports: cortex_m4::depthwise_as_conv_supports,
    eval: cortex_m4::depthwise_as_conv_eval,
};
pub const DEPTHWISE_DM1: DepthwiseKernel = DepthwiseKernel {
    name: "depthwise_dm1_channel_vectorised",
    supports: depthwise_dm1::supports,
    eval: depthwise_dm1::eval,
};
pub const DEPTHWISE_REFERENCE: DepthwiseKernel = DepthwiseKernel {
    name: "depthwise_reference",
    supports: |_| true,
    eval: reference::depthwise,
};
#[cfg(arm_dsp)]
pub const FC_M4_DOT: FullyConnectedKernel = FullyConnectedKernel {
    name: "fc_m4_dot_2",
    supports: cortex_m4::fully_connected_dot_supports,
    eval: cortex_m4::fully_connected_dot_eval,
};
#[cfg(arm_dsp)]
pub const FC_M4: FullyConnectedKernel = FullyConnectedKernel {
    name: "fc_m4_gemm",
    supports: cortex_m4::fully_connected_supports,
    eval: cortex_m4::fully_connected_eval,
};
pub const FC_REFERENCE: FullyConnectedKernel = FullyConnectedKernel {
    name: "fc_reference",
    supports: |_| true,
    eval: reference::fully_connected,
};

#[cfg(feature = "std")]
pub use needs::{Needs, Scratch, needed};

#[cfg(feature = "std")]
mod needs {
    use std::collections::BTreeSet;
    use std::string::String;
    use std::vec::Vec;

    use super::Core;
    use crate::blob::{ModelView, PreparedOp};
    use crate::error::Result;
    use crate::interpreter::{for_each_band, overlap};
    use crate::kernels::{
        ConvParams, DepthwiseParams, conv_patch, cortex_m0, cortex_m4, depthwise_dm1, pointwise,
    };

    /// The kernels a model selects on a target, by the names of the
    /// constants above (`"CONV_M4"`), in each table's order, and the other
    /// operators it has.
    #[derive(Debug, Default, Clone, PartialEq, Eq)]
    pub struct Needs {
        pub conv: Vec<&'static str>,
        pub depthwise: Vec<&'static str>,
        pub fully_connected: Vec<&'static str>,
        pub average_pool: bool,
        pub max_pool: bool,
        pub softmax: bool,
        pub add: bool,
        pub requantize: bool,
        pub mean: bool,
        /// Bytes the arena needs beyond the blob's plan so that every layer
        /// run by a kernel with an arena variant finds the least scratch it
        /// runs in outside its input and output (0 where the model is not a
        /// chain: its kernels then keep their scratch on the stack).
        pub arena_extra: usize,
    }

    const CONV_ORDER: [&str; 5] = [
        "CONV_M4",
        "CONV_M0",
        "CONV_POINTWISE",
        "CONV_PATCH",
        "CONV_REFERENCE",
    ];
    const DEPTHWISE_ORDER: [&str; 6] = [
        "DEPTHWISE_M4_3X3",
        "DEPTHWISE_M0_3X3",
        "DEPTHWISE_M4_AS_CONV",
        "DEPTHWISE_M4_TAPS",
        "DEPTHWISE_DM1",
        "DEPTHWISE_REFERENCE",
    ];
    const FC_ORDER: [&str; 4] = ["FC_M4_DOT", "FC_M4", "FC_M0", "FC_REFERENCE"];

    /// The table entry the target's dispatch takes for `p` (the order of
    /// `CONV_KERNELS` on the target: the Cortex-M4 kernels exist where
    /// `dsp`, the Armv7E-M targets).
    fn conv_choice(p: &ConvParams<'_>, core: Core) -> &'static str {
        if core == Core::CortexM4 && cortex_m4::conv_supports(p) {
            "CONV_M4"
        } else if core == Core::CortexM0 && cortex_m0::conv_supports(p) {
            "CONV_M0"
        } else if pointwise::supports(p) {
            "CONV_POINTWISE"
        } else if conv_patch::supports(p) {
            "CONV_PATCH"
        } else {
            "CONV_REFERENCE"
        }
    }

    fn depthwise_choice(p: &DepthwiseParams<'_>, core: Core) -> &'static str {
        let dsp = core == Core::CortexM4;
        if core == Core::CortexM0 && cortex_m0::depthwise_supports(p) {
            return "DEPTHWISE_M0_3X3";
        }
        if dsp && cortex_m4::depthwise_supports(p) {
            "DEPTHWISE_M4_3X3"
        } else if dsp && cortex_m4::depthwise_as_conv_supports(p) {
            "DEPTHWISE_M4_AS_CONV"
        } else if dsp && cortex_m4::depthwise_taps_supports(p) {
            "DEPTHWISE_M4_TAPS"
        } else if depthwise_dm1::supports(p) {
            "DEPTHWISE_DM1"
        } else {
            "DEPTHWISE_REFERENCE"
        }
    }

    /// How much scratch the arena makes room for where a layer's free space
    /// is short: the least each kernel runs in (least RAM; the early layers
    /// then run in smaller blocks, a few percent more instructions), or all
    /// it uses on the stack (the same instructions as on the stack).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Scratch {
        Least,
        Full,
    }

    /// Every kernel `view`'s layers select on a target with `core`'s
    /// kernels, including the row bands of layers that run in place, and
    /// the arena to add for the Cortex-M4 kernels' `scratch`.
    pub fn needed(view: &ModelView<'_>, core: Core, scratch: Scratch) -> Result<Needs> {
        let dsp = core == Core::CortexM4;
        let pick = |(full, least): (usize, usize)| match scratch {
            Scratch::Least => least,
            Scratch::Full => full,
        };
        let (mut conv, mut dw, mut fc) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        let mut n = Needs::default();
        let chain = dsp && crate::interpreter::is_chain(view)?;
        // Kernels take scratch from the activations' part of the arena.
        let arena = view.activations_size();
        // The least extra arena with which a call on `input`/`output` finds
        // `words` of scratch outside both.
        let extra_for =
            |input: &core::ops::Range<usize>, output: &core::ops::Range<usize>, words: usize| {
                let need = words * 4;
                (0..)
                    .step_by(4)
                    .find(|&extra| {
                        crate::interpreter::free_gap(arena + extra, input, output).len() >= need
                    })
                    .unwrap_or(0)
            };
        let mut extra = 0usize;
        for i in 0..view.op_count() {
            let op = view.op(i)?;
            let ranges = |input: usize, output: usize| -> Result<_> {
                Ok((view.tensor(input)?.range(), view.tensor(output)?.range()))
            };
            match op {
                PreparedOp::Conv {
                    params,
                    input,
                    output,
                } => {
                    let (i, o) = ranges(input, output)?;
                    for_each_band(overlap(&i, &o), &params, |band| {
                        let k = conv_choice(&band, core);
                        if chain && k == "CONV_M4" {
                            let least = pick(cortex_m4::conv_scratch_words(&band));
                            extra = extra.max(extra_for(&i, &o, least));
                        }
                        conv.insert(k);
                        Ok(())
                    })?;
                }
                PreparedOp::Depthwise {
                    params,
                    input,
                    output,
                } => {
                    let (i, o) = ranges(input, output)?;
                    for_each_band(overlap(&i, &o), &params, |band| {
                        let k = depthwise_choice(&band, core);
                        if chain && k == "DEPTHWISE_M4_3X3" {
                            let least = pick(cortex_m4::depthwise_scratch_words(&band));
                            extra = extra.max(extra_for(&i, &o, least));
                        }
                        dw.insert(k);
                        Ok(())
                    })?;
                }
                PreparedOp::FullyConnected {
                    params,
                    input,
                    output,
                } => {
                    if dsp && cortex_m4::fully_connected_dot_supports(&params) {
                        fc.insert("FC_M4_DOT");
                    } else if dsp && cortex_m4::fully_connected_supports(&params) {
                        if chain {
                            let (i, o) = ranges(input, output)?;
                            let least = pick(cortex_m4::fully_connected_scratch_words(&params));
                            extra = extra.max(extra_for(&i, &o, least));
                        }
                        fc.insert("FC_M4");
                    } else if core == Core::CortexM0 && cortex_m0::fully_connected_supports(&params)
                    {
                        fc.insert("FC_M0");
                    } else {
                        fc.insert("FC_REFERENCE");
                    }
                }
                PreparedOp::AveragePool { .. } => n.average_pool = true,
                PreparedOp::MaxPool { .. } => n.max_pool = true,
                PreparedOp::Softmax { .. } => n.softmax = true,
                PreparedOp::Add { .. } => n.add = true,
                PreparedOp::Requantize { .. } => n.requantize = true,
                PreparedOp::Mean { .. } => n.mean = true,
                PreparedOp::Reshape { .. } => {}
            }
        }
        let ordered = |set: &BTreeSet<&'static str>, order: &[&'static str]| {
            order.iter().copied().filter(|k| set.contains(k)).collect()
        };
        n.conv = ordered(&conv, &CONV_ORDER);
        n.depthwise = ordered(&dw, &DEPTHWISE_ORDER);
        n.fully_connected = ordered(&fc, &FC_ORDER);
        n.arena_extra = extra;
        Ok(n)
    }

    impl Needs {
        /// A `static NAME: KernelSet` with these kernels, for a build
        /// script to `include!` (`engine` is the engine crate's path).
        pub fn to_rust(&self, name: &str, engine: &str) -> String {
            let set = format!("{engine}::kernels::set");
            let list = |names: &[&str]| {
                names
                    .iter()
                    .map(|k| format!("{set}::{k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            // The Cortex-M4 kernels that can work in the arena's free space.
            let arena = |names: &[&str]| {
                names
                    .iter()
                    .map(|k| match *k {
                        "CONV_M4" | "DEPTHWISE_M4_3X3" | "FC_M4" => {
                            format!("Some({set}::{k}_IN_ARENA)")
                        }
                        _ => "None".into(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            // And those that can run a whole layer in place.
            let in_place = |names: &[&str]| {
                names
                    .iter()
                    .map(|k| match *k {
                        "CONV_M4" | "DEPTHWISE_M4_3X3" => format!("Some({set}::{k}_IN_PLACE)"),
                        _ => "None".into(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let opt = |on: bool, f: &str| {
                if on {
                    format!("Some({engine}::kernels::{f})")
                } else {
                    "None".into()
                }
            };
            format!(
                "pub static {name}: {set}::KernelSet = {set}::KernelSet {{\n    \
                 conv: &[{}],\n    depthwise: &[{}],\n    fully_connected: &[{}],\n    \
                 conv_in_arena: &[{}],\n    depthwise_in_arena: &[{}],\n    \
                 fully_connected_in_arena: &[{}],\n    \
                 conv_in_place: &[{}],\n    depthwise_in_place: &[{}],\n    \
                 average_pool: {},\n    max_pool: {},\n    softmax: {},\n    add: {},\n    \
                 requantize: {},\n    mean: {},\n}};\n\
                 /// Arena bytes beyond the blob's plan: room for the kernels' scratch.\n\
                 pub const ARENA_EXTRA: usize = {};\n",
                list(&self.conv),
                list(&self.depthwise),
                list(&self.fully_connected),
                arena(&self.conv),
                arena(&self.depthwise),
                arena(&self.fully_connected),
                in_place(&self.conv),
                in_place(&self.depthwise),
                opt(self.average_pool, "reference::average_pool"),
                opt(self.max_pool, "reference::max_pool"),
                opt(self.softmax, "reference::softmax"),
                opt(self.add, "add::add"),
                opt(self.requantize, "reference::requantize_tensor"),
                opt(self.mean, "reference::mean"),
                self.arena_extra,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The named entries run the same functions as the tables' entries of
    /// the same name, so a set built from them dispatches as the tables do.
    #[test]
    fn entries_are_the_tables() {
        for e in [CONV_POINTWISE, CONV_PATCH, CONV_REFERENCE] {
            let t = super::super::CONV_KERNELS
                .iter()
                .find(|k| k.name == e.name)
                .expect("in the table");
            assert_eq!(t.eval as usize, e.eval as usize, "{}", e.name);
        }
        for e in [DEPTHWISE_DM1, DEPTHWISE_REFERENCE] {
            let t = super::super::DEPTHWISE_KERNELS
                .iter()
                .find(|k| k.name == e.name)
                .expect("in the table");
            assert_eq!(t.eval as usize, e.eval as usize, "{}", e.name);
        }
        let t =
            &super::super::FULLY_CONNECTED_KERNELS[super::super::FULLY_CONNECTED_KERNELS.len() - 1];
        assert_eq!(
            (t.name, t.eval as usize),
            (FC_REFERENCE.name, FC_REFERENCE.eval as usize)
        );
    }
}
