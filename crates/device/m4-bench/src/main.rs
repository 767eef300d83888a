//! Counts the emulated Cortex-M4 instructions of the board's preprocessing
//! path: a QQVGA RGB565 frame (as the OV7675 driver captures it) read by
//! `FramePixels` and resized by the engine's `preprocess` to 96x96, with
//! the fixed buffers a firmware would use. Prints one line per resize mode
//! and colour depth on UART0.
//!
//! ```sh
//! cd crates/device/m4-bench
//! RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
//! CARGO_TARGET_THUMBV7EM_NONE_EABIHF_LINKER=arm-none-eabi-gcc \
//! CARGO_TARGET_THUMBV7EM_NONE_EABIHF_RUSTFLAGS="-C link-arg=-nostartfiles" \
//!   /usr/bin/cargo build -Zbuild-std=core --release --target thumbv7em-none-eabihf
//! qemu-system-arm -M mps2-an386 -cpu cortex-m4 -icount shift=0 -nographic \
//!   -kernel target/thumbv7em-none-eabihf/release/tinystudio-device-m4-bench
//! ```
//!
//! Under `-icount shift=0` QEMU runs one instruction per nanosecond of
//! virtual time and the CMSDK timer counts at 25 MHz, so one tick is 40
//! instructions (as in the firmware's `board/mps2.rs`). Instructions, not
//! cycles: `../shared/tools/m4cycles` estimates cycles from a trace.
#![no_std]
#![no_main]

use core::ptr::{addr_of_mut, read_volatile, write_volatile};

use cortex_m_rt::entry;
use tinystudio_device::camera::{Frame, FramePixels, PixelFormat};
use tinystudio_engine::preprocess::{ColorDepth, InputFormat, ResizeMode, Scratch, preprocess};

/// AN386 application note, table 4-1.
const UART0: usize = 0x4000_4000;
const TIMER0: usize = 0x4000_0000;
const PCLK_HZ: u32 = 25_000_000;
const INSTRUCTIONS_PER_TICK: u64 = 40;

const W: usize = 160;
const H: usize = 120;
const T: usize = 96;

static mut FRAME: [u8; W * H * 2] = [0; W * H * 2];
static mut PIXELS: [u8; T * T * 3] = [0; T * T * 3];

fn reg(address: usize) -> *mut u32 {
    address as *mut u32
}

fn print(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: UART0's state and data registers.
        unsafe {
            while read_volatile(reg(UART0 + 0x04)) & 1 != 0 {}
            write_volatile(reg(UART0), u32::from(b));
        }
    }
}

fn print_number(mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    print(&digits[i..]);
}

fn ticks() -> u32 {
    // SAFETY: read of the timer's value register; it counts down.
    u32::MAX - unsafe { read_volatile(reg(TIMER0 + 0x04)) }
}

#[entry]
fn main() -> ! {
    // SAFETY: UART0 and timer 0 set-up, as the firmware's board/mps2.rs.
    unsafe {
        write_volatile(reg(UART0 + 0x10), PCLK_HZ / 115_200);
        write_volatile(reg(UART0 + 0x08), 0b11);
        write_volatile(reg(TIMER0), 0);
        write_volatile(reg(TIMER0 + 0x08), u32::MAX);
        write_volatile(reg(TIMER0 + 0x04), u32::MAX);
        write_volatile(reg(TIMER0), 1);
    }
    // SAFETY: the only references to the two buffers.
    let (frame_bytes, pixels) = unsafe { (&mut *addr_of_mut!(FRAME), &mut *addr_of_mut!(PIXELS)) };
    let mut state = 0x1234_5678u32;
    for b in frame_bytes.iter_mut() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        *b = (state >> 24) as u8;
    }
    let frame = Frame {
        width: W,
        height: H,
        format: PixelFormat::Rgb565,
    };
    for (name, resize_mode, color_depth) in [
        (&b"squash rgb"[..], ResizeMode::Squash, ColorDepth::Rgb),
        (b"fitShortest rgb", ResizeMode::FitShortest, ColorDepth::Rgb),
        (b"fitLongest rgb", ResizeMode::FitLongest, ColorDepth::Rgb),
        (
            b"squash grayscale",
            ResizeMode::Squash,
            ColorDepth::Grayscale,
        ),
    ] {
        let format = InputFormat {
            width: T,
            height: T,
            resize_mode,
            color_depth,
        };
        let mut row = [0u8; Scratch::row_len(W)];
        let mut acc = [0u64; Scratch::acc_len(T)];
        let mut filtered = [0u16; Scratch::filtered_len(T, 3)];
        let Ok(mut source) = FramePixels::new(frame, frame_bytes) else {
            print(b"error: frame buffer too small\r\n");
            break;
        };
        let out = &mut pixels[..format.len()];
        let start = ticks();
        let result = preprocess(
            &mut source,
            &format,
            Scratch {
                row: &mut row,
                acc: &mut acc,
                filtered: &mut filtered,
            },
            out,
        );
        let end = ticks();
        print(name);
        print(b": instructions=");
        print_number(u64::from(end.wrapping_sub(start)) * INSTRUCTIONS_PER_TICK);
        print(if result.is_ok() {
            b" checksum="
        } else {
            b" error checksum="
        });
        print_number(out.iter().map(|&v| u64::from(v)).sum());
        print(b"\r\n");
    }
    print(b"done\r\n");
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    print(b"panic\r\n");
    loop {
        cortex_m::asm::wfi();
    }
}
