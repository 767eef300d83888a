use image::DynamicImage;
use tinystudio_domain::impulse::{ColorDepth, InputBlock, ResizeMode};
use tinystudio_engine::preprocess::{self as shared, InputFormat, PixelSource, Scratch};

/// ITU-R BT.601 luma, as the model sees grayscale; kept here for callers that
/// know this crate.
pub use tinystudio_engine::preprocess::luma_bt601;

/// The impulse's input as the model (and the board) sees it: `height x width`
/// pixels, row-major, `channels` bytes each (RGB, or BT.601 luma for
/// grayscale). This is the engine's `preprocess`, the same code the firmware
/// runs on camera frames, so the studio and the board see the same bytes;
/// pixel scaling to the model's number range happens after this, in the
/// engine's `input` module.
///
/// # Panics
///
/// If a side of `image` is longer than the engine's
/// [`MAX_SIDE`](shared::MAX_SIDE), which [`crate::decode`] refuses, or the
/// input block is larger than an impulse may be (its validation allows 320
/// pixels a side, so even a 1-pixel-wide picture scales within the engine's
/// [`MAX_SCALED_SIDE`](shared::MAX_SCALED_SIDE)).
pub fn preprocess(image: &DynamicImage, input: &InputBlock, depth: ColorDepth) -> Vec<u8> {
    let format = input_format(input, depth);
    let mut source = ImageRows::new(image);
    let mut row = vec![0u8; Scratch::row_len(source.width())];
    let mut acc = vec![0u64; Scratch::acc_len(format.width)];
    let keep = Scratch::rows_to_keep(source.width(), source.height(), &format);
    let mut filtered = vec![0u16; Scratch::filtered_len(format.width, keep)];
    let mut out = vec![0u8; format.len()];
    let scratch = Scratch {
        row: &mut row,
        acc: &mut acc,
        filtered: &mut filtered,
    };
    if let Err(e) = shared::preprocess(&mut source, &format, scratch, &mut out) {
        // Every buffer above is sized from the same numbers the engine
        // checks, and decode() bounds the sides: only a caller that skipped
        // decode() can get here.
        panic!(
            "preprocessing a {}x{} image: {e}",
            image.width(),
            image.height()
        );
    }
    out
}

/// The engine's name for the impulse's input settings.
pub fn input_format(input: &InputBlock, depth: ColorDepth) -> InputFormat {
    InputFormat {
        width: input.width as usize,
        height: input.height as usize,
        resize_mode: match input.resize_mode {
            ResizeMode::Squash => shared::ResizeMode::Squash,
            ResizeMode::FitShortest => shared::ResizeMode::FitShortest,
            ResizeMode::FitLongest => shared::ResizeMode::FitLongest,
        },
        color_depth: match depth {
            ColorDepth::Rgb => shared::ColorDepth::Rgb,
            ColorDepth::Grayscale => shared::ColorDepth::Grayscale,
        },
    }
}

/// A decoded image as rows of RGB888. RGB8 images (most uploads) are read in
/// place; other layouts are converted once, as `to_rgb8` always did.
struct ImageRows<'a> {
    rgb: std::borrow::Cow<'a, image::RgbImage>,
}

impl<'a> ImageRows<'a> {
    fn new(image: &'a DynamicImage) -> Self {
        let rgb = match image {
            DynamicImage::ImageRgb8(rgb) => std::borrow::Cow::Borrowed(rgb),
            other => std::borrow::Cow::Owned(other.to_rgb8()),
        };
        Self { rgb }
    }
}

impl PixelSource for ImageRows<'_> {
    fn width(&self) -> usize {
        self.rgb.width() as usize
    }

    fn height(&self) -> usize {
        self.rgb.height() as usize
    }

    fn read_row(&mut self, y: usize, rgb: &mut [u8]) {
        let len = 3 * self.width();
        rgb.copy_from_slice(&self.rgb.as_raw()[y * len..(y + 1) * len]);
    }
}

#[cfg(test)]
mod tests {
    use image::RgbImage;
    use image::imageops::{self, FilterType};

    use super::*;

    fn block(width: u32, height: u32, resize_mode: ResizeMode) -> InputBlock {
        InputBlock {
            width,
            height,
            resize_mode,
        }
    }

    fn photo(name: &str) -> DynamicImage {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared")
            .join(name);
        image::open(&path)
            .unwrap_or_else(|e| panic!("shared fixture {} is missing: {e}", path.display()))
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

    #[test]
    fn other_pixel_layouts_read_as_their_rgb8() {
        let rgb = photo("images/grace_hopper.bmp").to_rgb8();
        let rgba = DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(rgb.clone()).to_rgba8());
        let input = block(64, 48, ResizeMode::FitShortest);
        assert_eq!(
            preprocess(&rgba, &input, ColorDepth::Rgb),
            preprocess(&DynamicImage::ImageRgb8(rgb), &input, ColorDepth::Rgb)
        );
    }

    /// The shared resize replaced the `image` crate's `Triangle`; models
    /// trained before see nearly the same pixels.
    #[test]
    fn stays_close_to_the_image_crates_triangle_filter() {
        for (name, w, h) in [
            ("images/grace_hopper.bmp", 96, 96),
            ("images/parrot.jpg", 96, 96),
            ("images/cat.bmp", 160, 120),
            // Enlarged, as CIFAR-3 trains.
            ("datasets/cifar3/train/airplane/0000.jpg", 96, 96),
            ("images/person.bmp", 120, 80),
        ] {
            let img = photo(name);
            let ours = preprocess(&img, &block(w, h, ResizeMode::Squash), ColorDepth::Rgb);
            let theirs = imageops::resize(&img.to_rgb8(), w, h, FilterType::Triangle).into_raw();
            let diffs: Vec<i32> = ours
                .iter()
                .zip(&theirs)
                .map(|(&a, &b)| (i32::from(a) - i32::from(b)).abs())
                .collect();
            let differ = diffs.iter().filter(|&&d| d > 0).count();
            let max = diffs.iter().max().copied().unwrap_or(0);
            println!(
                "{name}: {differ} of {} samples differ, by at most {max}",
                diffs.len()
            );
            assert!(max <= 1, "{name}: a sample differs by {max}");
            assert!(
                differ * 100 < diffs.len(),
                "{name}: {differ} samples differ"
            );
        }
    }
}
