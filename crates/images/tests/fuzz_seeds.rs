//! The fuzz crate's seeds for `image_decode` (`crates/fuzz/seeds/`): one
//! small picture per accepted format, made here with the same `image` crate.
//! A seed the decoder refuses teaches the fuzzer nothing, so this checks that
//! every committed seed still decodes; `TINYSTUDIO_WRITE_FUZZ_SEEDS=1`
//! rewrites them.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageFormat, RgbImage};
use tinystudio_images::{DecodeLimits, decode};

#[test]
fn fuzz_seeds_decode() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/image_decode");
    let write = std::env::var_os("TINYSTUDIO_WRITE_FUZZ_SEEDS").is_some();
    let picture = RgbImage::from_fn(12, 8, |x, y| {
        image::Rgb([(x * 20) as u8, (y * 30) as u8, 90])
    });
    for (format, ext) in [
        (ImageFormat::Png, "png"),
        (ImageFormat::Jpeg, "jpg"),
        (ImageFormat::Bmp, "bmp"),
        (ImageFormat::Gif, "gif"),
        (ImageFormat::WebP, "webp"),
    ] {
        let path = dir.join(format!("gradient_12x8.{ext}"));
        if write {
            // GIF and WebP's encoders take RGBA.
            let image = if matches!(format, ImageFormat::Gif | ImageFormat::WebP) {
                DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(picture.clone()).to_rgba8())
            } else {
                DynamicImage::ImageRgb8(picture.clone())
            };
            let mut bytes = Cursor::new(Vec::new());
            image.write_to(&mut bytes, format).unwrap();
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, bytes.into_inner()).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "fuzz seed {} is missing ({e}); write it with TINYSTUDIO_WRITE_FUZZ_SEEDS=1",
                path.display()
            )
        });
        let decoded = decode(&committed, &DecodeLimits::default())
            .unwrap_or_else(|e| panic!("seed {}: {e}", path.display()));
        assert_eq!(
            (decoded.width(), decoded.height(), decoded.format),
            (12, 8, format)
        );
    }
}
