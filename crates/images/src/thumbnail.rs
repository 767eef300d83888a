use image::DynamicImage;
use image::codecs::jpeg::JpegEncoder;

/// Longest side of a thumbnail in pixels (shown at up to 120 CSS pixels).
pub const THUMBNAIL_SIDE: u32 = 160;

/// A small JPEG for the dataset grid; never larger than the original.
pub fn thumbnail_jpeg(image: &DynamicImage) -> Vec<u8> {
    let (w, h) = (image.width(), image.height());
    let scale = (THUMBNAIL_SIDE as f32 / w.max(h) as f32).min(1.0);
    let tw = ((w as f32 * scale).round() as u32).max(1);
    let th = ((h as f32 * scale).round() as u32).max(1);
    let small = image.thumbnail_exact(tw, th).to_rgb8();
    let mut out = Vec::new();
    // Encoding an in-memory RGB buffer cannot fail short of running out of memory.
    JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&small)
        .expect("JPEG encoding of an in-memory RGB image");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_aspect_ratio_and_never_upscales() {
        let big = DynamicImage::new_rgb8(640, 320);
        let t = image::load_from_memory(&thumbnail_jpeg(&big)).unwrap();
        assert_eq!((t.width(), t.height()), (160, 80));
        let small = DynamicImage::new_rgb8(32, 32);
        let t = image::load_from_memory(&thumbnail_jpeg(&small)).unwrap();
        assert_eq!((t.width(), t.height()), (32, 32));
    }
}
