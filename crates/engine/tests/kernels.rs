//! The shared kernel test suite: hand-checked cases and randomized
//! differential cases, run against every kernel variant in the dispatch
//! tables (reference, optimised, and any architecture-specific entries), so a
//! new kernel is covered by adding it to the table.

mod common;

use common::Rng;
use tinystudio_engine::kernels::{
    self, AddParams, ConvParams, DepthwiseParams, FullyConnectedParams, I32s, PoolParams, Shape4,
    Shifts, SoftmaxParams, Window, reference,
};
use tinystudio_engine::ops::{Padding, output_size, padding_before};
use tinystudio_engine::quant::{add_params, quantize_multiplier, softmax_params};

fn bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Owned data behind a ConvParams / DepthwiseParams.
struct ConvData {
    input: Shape4,
    output: Shape4,
    window: Window,
    input_offset: i32,
    output_offset: i32,
    act: (i32, i32),
    filter: Vec<i8>,
    bias: Option<Vec<u8>>,
    mult: Vec<u8>,
    shift: Vec<u8>,
    depth_multiplier: usize,
}

impl ConvData {
    fn conv(&self) -> ConvParams<'_> {
        ConvParams {
            input: self.input,
            output: self.output,
            window: self.window,
            input_offset: self.input_offset,
            output_offset: self.output_offset,
            act_min: self.act.0,
            act_max: self.act.1,
            filter: &self.filter,
            bias: self.bias.as_deref().map(|b| I32s::new(b).unwrap()),
            multiplier: I32s::new(&self.mult).unwrap(),
            shift: I32s::new(&self.shift).unwrap().into(),
        }
    }

    fn depthwise(&self) -> DepthwiseParams<'_> {
        DepthwiseParams {
            input: self.input,
            output: self.output,
            window: self.window,
            depth_multiplier: self.depth_multiplier,
            input_offset: self.input_offset,
            output_offset: self.output_offset,
            act_min: self.act.0,
            act_max: self.act.1,
            filter: &self.filter,
            bias: self.bias.as_deref().map(|b| I32s::new(b).unwrap()),
            multiplier: I32s::new(&self.mult).unwrap(),
            shift: I32s::new(&self.shift).unwrap().into(),
        }
    }
}

/// Runs every CONV_2D kernel that supports `p` and checks they agree with
/// `expected` (or with the reference kernel when no expectation is given).
fn check_conv(p: &ConvParams<'_>, input: &[i8], expected: Option<&[i8]>) -> usize {
    let n = p.output.elements().unwrap();
    let mut want = vec![0i8; n];
    reference::conv(p, input, &mut want).unwrap();
    if let Some(e) = expected {
        assert_eq!(want, e, "reference conv");
    }
    let mut ran = 0;
    for k in kernels::CONV_KERNELS {
        if (k.supports)(p) {
            let mut got = vec![0i8; n];
            (k.eval)(p, input, &mut got).unwrap();
            assert_eq!(got, want, "kernel {} differs from the reference", k.name);
            ran += 1;
        }
    }
    let mut got = vec![0i8; n];
    kernels::conv(p, input, &mut got).unwrap();
    assert_eq!(got, want, "dispatch");
    ran
}

fn check_depthwise(p: &DepthwiseParams<'_>, input: &[i8], expected: Option<&[i8]>) -> usize {
    let n = p.output.elements().unwrap();
    let mut want = vec![0i8; n];
    reference::depthwise(p, input, &mut want).unwrap();
    if let Some(e) = expected {
        assert_eq!(want, e, "reference depthwise");
    }
    let mut ran = 0;
    for k in kernels::DEPTHWISE_KERNELS {
        if (k.supports)(p) {
            let mut got = vec![0i8; n];
            (k.eval)(p, input, &mut got).unwrap();
            assert_eq!(got, want, "kernel {} differs from the reference", k.name);
            ran += 1;
        }
    }
    ran
}

/// Multiplier 1.0 exactly.
const ONE: (i32, i32) = (1 << 30, 1);

fn unit_conv(
    input: Shape4,
    output: Shape4,
    k: usize,
    stride: usize,
    pad: usize,
    filter: Vec<i8>,
) -> ConvData {
    ConvData {
        input,
        output,
        window: Window {
            kernel_h: k,
            kernel_w: k,
            stride_h: stride,
            stride_w: stride,
            pad_top: pad,
            pad_left: pad,
        },
        input_offset: 0,
        output_offset: 0,
        act: (-128, 127),
        filter,
        bias: None,
        mult: bytes(&vec![ONE.0; output.c]),
        shift: bytes(&vec![ONE.1; output.c]),
        depth_multiplier: 1,
    }
}

#[test]
fn conv_same_padding_counts_taps_at_edges() {
    // 3x3 ones over a 3x3 image of ones: corners see 4 taps, edges 6, centre 9.
    let d = unit_conv(
        Shape4::new(1, 3, 3, 1),
        Shape4::new(1, 3, 3, 1),
        3,
        1,
        1,
        vec![1; 9],
    );
    check_conv(&d.conv(), &[1; 9], Some(&[4, 6, 4, 6, 9, 6, 4, 6, 4]));
}

#[test]
fn conv_stride_2_same_pads_at_the_end() {
    // TFLite puts the odd padding row/column after the image: 4x4 -> 2x2 with pad 0 before.
    assert_eq!(output_size(Padding::Same, 4, 3, 2), Some(2));
    assert_eq!(padding_before(2, 4, 3, 2), 0);
    let d = unit_conv(
        Shape4::new(1, 4, 4, 1),
        Shape4::new(1, 2, 2, 1),
        3,
        2,
        0,
        vec![1; 9],
    );
    check_conv(&d.conv(), &[1; 16], Some(&[9, 6, 6, 4]));
    // 5x5 -> 3x3 pads one before.
    assert_eq!(padding_before(2, 5, 3, 3), 1);
    let d = unit_conv(
        Shape4::new(1, 5, 5, 1),
        Shape4::new(1, 3, 3, 1),
        3,
        2,
        1,
        vec![1; 9],
    );
    check_conv(&d.conv(), &[1; 25], Some(&[4, 6, 4, 6, 9, 6, 4, 6, 4]));
}

#[test]
fn conv_saturates_and_clamps_activation() {
    let mut d = unit_conv(
        Shape4::new(1, 1, 2, 2),
        Shape4::new(1, 1, 2, 1),
        1,
        1,
        0,
        vec![127, 127],
    );
    check_conv(&d.conv(), &[100, 100, -100, -100], Some(&[127, -128]));
    // ReLU6-style bounds [zero point, q(6)].
    d.act = (-10, 20);
    check_conv(&d.conv(), &[100, 100, -100, -100], Some(&[20, -10]));
}

#[test]
fn conv_extreme_zero_points() {
    // Input zero point -128: the value -128 is real zero and contributes nothing.
    let mut d = unit_conv(
        Shape4::new(1, 1, 1, 3),
        Shape4::new(1, 1, 1, 1),
        1,
        1,
        0,
        vec![1, 2, 3],
    );
    d.input_offset = 128;
    d.output_offset = 127;
    d.act = (-128, 127);
    // acc = 1*(−128+128) + 2*(−127+128) + 3*(−126+128) = 8 -> 8 + 127 saturates at 127.
    check_conv(&d.conv(), &[-128, -127, -126], Some(&[127]));
    d.output_offset = -128;
    check_conv(&d.conv(), &[-128, -127, -126], Some(&[-120]));
    // Input zero point 127: acc = -3, then -3 - 128 saturates at -128.
    d.input_offset = -127;
    check_conv(&d.conv(), &[127, 127, 126], Some(&[-128]));
    d.output_offset = 0;
    check_conv(&d.conv(), &[127, 127, 126], Some(&[-3]));
}

#[test]
fn conv_per_channel_scales_and_bias() {
    // Two output channels with the same weights, multipliers 0.5 and 0.25, biases 0 and 4.
    let mut d = unit_conv(
        Shape4::new(1, 1, 1, 2),
        Shape4::new(1, 1, 1, 2),
        1,
        1,
        0,
        vec![3, 3, 3, 3],
    );
    let (m1, s1) = quantize_multiplier(0.5);
    let (m2, s2) = quantize_multiplier(0.25);
    d.mult = bytes(&[m1, m2]);
    d.shift = bytes(&[s1, s2]);
    d.bias = Some(bytes(&[0, 4]));
    // acc = 3*5 + 3*5 = 30 -> 15 ; (30 + 4) * 0.25 = 8.5 -> 9 (round half away from zero).
    check_conv(&d.conv(), &[5, 5], Some(&[15, 9]));
}

#[test]
fn depthwise_hand_checked() {
    // 2 channels, 3x3 kernel of ones (channel 0) and twos (channel 1), SAME padding, input ones.
    let filter: Vec<i8> = (0..9).flat_map(|_| [1i8, 2]).collect();
    let mut d = unit_conv(
        Shape4::new(1, 3, 3, 2),
        Shape4::new(1, 3, 3, 2),
        3,
        1,
        1,
        filter,
    );
    let e: Vec<i8> = [4, 6, 4, 6, 9, 6, 4, 6, 4]
        .iter()
        .flat_map(|&n| [n, 2 * n])
        .collect();
    assert!(check_depthwise(&d.depthwise(), &[1; 18], Some(&e)) >= 2);
    // Depth multiplier 2 from one input channel (as person_detect's first
    // layer); a multiplier of 1.0 (a left shift) keeps the Cortex-M4
    // kernels out, so only the reference runs.
    d.input = Shape4::new(1, 3, 3, 1);
    d.depth_multiplier = 2;
    assert_eq!(check_depthwise(&d.depthwise(), &[1; 9], Some(&e)), 1);
}

#[test]
fn random_convolutions_agree_across_kernels() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut optimised = 0;
    let mut multiplied = 0;
    for case in 0..300 {
        let k = [1, 1, 3, 5][case % 4];
        let stride = rng.range(1, 2) as usize;
        let padding = if rng.next().is_multiple_of(2) {
            Padding::Same
        } else {
            Padding::Valid
        };
        let (h, w) = (
            rng.range(k as i64, 9) as usize,
            rng.range(k as i64, 9) as usize,
        );
        let (ic, oc) = (rng.range(1, 20) as usize, rng.range(1, 70) as usize);
        let stride = if case % 3 == 0 { 1 } else { stride };
        let padding = if case % 5 == 0 {
            Padding::Valid
        } else {
            padding
        };
        let (oh, ow) = (
            output_size(padding, h, k, stride).unwrap(),
            output_size(padding, w, k, stride).unwrap(),
        );
        let (pt, pl) = match padding {
            Padding::Same => (
                padding_before(stride, h, k, oh),
                padding_before(stride, w, k, ow),
            ),
            Padding::Valid => (0, 0),
        };
        let mults: Vec<(i32, i32)> = (0..oc)
            .map(|_| quantize_multiplier(rng.range(1, 1000) as f64 * 1e-4))
            .collect();
        let act_lo = rng.range(-128, 0) as i32;
        let d = ConvData {
            input: Shape4::new(1, h, w, ic),
            output: Shape4::new(1, oh, ow, oc),
            window: Window {
                kernel_h: k,
                kernel_w: k,
                stride_h: stride,
                stride_w: stride,
                pad_top: pt,
                pad_left: pl,
            },
            input_offset: rng.range(-127, 128) as i32,
            output_offset: rng.range(-128, 127) as i32,
            act: (act_lo, rng.range(i64::from(act_lo), 127) as i32),
            filter: rng.vec_i8(oc * k * k * ic),
            bias: (!rng.next().is_multiple_of(4)).then(|| {
                bytes(
                    &(0..oc)
                        .map(|_| rng.range(-50_000, 50_000) as i32)
                        .collect::<Vec<_>>(),
                )
            }),
            mult: bytes(&mults.iter().map(|m| m.0).collect::<Vec<_>>()),
            shift: bytes(&mults.iter().map(|m| m.1).collect::<Vec<_>>()),
            depth_multiplier: 1,
        };
        let input = rng.vec_i8(h * w * ic);
        optimised += check_conv(&d.conv(), &input, None) - 1;
        // The same geometry as a depthwise layer (depth multiplier 1 or 2).
        let dm = 1 + case % 2;
        let dd = ConvData {
            output: Shape4::new(1, oh, ow, ic * dm),
            filter: rng.vec_i8(k * k * ic * dm),
            bias: Some(bytes(
                &(0..ic * dm)
                    .map(|_| rng.range(-5000, 5000) as i32)
                    .collect::<Vec<_>>(),
            )),
            mult: bytes(
                &mults
                    .iter()
                    .cycle()
                    .take(ic * dm)
                    .map(|m| m.0)
                    .collect::<Vec<_>>(),
            ),
            shift: bytes(
                &mults
                    .iter()
                    .cycle()
                    .take(ic * dm)
                    .map(|m| m.1)
                    .collect::<Vec<_>>(),
            ),
            depth_multiplier: dm,
            ..d
        };
        let ran = check_depthwise(&dd.depthwise(), &input, None);
        if dm > 1 && ic > 1 {
            multiplied += ran - 1;
        }
    }
    assert!(
        optimised > 30,
        "the optimised kernels ran on only {optimised} cases"
    );
    assert!(
        multiplied > 30,
        "depth multipliers over several channels ran optimised on only {multiplied} cases"
    );
}

#[test]
fn kernels_reject_wrong_buffer_lengths() {
    let d = unit_conv(
        Shape4::new(1, 3, 3, 1),
        Shape4::new(1, 3, 3, 1),
        3,
        1,
        1,
        vec![1; 9],
    );
    for k in kernels::CONV_KERNELS {
        if (k.supports)(&d.conv()) {
            assert!(
                (k.eval)(&d.conv(), &[1; 8], &mut [0; 9]).is_err(),
                "{}",
                k.name
            );
            assert!(
                (k.eval)(&d.conv(), &[1; 9], &mut [0; 10]).is_err(),
                "{}",
                k.name
            );
        }
    }
    let mut bad = unit_conv(
        Shape4::new(1, 3, 3, 1),
        Shape4::new(1, 3, 3, 1),
        3,
        1,
        1,
        vec![1; 8],
    );
    assert!(
        reference::conv(&bad.conv(), &[1; 9], &mut [0; 9]).is_err(),
        "short filter"
    );
    bad.filter = vec![1; 9];
    bad.shift = bytes(&[40]);
    assert!(
        reference::conv(&bad.conv(), &[1; 9], &mut [0; 9]).is_err(),
        "shift out of range"
    );
    // Shifts are read from a word's low byte: a word beyond a byte is
    // rejected, not read as its low byte (257 would read as 1).
    bad.shift = bytes(&[257]);
    assert!(
        reference::conv(&bad.conv(), &[1; 9], &mut [0; 9]).is_err(),
        "shift word beyond a byte"
    );
    // The shifts' range ends (TFLite's right shift 31, left shift 30) pass,
    // one past either end fails, and so does a negative multiplier.
    for (shift, ok) in [(-31, true), (30, true), (-32, false), (31, false)] {
        bad.shift = bytes(&[shift]);
        let run = reference::conv(&bad.conv(), &[1; 9], &mut [0; 9]);
        assert_eq!(run.is_ok(), ok, "shift {shift}");
    }
    bad.shift = bytes(&[ONE.1]);
    bad.mult = bytes(&[-(1 << 30)]);
    assert!(
        reference::conv(&bad.conv(), &[1; 9], &mut [0; 9]).is_err(),
        "negative multiplier"
    );
    // Shifts as bytes (blob version 2) give what words give.
    let (mut from_words, mut from_bytes) = ([0; 9], [0; 9]);
    reference::conv(&d.conv(), &[1; 9], &mut from_words).unwrap();
    let as_bytes = ConvParams {
        shift: Shifts::bytes(&[ONE.1 as u8]),
        ..d.conv()
    };
    reference::conv(&as_bytes, &[1; 9], &mut from_bytes).unwrap();
    assert_eq!(from_words, from_bytes);
    assert_eq!(from_words, [4, 6, 4, 6, 9, 6, 4, 6, 4]);
}

#[test]
fn fully_connected_hand_checked() {
    let filter = [1i8, 2, 3, -1, -2, -3];
    let mult = bytes(&[ONE.0, ONE.0]);
    let shift = bytes(&[ONE.1, ONE.1]);
    let bias = bytes(&[10, -10]);
    let p = FullyConnectedParams {
        batches: 2,
        depth: 3,
        units: 2,
        input_offset: 1,
        filter_offset: 0,
        output_offset: -5,
        act_min: -128,
        act_max: 127,
        filter: &filter,
        bias: Some(I32s::new(&bias).unwrap()),
        multiplier: I32s::new(&mult).unwrap(),
        shift: I32s::new(&shift).unwrap().into(),
        double_scale: None,
    };
    let mut out = [0i8; 4];
    reference::fully_connected(&p, &[0, 1, 2, -1, -1, -1], &mut out).unwrap();
    // batch 0: x+1 = [1,2,3]: 14+10-5 = 19, -14-10-5 = -29; batch 1: x+1 = 0: 10-5, -10-5.
    assert_eq!(out, [19, -29, 5, -15]);
}

#[test]
fn pooling_hand_checked() {
    let p = PoolParams {
        input: Shape4::new(1, 3, 3, 1),
        output: Shape4::new(1, 2, 2, 1),
        window: Window {
            kernel_h: 2,
            kernel_w: 2,
            stride_h: 2,
            stride_w: 2,
            pad_top: 0,
            pad_left: 0,
        },
        act_min: -128,
        act_max: 127,
    };
    let x = [1i8, 2, 3, 4, 5, 6, 7, 8, -9];
    let mut out = [0i8; 4];
    reference::max_pool(&p, &x, &mut out).unwrap();
    assert_eq!(out, [5, 6, 8, -9]);
    reference::average_pool(&p, &x, &mut out).unwrap();
    // (1+2+4+5)/4 = 3, (3+6)/2 = 4.5 -> 5, (7+8)/2 = 7.5 -> 8, -9.
    assert_eq!(out, [3, 5, 8, -9]);
    let x = [-1i8, -2, -3, -4, 0, 0, 0, 0, 0];
    reference::average_pool(&p, &x, &mut out).unwrap();
    // (-1-2-4+0)/4 = -1.75 -> -2 ; (-3+0)/2 = -1.5 -> -2 (halves away from zero).
    assert_eq!(out, [-2, -2, 0, 0]);
    // Global average pool (vww's last pooling layer).
    let g = PoolParams {
        input: Shape4::new(1, 3, 3, 2),
        output: Shape4::new(1, 1, 1, 2),
        window: Window {
            kernel_h: 3,
            kernel_w: 3,
            stride_h: 1,
            stride_w: 1,
            pad_top: 0,
            pad_left: 0,
        },
        act_min: -128,
        act_max: 127,
    };
    let x: Vec<i8> = (0..9).flat_map(|i| [i as i8, 127]).collect();
    let mut out = [0i8; 2];
    reference::average_pool(&g, &x, &mut out).unwrap();
    assert_eq!(out, [4, 127]);
}

/// Pooling over more channels than the kernel's chunk (32), with padding
/// and windows cut by the border, against a direct per-channel sum.
#[test]
fn pooling_many_channels_matches_a_direct_sum() {
    let (ih, iw, c) = (5, 6, 70);
    let window = Window {
        kernel_h: 3,
        kernel_w: 3,
        stride_h: 2,
        stride_w: 2,
        pad_top: 1,
        pad_left: 1,
    };
    let (oh, ow) = (3, 3);
    let p = PoolParams {
        input: Shape4::new(1, ih, iw, c),
        output: Shape4::new(1, oh, ow, c),
        window,
        act_min: -100,
        act_max: 120,
    };
    let x: Vec<i8> = (0..ih * iw * c)
        .map(|i| ((i * 7919 + 13) % 256) as u8 as i8)
        .collect();
    let taps = |oy: usize, ox: usize, ch: usize| -> Vec<i32> {
        let mut v = Vec::new();
        for ky in 0..3 {
            for kx in 0..3 {
                let (iy, ix) = ((2 * oy + ky) as isize - 1, (2 * ox + kx) as isize - 1);
                if (0..ih as isize).contains(&iy) && (0..iw as isize).contains(&ix) {
                    v.push(i32::from(x[(iy as usize * iw + ix as usize) * c + ch]));
                }
            }
        }
        v
    };
    let mut avg = vec![0i8; oh * ow * c];
    let mut max = vec![0i8; oh * ow * c];
    reference::average_pool(&p, &x, &mut avg).unwrap();
    reference::max_pool(&p, &x, &mut max).unwrap();
    for oy in 0..oh {
        for ox in 0..ow {
            for ch in 0..c {
                let t = taps(oy, ox, ch);
                let (sum, n) = (t.iter().sum::<i32>(), t.len() as i32);
                let mean = if sum > 0 {
                    (sum + n / 2) / n
                } else {
                    (sum - n / 2) / n
                };
                let at = (oy * ow + ox) * c + ch;
                assert_eq!(
                    i32::from(avg[at]),
                    mean.clamp(-100, 120),
                    "avg {oy} {ox} {ch}"
                );
                let top = *t.iter().max().unwrap();
                assert_eq!(
                    i32::from(max[at]),
                    top.clamp(-100, 120),
                    "max {oy} {ox} {ch}"
                );
            }
        }
    }
}

#[test]
fn softmax_is_a_distribution() {
    let (m, s, d) = softmax_params(1.0, 0.1);
    let p = SoftmaxParams {
        outer: 1,
        depth: 4,
        input_multiplier: m,
        input_left_shift: s,
        diff_min: d,
    };
    let mut out = [0i8; 4];
    reference::softmax(&p, &[10, 10, 10, 10], &mut out).unwrap();
    assert_eq!(out, [-64, -64, -64, -64]); // 0.25 each
    reference::softmax(&p, &[127, -128, -128, -128], &mut out).unwrap();
    assert_eq!(out, [127, -128, -128, -128]);
    let x = [20i8, 10, 0, -10];
    reference::softmax(&p, &x, &mut out).unwrap();
    let e: Vec<f64> = x.iter().map(|&v| (f64::from(v) * 0.1).exp()).collect();
    let sum: f64 = e.iter().sum();
    for (o, e) in out.iter().zip(&e) {
        let want = (e / sum * 256.0 - 128.0).round().clamp(-128.0, 127.0);
        assert!((f64::from(*o) - want).abs() <= 1.0, "{out:?}");
    }
}

#[test]
fn add_rescales_both_inputs() {
    let ([(m1, s1), (m2, s2), (mo, so)], left) = add_params(0.5, 0.25, 0.5);
    let p = AddParams {
        len: 3,
        input1_offset: 0,
        input2_offset: 10,
        output_offset: 1,
        left_shift: left,
        input1_multiplier: m1,
        input1_shift: s1,
        input2_multiplier: m2,
        input2_shift: s2,
        output_multiplier: mo,
        output_shift: so,
        act_min: -128,
        act_max: 127,
    };
    let mut out = [0i8; 3];
    // real = 0.5*a + 0.25*(b+10); out = real/0.5 + 1.
    reference::add(&p, &[2, 100, -100], &[-10, 30, -128], &mut out).unwrap();
    assert_eq!(out, [3, 121, -128]);
}
