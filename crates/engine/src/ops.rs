//! Operator vocabulary shared by every model representation (float graph,
//! owned model, blob) and the geometry rules TFLite uses for them.

/// Spatial padding, with TFLite's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Padding {
    /// Output size `ceil(in / stride)`; the padding is split with the extra row/column at the end.
    Same,
    /// No padding: the window stays inside the input.
    Valid,
}

/// Activation fused into the producing operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Activation {
    #[default]
    None,
    Relu,
    Relu6,
}

/// Output size along one axis (TFLite `ComputeOutSize`, dilation 1); `None` if empty.
pub fn output_size(padding: Padding, input: usize, filter: usize, stride: usize) -> Option<usize> {
    if stride == 0 || filter == 0 {
        return None;
    }
    let out = match padding {
        Padding::Same => input.checked_add(stride - 1)? / stride,
        Padding::Valid => input.checked_add(stride)?.checked_sub(filter)? / stride,
    };
    (out > 0).then_some(out)
}

/// Padding before the first element along one axis (TFLite `ComputePaddingWithOffset`).
pub fn padding_before(stride: usize, input: usize, filter: usize, output: usize) -> usize {
    let needed = output
        .saturating_sub(1)
        .saturating_mul(stride)
        .saturating_add(filter);
    needed.saturating_sub(input) / 2
}
