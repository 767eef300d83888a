//! The board takes the photo: the firmware's camera loop under QEMU, with
//! the emulated camera fed photos by the host, prints Edge Impulse's
//! "Taking photo..." predictions, and each equals what the studio computes
//! for the same raw frame (its preprocessing, then the host engine) byte
//! for byte. Frames sent over the UART are still answered between photos.

mod common;

use std::time::Duration;

use common::{INFERENCE_TIMEOUT, firmware_target_dir, shared, vww_blob};
use image::{DynamicImage, RgbImage};
use tinystudio_deploy::{BuildOptions, Config, Emulator, board, build_with, camera_frame};
use tinystudio_device::camera::{LOOP_FRAME, rgb565_to_rgb888};
use tinystudio_domain::impulse::{ColorDepth, InputBlock, ResizeMode};
use tinystudio_engine::interpreter::HostRunner;

/// A photo from the shared folder as the camera would deliver it: scaled
/// to QQVGA, then RGB565.
fn raw_frame(name: &str) -> Vec<u8> {
    let photo = image::open(shared(&format!("images/{name}")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .to_rgb8();
    let (w, h) = (LOOP_FRAME.width as u32, LOOP_FRAME.height as u32);
    let scaled = image::imageops::resize(&photo, w, h, image::imageops::FilterType::Triangle);
    camera_frame(w as u16, h as u16, scaled.as_raw())
}

/// What the studio makes of a raw frame: its RGB565 pixels widened as the
/// board widens them, `images::preprocess` with the impulse's settings, the
/// host engine.
fn studio_answer(frame: &[u8], resize_mode: ResizeMode) -> Vec<i8> {
    let (w, h) = (LOOP_FRAME.width as u32, LOOP_FRAME.height as u32);
    let rgb: Vec<u8> = frame[12..]
        .chunks_exact(2)
        .flat_map(|p| rgb565_to_rgb888(p[0], p[1]))
        .collect();
    let image = DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, rgb).unwrap());
    let input = InputBlock {
        width: 96,
        height: 96,
        resize_mode,
    };
    let pixels = tinystudio_images::preprocess(&image, &input, ColorDepth::Rgb);
    HostRunner::new(vww_blob().to_vec())
        .unwrap()
        .run_pixels(&pixels)
        .unwrap()
}

#[test]
fn the_camera_loop_classifies_photos_as_the_studio_does() {
    let resize_mode = ResizeMode::FitShortest;
    let options = BuildOptions {
        camera_interval_ms: 300,
        resize_mode,
        ..BuildOptions::default()
    };
    let build = build_with(
        &Config::from_env(),
        board("mps2-an386").unwrap(),
        vww_blob(),
        &firmware_target_dir(),
        &options,
        &mut |line: &str| eprintln!("[camera] {line}"),
    )
    .expect("the firmware builds with the camera loop");
    let frames: Vec<Vec<u8>> = ["person.bmp", "grace_hopper.bmp", "parrot.jpg"]
        .iter()
        .map(|n| raw_frame(n))
        .collect();
    let mut emu = Emulator::start_camera(
        &Config::from_env(),
        &build.elf,
        INFERENCE_TIMEOUT,
        Some(&frames.concat()),
    )
    .expect("QEMU starts");
    let first = emu.read_line(INFERENCE_TIMEOUT).unwrap();
    assert_eq!(first, "Starting inferencing in 2 seconds...");

    // Two rounds through the three frames: the camera starts again after
    // the last one.
    for round in 0..2 {
        for (frame, name) in frames.iter().zip(["person", "grace_hopper", "parrot"]) {
            let photo = emu
                .read_photo(INFERENCE_TIMEOUT)
                .expect("a photo's predictions");
            let studio = studio_answer(frame, resize_mode);
            assert_eq!(photo.raw, studio, "round {round}, {name}: board vs studio");
            assert!(photo.instructions().unwrap() > 1_000_000);
            eprintln!(
                "round {round}, {name}: {:?} (DSP {} ms, classification {} ms)",
                photo.scores, photo.dsp_ms, photo.classification_ms
            );
        }
    }

    // Between photos the board still answers frames sent over its UART.
    let pixels = vec![128u8; 96 * 96 * 3];
    let answer = emu
        .classify(&pixels, INFERENCE_TIMEOUT)
        .expect("a frame is answered while the camera loop runs");
    let host = HostRunner::new(vww_blob().to_vec())
        .unwrap()
        .run_pixels(&pixels)
        .unwrap();
    assert_eq!(answer.raw, host);
    // And the loop goes on after it.
    emu.read_photo(Duration::from_secs(60))
        .expect("photos after a frame");
}

#[test]
fn without_frames_the_board_only_answers_frames() {
    let build = common::vww_build("mps2-an386", false);
    // No frames file: the camera is absent, no "Starting inferencing".
    let mut emu = Emulator::start_camera(&Config::from_env(), &build.elf, INFERENCE_TIMEOUT, None)
        .expect("QEMU starts");
    let pixels = vec![0u8; 96 * 96 * 3];
    emu.classify(&pixels, INFERENCE_TIMEOUT).unwrap();
    // The default interval is 2 s of board time, 50 M emulated
    // instructions: well within these 20 s if a photo were coming.
    let waited = emu.read_photo(Duration::from_secs(20));
    assert!(
        matches!(waited, Err(tinystudio_deploy::Error::Timeout { .. })),
        "{:?}",
        waited.map(|o| o.lines)
    );
}
