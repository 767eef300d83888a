//! What the application needs from a board: a serial port, a free-running
//! counter to time inference with, and the numbers to interpret it.
//!
//! One implementation per board, chosen by cargo feature; each touches only
//! the handful of registers it needs (clock, one UART, one counter), with the
//! reference-manual section named beside them, instead of pulling in a HAL
//! and its PAC: the firmware builds in seconds and its flash is the model's.
//! The real boards' USB serial ports are the exception (`*_usb.rs`): a USB
//! device controller is too much to drive by hand, so each uses its chip's
//! well-kept `usb-device` bus driver under the shared glue in
//! `tinystudio_device::usb_serial`.
//! The real boards' cameras (`*_camera.rs`) are thin: their register code
//! is `tinystudio_device::ports`, which the host tests run against
//! simulated chips and a simulated sensor.

#[cfg(feature = "mps2-an386")]
mod mps2;
#[cfg(feature = "mps2-an386")]
pub use mps2::Mps2 as Current;

#[cfg(feature = "nano33ble")]
mod nrf52840;
#[cfg(feature = "nano33ble")]
mod nrf52840_camera;
#[cfg(feature = "nano33ble")]
mod nrf52840_usb;
#[cfg(feature = "nano33ble")]
pub use nrf52840::Nano33Ble as Current;

#[cfg(feature = "pico")]
mod rp2040;
#[cfg(feature = "pico")]
mod rp2040_camera;
#[cfg(feature = "pico")]
mod rp2040_usb;
#[cfg(feature = "pico")]
pub use rp2040::Pico as Current;

/// What one count of [`Board::counter`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterUnit {
    /// Core clock cycles (DWT CYCCNT, SysTick).
    Cycles,
    /// Executed instructions: the emulated MPS2's timer under QEMU's
    /// `-icount shift=0`, where virtual time advances 1 ns per instruction.
    Instructions,
}

pub use tinystudio_device::camera::{Camera, Frame};

/// Busy-waits on the core clock (`cortex_m::asm::delay` waits at least the
/// cycles asked): the camera's set-up waits (1 s after power-up, 1 to 10 ms
/// after resets) need no timer, and the boards' counters stay the app's.
#[cfg(any(feature = "nano33ble", feature = "pico"))]
pub struct CoreDelay {
    pub hz: u32,
}

#[cfg(any(feature = "nano33ble", feature = "pico"))]
impl embedded_hal::delay::DelayNs for CoreDelay {
    fn delay_ns(&mut self, ns: u32) {
        // At most 4.3 s at 125 MHz: 537 M cycles, within u32.
        let cycles = u64::from(ns) * u64::from(self.hz) / 1_000_000_000;
        cortex_m::asm::delay(cycles as u32);
    }
}

/// Prints one line through the board's serial port (the camera's boot line).
#[cfg(any(feature = "nano33ble", feature = "pico"))]
fn say<B: Board>(board: &mut B, line: core::fmt::Arguments<'_>) {
    use core::fmt::Write;
    struct Out<'a, B: Board>(&'a mut B);
    impl<B: Board> Write for Out<'_, B> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let _ = write!(Out(board), "{line}\r\n");
}

pub trait Board: Sized {
    /// Board name, printed in the `ready` line.
    const NAME: &'static str;
    /// The core clock: the printed milliseconds are the
    /// [`counter_cost`](Self::counter_cost) at this clock, one instruction
    /// per cycle where the cost counts instructions (the studio's latency
    /// figures use the same rule, so the two agree).
    const CPU_HZ: u32;
    /// What [`counter_cost`](Self::counter_cost) counts.
    const COST_UNIT: CounterUnit;
    /// How long the sender may pause inside a frame, in counter ticks.
    const FRAME_TIMEOUT_TICKS: u64;

    /// Sets up clocks, the serial port and the counter; called once at reset.
    fn init() -> Self;
    /// Free-running, monotonic counter.
    fn counter(&mut self) -> u64;
    /// Converts counter ticks to the cost unit (instructions or cycles).
    fn counter_cost(ticks: u64) -> u64;
    /// Sends bytes (blocking).
    fn write(&mut self, bytes: &[u8]);
    /// A received byte, if one is waiting (non-blocking).
    fn read_byte(&mut self) -> Option<u8>;
    /// Sends bytes without a board instance, for the panic handler (the
    /// serial port was set up by `init`).
    fn emergency_write(bytes: &[u8]);

    /// The board's camera (on the emulated board, frames the host provides).
    type Camera: Camera<Error: core::fmt::Display>;
    /// The camera, when there is one and it answered at start-up.
    fn camera(&mut self) -> Option<&mut Self::Camera>;
}

/// Prints the panic message on the serial port, then stops.
pub fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    struct Emergency;
    impl Write for Emergency {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            Current::emergency_write(s.as_bytes());
            Ok(())
        }
    }
    let _ = write!(Emergency, "panic: {info}\r\n");
    loop {
        cortex_m::asm::wfi();
    }
}
