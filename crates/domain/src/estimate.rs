//! What an impulse will cost on the board, computed from its shape alone so
//! the Impulse page can update it as the person types. The exact numbers
//! come from the engine once a model is quantized; these track them closely
//! (see the test against the engine's plan of the reference model).

use serde::Serialize;

use crate::impulse::ImpulseConfig;

/// MobileNetV1's pointwise filter counts at alpha 1 and the stride of each
/// block's depthwise layer.
const BLOCKS: [(u32, u32); 13] = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
];

/// Channels of a layer with `filters` filters at width multiplier `alpha`,
/// as Keras computes them (`int(filters * alpha)`).
pub fn channels(filters: u32, alpha: f32) -> u32 {
    ((filters as f64 * alpha as f64) + 1e-6).floor() as u32
}

/// The estimate shown beside the learning block.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    pub parameters: u64,
    pub macs: u64,
    /// Weights, biases and per-channel requantization data of the int8 model.
    pub flash_bytes: u64,
    /// The tensor arena: the largest layer input/output with the output
    /// written behind consumed input rows.
    pub arena_bytes: u64,
    pub feature_dim: u32,
}

/// Estimates the int8 model of `impulse` with `classes` output classes.
pub fn estimate(impulse: &ImpulseConfig, classes: u32) -> Estimate {
    let alpha = impulse.learning.alpha;
    let [mut h, mut w, cin] = impulse.input_shape().map(u64::from);
    let mut params = 0u64;
    let mut macs = 0u64;
    let mut channel_total = 0u64; // channels that carry bias + multiplier + shift
    let mut arena = 0u64;
    let mut layer = |in_hw: (u64, u64),
                     in_c: u64,
                     out_hw: (u64, u64),
                     out_c: u64,
                     k: u64,
                     depthwise: bool,
                     arena: &mut u64| {
        let weights = if depthwise {
            k * k * out_c
        } else {
            k * k * in_c * out_c
        };
        let per_pixel = if depthwise { k * k } else { k * k * in_c };
        params += weights + out_c;
        macs += out_hw.0 * out_hw.1 * out_c * per_pixel;
        channel_total += out_c;
        let in_bytes = in_hw.0 * in_hw.1 * in_c;
        let out_bytes = out_hw.0 * out_hw.1 * out_c;
        let row = out_hw.1 * out_c;
        *arena = (*arena).max(in_bytes.max(out_bytes) + row);
    };
    let same = |x: u64, s: u64| x.div_ceil(s);
    let c0 = channels(32, alpha) as u64;
    let (h1, w1) = (same(h, 2), same(w, 2));
    layer((h, w), cin, (h1, w1), c0, 3, false, &mut arena);
    (h, w) = (h1, w1);
    let mut c = c0;
    for (filters, stride) in BLOCKS {
        let (h2, w2) = (same(h, stride as u64), same(w, stride as u64));
        layer((h, w), c, (h2, w2), c, 3, true, &mut arena);
        let out = channels(filters, alpha) as u64;
        layer((h2, w2), c, (h2, w2), out, 1, false, &mut arena);
        (h, w, c) = (h2, w2, out);
    }
    let feature_dim = c;
    let dense = impulse.learning.dense_neurons as u64;
    let classes = classes.max(2) as u64;
    let mut head_in = feature_dim;
    if dense > 0 {
        params += head_in * dense + dense;
        macs += head_in * dense;
        channel_total += dense;
        head_in = dense;
    }
    params += head_in * classes + classes;
    macs += head_in * classes;
    channel_total += classes;
    // int8 weights + int32 bias + int32 multiplier + int32 shift per channel,
    // plus tensor and op tables (about 100 bytes per layer).
    let weight_bytes = params - channel_total;
    let flash = weight_bytes + channel_total * 12 + 30 * 100;
    Estimate {
        parameters: params,
        macs,
        flash_bytes: flash,
        arena_bytes: arena,
        feature_dim: feature_dim as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_model() {
        // vww_96_int8.tflite: MobileNetV1 0.25, 96x96x3, 2 classes, no dense
        // layer. ANCHORS.md: 7,489,664 MACs; the engine plans 37,632 B.
        let mut impulse = ImpulseConfig::default();
        impulse.learning.dense_neurons = 0;
        let e = estimate(&impulse, 2);
        assert_eq!(e.feature_dim, 256);
        let backbone_macs = e.macs - 256 * 2;
        assert_eq!(backbone_macs, 7_489_664 - 256 * 2);
        assert_eq!(e.arena_bytes, 37_632);
        // MobileNetV1 0.25 has about 0.2 M parameters without its ImageNet head.
        assert!(
            (200_000..=230_000).contains(&e.parameters),
            "{}",
            e.parameters
        );
    }

    #[test]
    fn grows_with_input_and_alpha() {
        let small = estimate(&ImpulseConfig::default(), 3);
        let mut bigger = ImpulseConfig::default();
        bigger.input.width = 160;
        bigger.input.height = 160;
        bigger.learning.alpha = 0.5;
        let big = estimate(&bigger, 3);
        assert!(big.macs > 4 * small.macs);
        assert!(big.flash_bytes > 3 * small.flash_bytes);
        assert!(big.arena_bytes > small.arena_bytes);
    }
}
