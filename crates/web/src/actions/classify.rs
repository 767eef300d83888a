//! Live classification in the web process: the int8 model on the host,
//! exactly as the board runs it, from the same preprocessing.

use std::time::Instant;

use base64::Engine as _;
use serde::Serialize;
use tinystudio_engine::interpreter::HostRunner;
use tinystudio_images::{decode, preprocess};
use tinystudio_storage::models::{self, Model};

use crate::{AppError, AppState};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Classification {
    /// Probability per label, in the model's label order.
    pub scores: serde_json::Map<String, serde_json::Value>,
    pub predicted: String,
    /// Preprocessing plus inference, in milliseconds.
    pub timing_ms: f64,
    /// The input as the board sees it (after resize and colour), as a PNG data URL.
    pub input: String,
}

/// Decodes `image`, preprocesses it with the model's impulse and runs the int8 model.
pub async fn classify(
    state: &AppState,
    model: &Model,
    image: Vec<u8>,
) -> Result<Classification, AppError> {
    let impulse = models::impulse_of(&state.db, model).await?;
    let blob = super::model_blob(state, model).await?;
    let limits = state.config.decode;
    let labels = model.labels.clone();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let decoded =
            decode(&image, &limits).map_err(|e| AppError::BadRequest(format!("the image: {e}")))?;
        let pixels = preprocess(&decoded.image, &impulse.input, impulse.image.color_depth);
        let mut runner = HostRunner::new(blob.to_vec())
            .map_err(|e| AppError::Internal(format!("int8 model: {e}")))?;
        let (scale, zero) = {
            let view = runner
                .view()
                .map_err(|e| AppError::Internal(e.to_string()))?;
            let out = view
                .output()
                .map_err(|e| AppError::Internal(e.to_string()))?;
            (out.scale, out.zero_point)
        };
        let out = runner
            .run_pixels(&pixels)
            .map_err(|e| AppError::Internal(format!("inference: {e}")))?;
        let timing_ms = started.elapsed().as_secs_f64() * 1000.0;
        let probabilities: Vec<f32> = out
            .iter()
            .map(|&q| (q as i32 - zero) as f32 * scale)
            .collect();
        let best = probabilities.iter().enumerate().fold(0, |best, (i, &p)| {
            if p > probabilities[best] { i } else { best }
        });
        let scores = labels
            .iter()
            .zip(&probabilities)
            .map(|(l, p)| (l.clone(), serde_json::json!(p)))
            .collect();
        Ok(Classification {
            scores,
            predicted: labels.get(best).cloned().unwrap_or_default(),
            timing_ms,
            input: png_data_url(
                &pixels,
                impulse.input.width,
                impulse.input.height,
                impulse.image.color_depth.channels(),
            ),
        })
    })
    .await
    .map_err(|e| AppError::Internal(format!("classification task: {e}")))?
}

/// Pixels (gray or RGB) as a PNG data URL; empty if encoding failed.
pub(crate) fn png_data_url(pixels: &[u8], width: u32, height: u32, channels: u32) -> String {
    match png(pixels, width, height, channels) {
        Some(png) => format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(png)
        ),
        None => String::new(),
    }
}

/// Pixels (gray when `channels` is 1, else RGB) as a PNG file.
pub(crate) fn png(pixels: &[u8], width: u32, height: u32, channels: u32) -> Option<Vec<u8>> {
    use image::ImageEncoder;
    let color = if channels == 1 {
        image::ExtendedColorType::L8
    } else {
        image::ExtendedColorType::Rgb8
    };
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(pixels, width, height, color)
        .ok()?;
    Some(png)
}
