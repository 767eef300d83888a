//! The board and the studio see the same model input for the same camera
//! frame: a raw RGB565 QQVGA frame through the board's path (captured by the
//! driver from the simulated sensor, read by `FramePixels`, the engine's
//! `preprocess` with fixed-size buffers, `InputMapper`) equals the studio's
//! path (the frame expanded to an `image::RgbImage` with the same 565-to-888
//! rule, `tinystudio_images::preprocess`, the same `InputMapper`), byte for
//! byte, in every resize mode and both colour depths.

mod sim;

use std::path::PathBuf;

use image::{DynamicImage, Rgb, RgbImage};
use sim::{Options, Sim};
use tinystudio_device::camera::{Camera, Frame, FramePixels, PixelFormat, rgb565_to_rgb888};
use tinystudio_device::ov7675::{Config, I2cSccb, Ov7675, Resolution};
use tinystudio_domain::impulse::{ColorDepth, InputBlock, ResizeMode};
use tinystudio_engine::preprocess::{self as engine, InputFormat, Scratch, preprocess};
use tinystudio_engine::{InputMapper, PixelScaling};

const W: usize = 160;
const H: usize = 120;
/// The largest target the board path below is sized for.
const MAX_TARGET: usize = 96;

const MODES: [ResizeMode; 3] = [
    ResizeMode::Squash,
    ResizeMode::FitShortest,
    ResizeMode::FitLongest,
];
const DEPTHS: [ColorDepth; 2] = [ColorDepth::Rgb, ColorDepth::Grayscale];

fn shared(path: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(path);
    assert!(p.exists(), "shared fixture {} is missing", p.display());
    p
}

fn mappers() -> [InputMapper; 2] {
    [PixelScaling::MinusOneToOne, PixelScaling::ZeroToOne].map(|s| {
        let (scale, zero_point) = s.natural_quantization();
        InputMapper::new(s, scale, zero_point)
    })
}

/// As the firmware will run it: buffers of fixed size on the stack, sized
/// for a QQVGA frame in and at most 96x96 RGB out.
fn board_path(
    frame: &[u8],
    input: &InputBlock,
    depth: ColorDepth,
    mapper: &InputMapper,
) -> Vec<i8> {
    let captured = Frame {
        width: W,
        height: H,
        format: PixelFormat::Rgb565,
    };
    // The board knows its impulse in the engine's own terms.
    let format = InputFormat {
        width: input.width as usize,
        height: input.height as usize,
        resize_mode: match input.resize_mode {
            ResizeMode::Squash => engine::ResizeMode::Squash,
            ResizeMode::FitShortest => engine::ResizeMode::FitShortest,
            ResizeMode::FitLongest => engine::ResizeMode::FitLongest,
        },
        color_depth: match depth {
            ColorDepth::Rgb => engine::ColorDepth::Rgb,
            ColorDepth::Grayscale => engine::ColorDepth::Grayscale,
        },
    };
    let mut source = FramePixels::new(captured, frame).unwrap();
    let mut row = [0u8; Scratch::row_len(W)];
    let mut acc = [0u64; Scratch::acc_len(MAX_TARGET)];
    // Three filtered rows: what 120 rows into 96 need (more for smaller
    // targets; fewer only costs time).
    let mut filtered = [0u16; Scratch::filtered_len(MAX_TARGET, 3)];
    let mut pixels = [0u8; MAX_TARGET * MAX_TARGET * 3];
    let pixels = &mut pixels[..format.len()];
    let scratch = Scratch {
        row: &mut row,
        acc: &mut acc,
        filtered: &mut filtered,
    };
    preprocess(&mut source, &format, scratch, pixels).unwrap();
    let mut tensor = vec![0i8; format.len()];
    mapper.map(pixels, &mut tensor).unwrap();
    tensor
}

/// As the studio runs it on an uploaded picture of the same frame.
fn studio_path(
    frame: &[u8],
    input: &InputBlock,
    depth: ColorDepth,
    mapper: &InputMapper,
) -> Vec<i8> {
    let image = RgbImage::from_fn(W as u32, H as u32, |x, y| {
        let i = 2 * (y as usize * W + x as usize);
        Rgb(rgb565_to_rgb888(frame[i], frame[i + 1]))
    });
    let pixels = tinystudio_images::preprocess(&DynamicImage::ImageRgb8(image), input, depth);
    let mut tensor = vec![0i8; pixels.len()];
    mapper.map(&pixels, &mut tensor).unwrap();
    tensor
}

fn assert_paths_agree(name: &str, frame: &[u8]) {
    assert_eq!(frame.len(), W * H * 2);
    for (width, height) in [(96, 96), (64, 48), (32, 96)] {
        for resize_mode in MODES {
            for depth in DEPTHS {
                for mapper in &mappers() {
                    let input = InputBlock {
                        width,
                        height,
                        resize_mode,
                    };
                    let board = board_path(frame, &input, depth, mapper);
                    let studio = studio_path(frame, &input, depth, mapper);
                    assert_eq!(board.len(), (width * height * depth.channels()) as usize);
                    if let Some(i) = (0..board.len()).find(|&i| board[i] != studio[i]) {
                        panic!(
                            "{name} {width}x{height} {resize_mode:?} {depth:?}: byte {i} is {} on the board, {} in the studio",
                            board[i], studio[i]
                        );
                    }
                    let mut distinct: Vec<i8> = board.clone();
                    distinct.sort_unstable();
                    distinct.dedup();
                    assert!(distinct.len() > 20, "{name}: a degenerate picture");
                }
            }
        }
    }
}

#[test]
fn a_raw_frame_gives_the_same_model_input_on_board_and_studio() {
    // Every RGB565 value class: a busy synthetic frame.
    let mut state = 0x9e37_79b9_u32;
    let frame: Vec<u8> = (0..W * H * 2)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect();
    assert_paths_agree("noise", &frame);
}

#[test]
fn a_real_photo_captured_by_the_driver_gives_the_same_model_input() {
    // A photo reduced to what the sensor would send: QQVGA, RGB565.
    let photo = image::open(shared("images/grace_hopper.bmp"))
        .unwrap()
        .resize_exact(W as u32, H as u32, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let rgb565 = move |x: usize, y: usize| {
        let [r, g, b] = photo.get_pixel(x as u32, y as u32).0;
        (u16::from(r) >> 3) << 11 | (u16::from(g) >> 2) << 5 | u16::from(b) >> 3
    };
    let mut raw = Vec::with_capacity(W * H * 2);
    for y in 0..H {
        for x in 0..W {
            raw.extend_from_slice(&rgb565(x, y).to_be_bytes());
        }
    }

    // The driver captures it from the simulated sensor.
    let sim = Sim::new(Options {
        pattern: Box::new(move |_, x, y| rgb565(x, y)),
        start_tick: 10_000,
        ..Options::default()
    });
    let (bus, port, delay) = sim.parts();
    let config = Config {
        resolution: Resolution::Qqvga,
        ..Config::default()
    };
    let mut camera = Ov7675::new(I2cSccb::new(bus), port, delay, config);
    camera.init().unwrap();
    let mut buffer = vec![0u8; W * H * 2];
    let frame = camera.capture(&mut buffer).unwrap();
    assert_eq!((frame.width, frame.height), (W, H));
    assert!(buffer == raw, "the captured frame is the photo's bytes");

    assert_paths_agree("grace_hopper.bmp", &buffer);
}
