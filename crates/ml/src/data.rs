//! Turning u8 pixels into tensors, augmentation, and the seeded randomness that
//! makes training reproducible.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How u8 pixels become floats.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InputScaling {
    /// `(p - 128) / 127.5`: the int8 model's input is then exactly `p - 128` with
    /// scale `1 / 127.5` and zero point 0, so float and int8 see the same numbers.
    /// Used for everything we train and export.
    #[default]
    Int8Aligned,
    /// Keras's `mobilenet.preprocess_input`, `p / 127.5 - 1`; only for reproducing
    /// Keras's own ImageNet results.
    Keras,
}

impl InputScaling {
    #[inline]
    pub fn apply(self, p: u8) -> f32 {
        match self {
            InputScaling::Int8Aligned => (f32::from(p) - 128.0) / 127.5,
            InputScaling::Keras => f32::from(p) / 127.5 - 1.0,
        }
    }
}

/// Size and channel count of the images a model takes (the impulse's input block).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageShape {
    pub width: usize,
    pub height: usize,
    /// 3 for RGB, 1 for grayscale (luma).
    pub channels: usize,
}

impl ImageShape {
    pub fn rgb(width: usize, height: usize) -> Self {
        ImageShape {
            width,
            height,
            channels: 3,
        }
    }

    pub fn gray(width: usize, height: usize) -> Self {
        ImageShape {
            width,
            height,
            channels: 1,
        }
    }

    /// Bytes in one HWC u8 image.
    pub fn len(&self) -> usize {
        self.width * self.height * self.channels
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.width == 0 || self.height == 0 || !matches!(self.channels, 1 | 3) {
            return Err(Error::InvalidInput(format!(
                "image shape {}x{}x{} not supported (need 1 or 3 channels)",
                self.width, self.height, self.channels
            )));
        }
        Ok(())
    }
}

/// Packs HWC u8 images into one `[batch, channels, height, width]` float tensor.
///
/// Grayscale images stay one channel; the model's conv1 is collapsed to match
/// (see `ConvLayer::collapse_input_channels`).
pub fn images_to_tensor(
    images: &[&[u8]],
    shape: ImageShape,
    scaling: InputScaling,
    device: &Device,
) -> Result<Tensor<4>> {
    shape.check()?;
    let (h, w, c) = (shape.height, shape.width, shape.channels);
    let plane = h * w;
    let mut out = vec![0f32; images.len() * c * plane];
    let lut: Vec<f32> = (0..=255u8).map(|p| scaling.apply(p)).collect();
    for (n, img) in images.iter().enumerate() {
        if img.len() != shape.len() {
            return Err(Error::InvalidInput(format!(
                "image {n} has {} bytes, expected {} ({w}x{h}x{c})",
                img.len(),
                shape.len()
            )));
        }
        let dst = &mut out[n * c * plane..(n + 1) * c * plane];
        for (i, px) in img.chunks_exact(c).enumerate() {
            for (ch, &p) in px.iter().enumerate() {
                dst[ch * plane + i] = lut[p as usize];
            }
        }
    }
    Ok(Tensor::from_data(
        TensorData::new(out, [images.len(), c, h, w]),
        device,
    ))
}

/// A small, fast, seedable generator (SplitMix64); training and augmentation only
/// need reproducibility, not cryptographic quality.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// Random transformations applied to training images before their features are
/// cached; each is off when its amount is zero.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Augmentation {
    /// Mirror left-right with probability 1/2.
    pub flip_horizontal: bool,
    /// Zoom in by a random factor in `[1, 1 + zoom]`, at a random position.
    pub zoom: f32,
    /// Add a random offset in `[-brightness, brightness] * 255` to every pixel.
    pub brightness: f32,
}

impl Default for Augmentation {
    fn default() -> Self {
        Augmentation {
            flip_horizontal: true,
            zoom: 0.2,
            brightness: 0.2,
        }
    }
}

/// Makes `count` augmented variants of one HWC u8 image, deterministically from
/// `seed` (combine the sample id and the variant number into it), so the worker can
/// extract and cache their features once.
pub fn augment_variants(
    image: &[u8],
    shape: ImageShape,
    config: &Augmentation,
    count: usize,
    seed: u64,
) -> Result<Vec<Vec<u8>>> {
    shape.check()?;
    if image.len() != shape.len() {
        return Err(Error::InvalidInput(format!(
            "image has {} bytes, expected {}",
            image.len(),
            shape.len()
        )));
    }
    let mut rng = Rng::new(seed);
    Ok((0..count)
        .map(|_| augment(image, shape, config, &mut rng))
        .collect())
}

/// One random augmentation of an HWC u8 image (length checked by the caller).
pub fn augment(image: &[u8], shape: ImageShape, config: &Augmentation, rng: &mut Rng) -> Vec<u8> {
    let (w, h, c) = (shape.width, shape.height, shape.channels);
    let flip = config.flip_horizontal && rng.next_f32() < 0.5;
    let zoom = 1.0 + config.zoom.max(0.0) * rng.next_f32();
    // The crop window, in source pixels, that is stretched over the whole output.
    let (cw, ch) = (w as f32 / zoom, h as f32 / zoom);
    let x0 = rng.next_f32() * (w as f32 - cw);
    let y0 = rng.next_f32() * (h as f32 - ch);
    let delta = if config.brightness > 0.0 {
        (rng.next_f32() * 2.0 - 1.0) * config.brightness * 255.0
    } else {
        0.0
    };
    let mut out = vec![0u8; image.len()];
    let sx = cw / w as f32;
    let sy = ch / h as f32;
    for oy in 0..h {
        // Bilinear sampling at pixel centres.
        let fy = (y0 + (oy as f32 + 0.5) * sy - 0.5).clamp(0.0, (h - 1) as f32);
        let y_lo = fy.floor() as usize;
        let y_hi = (y_lo + 1).min(h - 1);
        let ty = fy - y_lo as f32;
        for ox in 0..w {
            let src_x = if flip { w - 1 - ox } else { ox };
            let fx = (x0 + (src_x as f32 + 0.5) * sx - 0.5).clamp(0.0, (w - 1) as f32);
            let x_lo = fx.floor() as usize;
            let x_hi = (x_lo + 1).min(w - 1);
            let tx = fx - x_lo as f32;
            for k in 0..c {
                let p = |y: usize, x: usize| f32::from(image[(y * w + x) * c + k]);
                let top = p(y_lo, x_lo) * (1.0 - tx) + p(y_lo, x_hi) * tx;
                let bottom = p(y_hi, x_lo) * (1.0 - tx) + p(y_hi, x_hi) * tx;
                let v = top * (1.0 - ty) + bottom * ty + delta;
                out[(oy * w + ox) * c + k] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// Splits samples into training and validation, per class so every class is
/// represented in both when it has at least two samples. Deterministic in `seed`.
///
/// Returns `(train, validation)` sample indices.
pub fn split_train_validation(
    labels: &[usize],
    validation_share: f32,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut rng = Rng::new(seed ^ 0xA11CE);
    let mut train = Vec::new();
    let mut val = Vec::new();
    let share = validation_share.clamp(0.0, 0.9);
    for class in 0..classes {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        rng.shuffle(&mut idx);
        let mut n_val = (idx.len() as f32 * share).round() as usize;
        if share > 0.0 && n_val == 0 && idx.len() >= 2 {
            n_val = 1;
        }
        n_val = n_val.min(idx.len().saturating_sub(1));
        val.extend_from_slice(&idx[..n_val]);
        train.extend_from_slice(&idx[n_val..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_int8_aligned_is_exact_for_128() {
        assert_eq!(InputScaling::Int8Aligned.apply(128), 0.0);
        assert_eq!(InputScaling::Keras.apply(0), -1.0);
        assert_eq!(InputScaling::Keras.apply(255), 1.0);
    }

    #[test]
    fn split_is_deterministic_and_stratified() {
        let labels: Vec<usize> = (0..100).map(|i| i % 3).collect();
        let (t1, v1) = split_train_validation(&labels, 0.2, 7);
        let (t2, v2) = split_train_validation(&labels, 0.2, 7);
        assert_eq!((t1.clone(), v1.clone()), (t2, v2));
        assert_eq!(t1.len() + v1.len(), 100);
        for c in 0..3 {
            assert!(v1.iter().any(|&i| labels[i] == c));
        }
        let (_, v3) = split_train_validation(&labels, 0.2, 8);
        assert_ne!(v1, v3);
    }

    #[test]
    fn augmentation_identity_when_disabled_and_deterministic() {
        let shape = ImageShape::rgb(8, 6);
        let img: Vec<u8> = (0..shape.len()).map(|i| (i * 5 % 256) as u8).collect();
        let off = Augmentation {
            flip_horizontal: false,
            zoom: 0.0,
            brightness: 0.0,
        };
        let v = augment_variants(&img, shape, &off, 2, 1).unwrap();
        assert_eq!(v[0], img);
        let flip = Augmentation {
            flip_horizontal: true,
            ..off
        };
        let vs = augment_variants(&img, shape, &flip, 8, 3).unwrap();
        let mirrored: Vec<u8> = (0..6)
            .flat_map(|y| {
                (0..8)
                    .rev()
                    .flat_map(move |x| (0..3).map(move |k| (y, x, k)))
            })
            .map(|(y, x, k)| img[(y * 8 + x) * 3 + k])
            .collect();
        assert!(vs.iter().all(|v| *v == img || *v == mirrored));
        assert!(vs.contains(&mirrored));
        let a = augment_variants(&img, shape, &Augmentation::default(), 3, 9).unwrap();
        let b = augment_variants(&img, shape, &Augmentation::default(), 3, 9).unwrap();
        assert_eq!(a, b);
    }
}
