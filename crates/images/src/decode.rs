use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader};

/// Limits applied before any pixel memory is allocated, so a small file that
/// claims to be 100,000 x 100,000 pixels (a decompression bomb) is refused
/// from its header alone.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    pub max_width: u32,
    pub max_height: u32,
    /// Upper bound on the decoder's allocations, in bytes.
    pub max_decoded_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_width: 8192,
            max_height: 8192,
            max_decoded_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Why a file is not accepted as an image. The messages are for the person
/// who uploaded it.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the file is empty")]
    Empty,
    #[error("not an image (supported formats: JPEG, PNG, BMP, GIF, WebP)")]
    NotAnImage,
    #[error("the image is truncated or corrupt: {0}")]
    Corrupt(String),
    #[error("the image is {width}x{height} pixels; the limit is {max_width}x{max_height}")]
    DimensionsTooLarge {
        width: u32,
        height: u32,
        max_width: u32,
        max_height: u32,
    },
    #[error("decoding the image would need more than {max_bytes} bytes of memory")]
    TooMuchMemory { max_bytes: u64 },
}

/// A decoded, accepted image.
pub struct Decoded {
    pub image: DynamicImage,
    pub format: ImageFormat,
}

impl Decoded {
    pub fn width(&self) -> u32 {
        self.image.width()
    }

    pub fn height(&self) -> u32 {
        self.image.height()
    }

    /// The MIME type of the original bytes.
    pub fn content_type(&self) -> &'static str {
        self.format.to_mime_type()
    }
}

/// Decodes `bytes` under `limits`. CPU-heavy: call it off the async runtime.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let format = image::guess_format(bytes).map_err(|_| DecodeError::NotAnImage)?;
    if !matches!(
        format,
        ImageFormat::Jpeg
            | ImageFormat::Png
            | ImageFormat::Bmp
            | ImageFormat::Gif
            | ImageFormat::WebP
    ) {
        return Err(DecodeError::NotAnImage);
    }
    // The JPEG decoder fills a truncated scan with grey instead of failing, so
    // a file cut off in transfer would be stored as a half-grey image. A
    // complete JPEG has an end-of-image marker.
    if format == ImageFormat::Jpeg && !has_jpeg_end_marker(bytes) {
        return Err(DecodeError::Corrupt(
            "the JPEG data ends before its end-of-image marker".into(),
        ));
    }

    // Whatever the configuration says, preprocessing handles sides up to the
    // engine's limit; refuse longer ones here, with the upload's own error.
    let side_limit = u32::try_from(tinystudio_engine::preprocess::MAX_SIDE).unwrap_or(u32::MAX);
    let limits = &DecodeLimits {
        max_width: limits.max_width.min(side_limit),
        max_height: limits.max_height.min(side_limit),
        ..*limits
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let (width, height) = reader.into_dimensions().map_err(|e| classify(e, limits))?;
    if width == 0 || height == 0 {
        return Err(DecodeError::Corrupt("the image has no pixels".into()));
    }
    if width > limits.max_width || height > limits.max_height {
        return Err(DecodeError::DimensionsTooLarge {
            width,
            height,
            max_width: limits.max_width,
            max_height: limits.max_height,
        });
    }
    reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_width);
    image_limits.max_image_height = Some(limits.max_height);
    image_limits.max_alloc = Some(limits.max_decoded_bytes);
    reader.limits(image_limits);
    let image = reader.decode().map_err(|e| classify(e, limits))?;
    Ok(Decoded { image, format })
}

fn has_jpeg_end_marker(bytes: &[u8]) -> bool {
    // Some cameras append data after the marker; look in the tail only.
    let tail = &bytes[bytes.len().saturating_sub(64 * 1024)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

fn classify(error: image::ImageError, limits: &DecodeLimits) -> DecodeError {
    use image::ImageError;
    use image::error::LimitErrorKind;
    match error {
        ImageError::Limits(l) => match l.kind() {
            LimitErrorKind::DimensionError => {
                DecodeError::Corrupt("the image's dimensions are outside the limits".into())
            }
            _ => DecodeError::TooMuchMemory {
                max_bytes: limits.max_decoded_bytes,
            },
        },
        ImageError::Unsupported(e) => DecodeError::Corrupt(format!("unsupported variant: {e}")),
        ImageError::IoError(e) => DecodeError::Corrupt(e.to_string()),
        other => DecodeError::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, RgbImage};

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    #[test]
    fn decodes_png_and_jpeg() {
        let d = decode(&png(40, 30), &DecodeLimits::default()).unwrap();
        assert_eq!((d.width(), d.height()), (40, 30));
        assert_eq!(d.content_type(), "image/png");
        let d = decode(&jpeg(33, 17), &DecodeLimits::default()).unwrap();
        assert_eq!((d.width(), d.height()), (33, 17));
    }

    /// A WebP whose Huffman code lengths overflow image-webp's table
    /// builder (image-rs/image-webp#118), found by the fuzzer: refused as
    /// corrupt, not a panic (the workspace builds image-webp without
    /// overflow checks, as release builds do).
    #[test]
    fn refuses_a_webp_whose_huffman_table_overflows() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fuzz/corpus/image_decode/5fa7c31c2257c2acce7a8315dab697496e86dfdc"
        );
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(bytes.starts_with(b"RIFF") && bytes[8..12] == *b"WEBP");
        match decode(&bytes, &DecodeLimits::default()) {
            Err(DecodeError::Corrupt(_)) => {}
            Err(other) => panic!("refused, but as {other:?}"),
            Ok(d) => panic!("decoded as {}x{}", d.width(), d.height()),
        }
    }

    #[test]
    fn refuses_empty_and_non_images() {
        let limits = DecodeLimits::default();
        assert!(matches!(decode(b"", &limits), Err(DecodeError::Empty)));
        assert!(matches!(
            decode(b"hello, this is text", &limits),
            Err(DecodeError::NotAnImage)
        ));
    }

    #[test]
    fn refuses_truncated_files() {
        let limits = DecodeLimits::default();
        let p = png(64, 64);
        assert!(matches!(
            decode(&p[..p.len() / 2], &limits),
            Err(DecodeError::Corrupt(_))
        ));
        let j = jpeg(64, 64);
        assert!(matches!(
            decode(&j[..j.len() / 2], &limits),
            Err(DecodeError::Corrupt(_))
        ));
    }

    #[test]
    fn refuses_large_dimensions_from_the_header() {
        let limits = DecodeLimits {
            max_width: 32,
            max_height: 32,
            ..DecodeLimits::default()
        };
        assert!(matches!(
            decode(&png(64, 8), &limits),
            Err(DecodeError::DimensionsTooLarge { width: 64, .. })
        ));
    }

    #[test]
    fn refuses_sides_preprocessing_cannot_handle_whatever_the_limits() {
        let limits = DecodeLimits {
            max_width: u32::MAX,
            max_height: u32::MAX,
            max_decoded_bytes: u64::MAX,
        };
        let side = tinystudio_engine::preprocess::MAX_SIDE as u32;
        assert!(matches!(
            decode(&png(side + 1, 1), &limits),
            Err(DecodeError::DimensionsTooLarge { max_width, .. }) if max_width == side
        ));
    }

    #[test]
    fn refuses_memory_hungry_images() {
        let limits = DecodeLimits {
            max_decoded_bytes: 1000,
            ..DecodeLimits::default()
        };
        assert!(matches!(
            decode(&png(64, 64), &limits),
            Err(DecodeError::TooMuchMemory { .. })
        ));
    }
}
