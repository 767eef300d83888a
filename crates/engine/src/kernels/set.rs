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

#[cfg(arm_dsp)]
use super::cortex_m4;
use super::{
    AddParams, ConvKernel, DepthwiseKernel, FullyConnectedKernel, PoolParams, RequantizeParams,
    SoftmaxParams, conv_patch, depthwise_dm1, pointwise, reference,
};
use crate::error::{Error, Result};

pub type PoolFn = fn(&PoolParams, &[i8], &mut [i8]) -> Result<()>;
pub type SoftmaxFn = fn(&SoftmaxParams, &[i8], &mut [i8]) -> Result<()>;
pub type AddFn = fn(&AddParams, &[i8], &[i8], &mut [i8]) -> Result<()>;
pub type RequantizeFn = fn(&RequantizeParams, &[i8], &mut [i8]) -> Result<()>;

/// The kernels an interpreter may run, per operator, most specialised
/// first; `None` for an operator the build leaves out.
pub struct KernelSet {
    pub conv: &'static [ConvKernel],
    pub depthwise: &'static [DepthwiseKernel],
    pub fully_connected: &'static [FullyConnectedKernel],
    pub average_pool: Option<PoolFn>,
    pub max_pool: Option<PoolFn>,
    pub softmax: Option<SoftmaxFn>,
    pub add: Option<AddFn>,
    pub requantize: Option<RequantizeFn>,
}

/// Every kernel of this target.
pub static ALL: KernelSet = KernelSet {
    conv: super::CONV_KERNELS,
    depthwise: super::DEPTHWISE_KERNELS,
    fully_connected: super::FULLY_CONNECTED_KERNELS,
    average_pool: Some(reference::average_pool),
    max_pool: Some(reference::max_pool),
    softmax: Some(reference::softmax),
    add: Some(reference::add),
    requantize: Some(reference::requantize_tensor),
};

fn left_out(op: &'static str) -> Error {
    Error::Unsupported(op)
}

impl KernelSet {
    pub fn conv(&self, p: &super::ConvParams<'_>, input: &[i8], output: &mut [i8]) -> Result<()> {
        match self.conv.iter().find(|k| (k.supports)(p)) {
            Some(k) => (k.eval)(p, input, output),
            None => Err(left_out(
                "no convolution kernel for this layer in this build",
            )),
        }
    }

    pub fn depthwise(
        &self,
        p: &super::DepthwiseParams<'_>,
        input: &[i8],
        output: &mut [i8],
    ) -> Result<()> {
        match self.depthwise.iter().find(|k| (k.supports)(p)) {
            Some(k) => (k.eval)(p, input, output),
            None => Err(left_out("no depthwise kernel for this layer in this build")),
        }
    }

    pub fn fully_connected(
        &self,
        p: &super::FullyConnectedParams<'_>,
        input: &[i8],
        output: &mut [i8],
    ) -> Result<()> {
        match self.fully_connected.iter().find(|k| (k.supports)(p)) {
            Some(k) => (k.eval)(p, input, output),
            None => Err(left_out(
                "no fully connected kernel for this layer in this build",
            )),
        }
    }
}

/// Whether `f` is there, or the error naming the operator left out.
pub fn present<F>(f: Option<F>, op: &'static str) -> Result<F> {
    f.ok_or(left_out(op))
}

#[cfg(arm_dsp)]
pub const CONV_M4: ConvKernel = ConvKernel {
    name: "conv_m4_gemm_2x2",
    supports: cortex_m4::conv_supports,
    eval: cortex_m4::conv_eval,
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
pub const DEPTHWISE_M4_3X3: DepthwiseKernel = DepthwiseKernel {
    name: "depthwise_m4_3x3",
    supports: cortex_m4::depthwise_supports,
    eval: cortex_m4::depthwise_eval,
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
pub const FC_M4: FullyConnectedKernel = FullyConnectedKernel {
    name: "fc_m4_gemm_2x2",
    supports: cortex_m4::fully_connected_supports,
    eval: cortex_m4::fully_connected_eval,
};
pub const FC_REFERENCE: FullyConnectedKernel = FullyConnectedKernel {
    name: "fc_reference",
    supports: |_| true,
    eval: reference::fully_connected,
};

#[cfg(feature = "std")]
pub use needs::{Needs, needed};

#[cfg(feature = "std")]
mod needs {
    use std::collections::BTreeSet;
    use std::string::String;
    use std::vec::Vec;

    use crate::blob::{ModelView, PreparedOp};
    use crate::error::Result;
    use crate::kernels::{
        ConvParams, DepthwiseParams, conv_patch, cortex_m4, depthwise_dm1, pointwise,
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
    }

    const CONV_ORDER: [&str; 4] = ["CONV_M4", "CONV_POINTWISE", "CONV_PATCH", "CONV_REFERENCE"];
    const DEPTHWISE_ORDER: [&str; 4] = [
        "DEPTHWISE_M4_3X3",
        "DEPTHWISE_M4_AS_CONV",
        "DEPTHWISE_DM1",
        "DEPTHWISE_REFERENCE",
    ];
    const FC_ORDER: [&str; 2] = ["FC_M4", "FC_REFERENCE"];

    /// The table entry the target's dispatch takes for `p` (the order of
    /// `CONV_KERNELS` on the target: the Cortex-M4 kernels exist where
    /// `dsp`, the Armv7E-M targets).
    fn conv_choice(p: &ConvParams<'_>, dsp: bool) -> &'static str {
        if dsp && cortex_m4::conv_supports(p) {
            "CONV_M4"
        } else if pointwise::supports(p) {
            "CONV_POINTWISE"
        } else if conv_patch::supports(p) {
            "CONV_PATCH"
        } else {
            "CONV_REFERENCE"
        }
    }

    fn depthwise_choice(p: &DepthwiseParams<'_>, dsp: bool) -> &'static str {
        if dsp && cortex_m4::depthwise_supports(p) {
            "DEPTHWISE_M4_3X3"
        } else if dsp && cortex_m4::depthwise_as_conv_supports(p) {
            "DEPTHWISE_M4_AS_CONV"
        } else if depthwise_dm1::supports(p) {
            "DEPTHWISE_DM1"
        } else {
            "DEPTHWISE_REFERENCE"
        }
    }

    /// Every kernel `view`'s layers select on a target with (`dsp`) or
    /// without the Cortex-M4 kernels, including the row bands of layers
    /// that run in place.
    pub fn needed(view: &ModelView<'_>, dsp: bool) -> Result<Needs> {
        let (mut conv, mut dw, mut fc) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        let mut n = Needs::default();
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
                    crate::interpreter::for_each_call(
                        (&i, &o),
                        (params.input, params.output, params.window),
                        |input, output, window| {
                            let band = ConvParams {
                                input,
                                output,
                                window,
                                ..params
                            };
                            conv.insert(conv_choice(&band, dsp));
                        },
                    );
                }
                PreparedOp::Depthwise {
                    params,
                    input,
                    output,
                } => {
                    let (i, o) = ranges(input, output)?;
                    crate::interpreter::for_each_call(
                        (&i, &o),
                        (params.input, params.output, params.window),
                        |input, output, window| {
                            let band = DepthwiseParams {
                                input,
                                output,
                                window,
                                ..params
                            };
                            dw.insert(depthwise_choice(&band, dsp));
                        },
                    );
                }
                PreparedOp::FullyConnected { params, .. } => {
                    fc.insert(if dsp && cortex_m4::fully_connected_supports(&params) {
                        "FC_M4"
                    } else {
                        "FC_REFERENCE"
                    });
                }
                PreparedOp::AveragePool { .. } => n.average_pool = true,
                PreparedOp::MaxPool { .. } => n.max_pool = true,
                PreparedOp::Softmax { .. } => n.softmax = true,
                PreparedOp::Add { .. } => n.add = true,
                PreparedOp::Requantize { .. } => n.requantize = true,
                PreparedOp::Reshape { .. } => {}
            }
        }
        let ordered = |set: &BTreeSet<&'static str>, order: &[&'static str]| {
            order.iter().copied().filter(|k| set.contains(k)).collect()
        };
        n.conv = ordered(&conv, &CONV_ORDER);
        n.depthwise = ordered(&dw, &DEPTHWISE_ORDER);
        n.fully_connected = ordered(&fc, &FC_ORDER);
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
            let opt = |on: bool, f: &str| {
                if on {
                    format!("Some({engine}::kernels::reference::{f})")
                } else {
                    "None".into()
                }
            };
            format!(
                "pub static {name}: {set}::KernelSet = {set}::KernelSet {{\n    \
                 conv: &[{}],\n    depthwise: &[{}],\n    fully_connected: &[{}],\n    \
                 average_pool: {},\n    max_pool: {},\n    softmax: {},\n    add: {},\n    \
                 requantize: {},\n}};\n",
                list(&self.conv),
                list(&self.depthwise),
                list(&self.fully_connected),
                opt(self.average_pool, "average_pool"),
                opt(self.max_pool, "max_pool"),
                opt(self.softmax, "softmax"),
                opt(self.add, "add"),
                opt(self.requantize, "requantize_tensor"),
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
