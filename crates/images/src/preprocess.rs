use image::imageops::{self, FilterType};
use image::{DynamicImage, RgbImage};
use tinystudio_domain::impulse::{ColorDepth, InputBlock, ResizeMode};

/// The impulse's input as the model (and the board) sees it: `height x width`
/// pixels, row-major, `channels` bytes each (RGB, or BT.601 luma for
/// grayscale). Pixel scaling to the model's number range happens after this,
/// in the engine's `input` module, identically on host and board.
pub fn preprocess(image: &DynamicImage, input: &InputBlock, depth: ColorDepth) -> Vec<u8> {
    let rgb = image.to_rgb8();
    let resized = resize(&rgb, input);
    match depth {
        ColorDepth::Rgb => resized.into_raw(),
        ColorDepth::Grayscale => resized
            .pixels()
            .map(|p| luma_bt601(p.0[0], p.0[1], p.0[2]))
            .collect(),
    }
}

/// ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B), rounded, in 16-bit fixed
/// point so it is identical everywhere it runs. (The `image` crate's own
/// grayscale conversion uses BT.709 weights.)
pub fn luma_bt601(r: u8, g: u8, b: u8) -> u8 {
    let y = 19_595 * r as u32 + 38_470 * g as u32 + 7_471 * b as u32;
    ((y + 32_768) >> 16) as u8
}

fn resize(rgb: &RgbImage, input: &InputBlock) -> RgbImage {
    let (tw, th) = (input.width, input.height);
    let (w, h) = rgb.dimensions();
    // Bilinear with a support that widens when shrinking, like PIL's resize.
    let filter = FilterType::Triangle;
    match input.resize_mode {
        ResizeMode::Squash => imageops::resize(rgb, tw, th, filter),
        ResizeMode::FitShortest => {
            // Scale so the image covers the target, then crop the centre.
            let scale = (tw as f64 / w as f64).max(th as f64 / h as f64);
            let sw = ((w as f64 * scale).round() as u32).max(tw);
            let sh = ((h as f64 * scale).round() as u32).max(th);
            let scaled = imageops::resize(rgb, sw, sh, filter);
            imageops::crop_imm(&scaled, (sw - tw) / 2, (sh - th) / 2, tw, th).to_image()
        }
        ResizeMode::FitLongest => {
            // Scale so the image fits inside the target, then pad with black.
            let scale = (tw as f64 / w as f64).min(th as f64 / h as f64);
            let sw = ((w as f64 * scale).round() as u32).clamp(1, tw);
            let sh = ((h as f64 * scale).round() as u32).clamp(1, th);
            let scaled = imageops::resize(rgb, sw, sh, filter);
            let mut canvas = RgbImage::new(tw, th);
            imageops::replace(
                &mut canvas,
                &scaled,
                ((tw - sw) / 2) as i64,
                ((th - sh) / 2) as i64,
            );
            canvas
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(width: u32, height: u32, resize_mode: ResizeMode) -> InputBlock {
        InputBlock {
            width,
            height,
            resize_mode,
        }
    }

    #[test]
    fn luma_uses_bt601_weights() {
        assert_eq!(luma_bt601(255, 255, 255), 255);
        assert_eq!(luma_bt601(0, 0, 0), 0);
        assert_eq!(luma_bt601(255, 0, 0), 76);
        assert_eq!(luma_bt601(0, 255, 0), 150);
        assert_eq!(luma_bt601(0, 0, 255), 29);
    }

    #[test]
    fn every_mode_gives_the_target_size() {
        let img = DynamicImage::new_rgb8(200, 100);
        for mode in [
            ResizeMode::Squash,
            ResizeMode::FitShortest,
            ResizeMode::FitLongest,
        ] {
            let px = preprocess(&img, &block(96, 64, mode), ColorDepth::Rgb);
            assert_eq!(px.len(), 96 * 64 * 3, "{mode:?}");
            let px = preprocess(&img, &block(96, 64, mode), ColorDepth::Grayscale);
            assert_eq!(px.len(), 96 * 64, "{mode:?}");
        }
    }

    #[test]
    fn fit_longest_pads_and_fit_shortest_crops() {
        // A white 200x100 image into 100x100.
        let white = DynamicImage::ImageRgb8(RgbImage::from_pixel(200, 100, image::Rgb([255; 3])));
        let padded = preprocess(
            &white,
            &block(100, 100, ResizeMode::FitLongest),
            ColorDepth::Grayscale,
        );
        assert_eq!(padded[0], 0, "top row is padding");
        assert_eq!(padded[50 * 100 + 50], 255, "centre is image");
        let cropped = preprocess(
            &white,
            &block(100, 100, ResizeMode::FitShortest),
            ColorDepth::Grayscale,
        );
        assert!(
            cropped.iter().all(|&p| p == 255),
            "no padding when cropping"
        );
    }
}
