//! An OV7670/OV7675 module on the Pico's GPIOs (wiring: the firmware
//! README, and `tinystudio_device::ports::rp2040`).
//!
//! All register work is `tinystudio_device::ports::rp2040` (XCLK from PWM
//! slice 6, SCCB on I2C0, the video port from one read of SIO's GPIO_IN,
//! PWDN and RESET), which the host tests run against a simulated RP2040 and
//! sensor. This file opens it at boot with the board's registers and masks
//! interrupts around a capture.

use tinystudio_device::camera::{Camera, Frame};
use tinystudio_device::ov7675::{self, Config, Resolution};
use tinystudio_device::ports::Mmio;
use tinystudio_device::ports::rp2040::{self, I2cError, PicoCamera};

use super::rp2040::Pico;
use super::{Board, CoreDelay, say};
use crate::config;

// XCLK and the I2C timing are derived from the clock `rp2040.rs` sets up.
const _: () = assert!(<Pico as Board>::CPU_HZ == rp2040::CLK_SYS_HZ);

/// The module, ready to capture.
pub struct PicoOv7675(PicoCamera<Mmio, CoreDelay>);

/// Opens the camera (about 1.1 s: the sensor's power-up wait and its
/// set-up), printing one line: that it is ready, or why there is none.
pub fn open<B: Board>(board: &mut B) -> Option<PicoOv7675> {
    if config::CAMERA_INTERVAL_MS == 0 {
        say(
            board,
            format_args!(
                "camera: none: the camera loop is built out (TINYSTUDIO_CAMERA_INTERVAL_MS=0)"
            ),
        );
        return None;
    }
    // SAFETY: this is the RP2040; the port takes I2C0 and PWM out of reset
    // (IO_BANK0 and PADS_BANK0 already are) and configures only the
    // camera's GPIOs 2 to 17, PWM slice 6 and I2C0, which nothing else in
    // this firmware uses.
    let regs = unsafe { Mmio::new() };
    let delay = CoreDelay { hz: B::CPU_HZ };
    let setup = Config {
        // The camera loop's frame (`tinystudio_device::camera::LOOP_FRAME`)
        // at the rate the Arduino library allows the Nano 33 BLE; the
        // M0+'s polling loop is no faster.
        resolution: Resolution::Qqvga,
        fps: 1,
        ..Config::default()
    };
    match rp2040::open(regs, delay, setup) {
        Ok(camera) => {
            say(
                board,
                format_args!("camera: OV7675 on GP2-GP17, QQVGA RGB565 at 1 fps"),
            );
            Some(PicoOv7675(camera))
        }
        Err(e) => {
            say(board, format_args!("camera: none: {e}"));
            None
        }
    }
}

impl Camera for PicoOv7675 {
    type Error = ov7675::Error<I2cError>;

    /// With interrupts masked, as the Arduino library does on the Nano: the
    /// driver polls PCLK in tight loops, and an interrupt that outlasts a
    /// pixel clock period would make it miss a byte and shift the rest of
    /// the row. SysTick's wrap count (`rp2040.rs`) therefore misses the
    /// wraps of a capture, up to one per 134 ms: the counter falls behind by
    /// about a capture's length each photo, which only stretches the time
    /// between photos (the DSP and classification times are measured
    /// outside the capture).
    fn capture(&mut self, buffer: &mut [u8]) -> Result<Frame, Self::Error> {
        cortex_m::interrupt::free(|_| self.0.capture_into(buffer))
    }
}
