//! Image files to model inputs: decode, then the impulse's preprocessing
//! (the same `tinystudio_images::preprocess` the studio uses everywhere).

use anyhow::Context;
use rayon::prelude::*;
use tinystudio_domain::ImpulseConfig;
use tinystudio_domain::impulse::ColorDepth;
use tinystudio_images::{DecodeLimits, decode, preprocess};
use tinystudio_ml::data::ImageShape;

/// The model's input shape for an impulse.
pub fn image_shape(impulse: &ImpulseConfig) -> ImageShape {
    let (w, h) = (impulse.input.width as usize, impulse.input.height as usize);
    match impulse.image.color_depth {
        ColorDepth::Rgb => ImageShape::rgb(w, h),
        ColorDepth::Grayscale => ImageShape::gray(w, h),
    }
}

/// Decodes and preprocesses images in parallel; `names` name them in errors.
pub fn preprocess_all<B: AsRef<[u8]> + Sync>(
    originals: &[B],
    names: &[String],
    impulse: &ImpulseConfig,
) -> anyhow::Result<Vec<Vec<u8>>> {
    originals
        .par_iter()
        .zip(names.par_iter())
        .map(|(bytes, name)| {
            let decoded = decode(bytes.as_ref(), &DecodeLimits::default())
                .with_context(|| format!("decoding {name}"))?;
            Ok(preprocess(
                &decoded.image,
                &impulse.input,
                impulse.image.color_depth,
            ))
        })
        .collect()
}
