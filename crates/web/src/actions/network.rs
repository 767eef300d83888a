//! What the network sees: a sample through the int8 model the board runs,
//! each layer's feature maps drawn as a grid of images, and the classic
//! lesson on convolutions: a 3x3 filter the person edits, applied to the
//! sample's input.

use tinystudio_domain::{ProjectId, SampleId};
use tinystudio_engine::{HostRunner, LayerOutput};
use tinystudio_images::{decode, preprocess};
use tinystudio_storage::models::{self, Model};
use tinystudio_storage::{BlobKey, samples};

use super::classify::png;
use crate::{AppError, AppState};

/// Tiles are drawn at least this many pixels wide (nearest neighbour).
const MIN_TILE: usize = 48;
/// Pixels between tiles.
const GAP: usize = 2;
/// A channel whose values span fewer int8 steps than this is drawn
/// against this span: its noise is not stretched to full contrast.
const FLAT_SPAN: i32 = 16;

/// A sample as the model sees it: its input and every layer's output.
pub struct Seen {
    /// The input after resize and colour, HWC.
    pub pixels: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub channels: u32,
    pub layers: Vec<LayerOutput>,
}

impl Seen {
    /// The layers that are maps (more than one pixel), in order.
    pub fn maps(&self) -> Vec<usize> {
        (0..self.layers.len())
            .filter(|&i| {
                let [_, h, w, _] = self.layers[i].shape;
                h > 1 && w > 1
            })
            .collect()
    }
}

/// Runs `sample` through `model` as the board would.
pub async fn look(
    state: &AppState,
    project: ProjectId,
    sample: SampleId,
    model: &Model,
) -> Result<Seen, AppError> {
    let sample = samples::get(&state.db, project, sample).await?;
    let image = state
        .blobs
        .get(&BlobKey::sample(&sample.sha256)?)
        .await?
        .ok_or_else(|| {
            AppError::Internal(format!("the file of sample {} is missing", sample.id))
        })?;
    let impulse = models::impulse_of(&state.db, model).await?;
    let blob = super::model_blob(state, model).await?;
    let limits = state.config.decode;
    tokio::task::spawn_blocking(move || {
        let decoded = decode(&image, &limits)
            .map_err(|e| AppError::BadRequest(format!("the sample's image: {e}")))?;
        let pixels = preprocess(&decoded.image, &impulse.input, impulse.image.color_depth);
        let layers = HostRunner::new(blob.to_vec())
            .and_then(|mut runner| runner.run_pixels_layers(&pixels))
            .map_err(|e| AppError::Internal(format!("int8 model: {e}")))?;
        Ok(Seen {
            pixels,
            width: impulse.input.width,
            height: impulse.input.height,
            channels: impulse.image.color_depth.channels(),
            layers,
        })
    })
    .await
    .map_err(|e| AppError::Internal(format!("inference task: {e}")))?
}

/// A layer's channels side by side, a grayscale tile each (each channel's
/// lowest value black, its highest white, so that every filter's pattern
/// shows; a nearly flat channel stays dark grey), as a PNG. Returns the
/// image's size too.
pub fn feature_grid(layer: &LayerOutput) -> Result<(Vec<u8>, u32, u32), AppError> {
    let [_, h, w, c] = layer.shape;
    let columns = (c as f64).sqrt().ceil().max(1.0) as usize;
    let rows = c.div_ceil(columns);
    let zoom = MIN_TILE.div_ceil(w.max(h)).max(1);
    let (tile_w, tile_h) = (w * zoom, h * zoom);
    let width = columns * (tile_w + GAP) - GAP;
    let height = rows * (tile_h + GAP) - GAP;
    let mut out = vec![255u8; width * height];
    for ch in 0..c {
        let values = || {
            layer
                .data
                .iter()
                .skip(ch)
                .step_by(c.max(1))
                .map(|&v| i32::from(v))
        };
        let lowest = values().min().unwrap_or(0);
        let span = (values().max().unwrap_or(0) - lowest).max(FLAT_SPAN);
        let (x0, y0) = (
            (ch % columns) * (tile_w + GAP),
            (ch / columns) * (tile_h + GAP),
        );
        for y in 0..tile_h {
            for x in 0..tile_w {
                let v = layer.data[((y / zoom) * w + x / zoom) * c + ch];
                out[(y0 + y) * width + x0 + x] = ((i32::from(v) - lowest) * 255 / span) as u8;
            }
        }
    }
    let png = png(&out, width as u32, height as u32, 1)
        .ok_or_else(|| AppError::Internal("encoding the feature maps".into()))?;
    Ok((png, width as u32, height as u32))
}

/// The input's luma convolved with `kernel` (3x3, row by row; the edge
/// pixels repeated beyond the edges, so the frame itself is no edge), as a
/// PNG: no response mid-grey, the strongest positive white and the
/// strongest negative black.
pub fn convolve(seen: &Seen, kernel: &[f32; 9]) -> Result<Vec<u8>, AppError> {
    let (w, h) = (seen.width as usize, seen.height as usize);
    let luma = gray(seen);
    let at = |x: isize, y: isize| -> f32 {
        let x = x.clamp(0, w as isize - 1) as usize;
        let y = y.clamp(0, h as isize - 1) as usize;
        f32::from(luma[y * w + x])
    };
    let response: Vec<f32> = (0..h * w)
        .map(|i| {
            let (x, y) = ((i % w) as isize, (i / w) as isize);
            (0..9)
                .map(|k| kernel[k] * at(x + (k % 3) as isize - 1, y + (k / 3) as isize - 1))
                .sum()
        })
        .collect();
    let strongest = response.iter().fold(0f32, |m, r| m.max(r.abs())).max(1e-6);
    let out: Vec<u8> = response
        .iter()
        .map(|r| (127.5 + 127.5 * r / strongest).round().clamp(0.0, 255.0) as u8)
        .collect();
    png(&out, w as u32, h as u32, 1).ok_or_else(|| AppError::Internal("encoding the output".into()))
}

/// The input as one channel (BT.601 luma for colour, as the engine's
/// grayscale conversion).
fn gray(seen: &Seen) -> Vec<u8> {
    if seen.channels == 1 {
        return seen.pixels.clone();
    }
    seen.pixels
        .chunks_exact(3)
        .map(|p| {
            ((299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2]) + 500) / 1000)
                as u8
        })
        .collect()
}

/// Filters to start from, as the lesson on convolutions shows them.
pub const PRESETS: [(&str, [f32; 9]); 5] = [
    (
        "Vertical edges",
        [1.0, 0.0, -1.0, 2.0, 0.0, -2.0, 1.0, 0.0, -1.0],
    ),
    (
        "Horizontal edges",
        [1.0, 2.0, 1.0, 0.0, 0.0, 0.0, -1.0, -2.0, -1.0],
    ),
    (
        "Outline",
        [-1.0, -1.0, -1.0, -1.0, 8.0, -1.0, -1.0, -1.0, -1.0],
    ),
    ("Sharpen", [0.0, -1.0, 0.0, -1.0, 5.0, -1.0, 0.0, -1.0, 0.0]),
    ("Blur", [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
];

/// A filter from its nine numbers, comma-separated, row by row.
pub fn parse_kernel(raw: &str) -> Result<[f32; 9], AppError> {
    let bad = || {
        AppError::BadRequest(format!(
            "a filter is nine numbers between -100 and 100, comma-separated: {raw:?}"
        ))
    };
    let values: Vec<f32> = raw
        .split(',')
        .map(|v| v.trim().parse::<f32>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let kernel: [f32; 9] = values.try_into().map_err(|_| bad())?;
    if kernel.iter().all(|v| v.is_finite() && v.abs() <= 100.0) {
        Ok(kernel)
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(pixels: Vec<u8>, width: u32, height: u32, layers: Vec<LayerOutput>) -> Seen {
        Seen {
            pixels,
            width,
            height,
            channels: 1,
            layers,
        }
    }

    fn decode_gray(png: &[u8]) -> image::GrayImage {
        image::load_from_memory(png).unwrap().to_luma8()
    }

    #[test]
    fn a_vertical_edge_filter_answers_a_vertical_edge_only() {
        // Left half dark, right half bright.
        let pixels: Vec<u8> = (0..16 * 16)
            .map(|i| if i % 16 < 8 { 20 } else { 220 })
            .collect();
        let s = seen(pixels, 16, 16, Vec::new());
        let out = decode_gray(&convolve(&s, &PRESETS[0].1).unwrap());
        // Away from the border: strong response on the edge, none elsewhere.
        let edge = out.get_pixel(8, 8)[0].abs_diff(128);
        let flat = out.get_pixel(4, 8)[0].abs_diff(128);
        assert!(edge > 100, "{edge}");
        assert!(flat <= 1, "{flat}");
        let horizontal = decode_gray(&convolve(&s, &PRESETS[1].1).unwrap());
        assert!(horizontal.get_pixel(8, 8)[0].abs_diff(128) <= 1);
    }

    #[test]
    fn feature_maps_are_tiled_per_channel() {
        // Two channels of 2x2: channel 0 flat, channel 1 dark on the left
        // and bright on the right.
        let layer = LayerOutput {
            op: "CONV_2D",
            shape: [1, 2, 2, 2],
            data: vec![-128, 0, -128, 100, -128, 0, -128, 100],
        };
        let (png, width, height) = feature_grid(&layer).unwrap();
        let img = decode_gray(&png);
        assert_eq!((img.width(), img.height()), (width, height));
        assert_eq!((width, height), (48 + 2 + 48, 48), "two tiles side by side");
        assert_eq!(
            img.get_pixel(10, 10)[0],
            0,
            "a flat channel is not stretched"
        );
        assert_eq!(img.get_pixel(49, 10)[0], 255, "the gap is white");
        assert_eq!(img.get_pixel(60, 10)[0], 0, "channel 1's lowest is black");
        assert_eq!(img.get_pixel(90, 10)[0], 255, "its highest white");
        assert_eq!(seen(Vec::new(), 1, 1, vec![layer]).maps(), vec![0]);
    }

    #[test]
    fn filters_are_nine_bounded_numbers() {
        assert_eq!(parse_kernel("1,0,-1,2,0,-2,1,0,-1").unwrap(), PRESETS[0].1);
        for bad in [
            "1,2,3",
            "1,0,-1,2,0,-2,1,0,x",
            "1,0,-1,2,0,-2,1,0,1e9",
            "",
            "1,0,-1,2,0,-2,1,0,-1,5",
        ] {
            assert!(parse_kernel(bad).is_err(), "{bad}");
        }
    }
}
