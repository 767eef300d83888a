//! The camera's ports on the real boards, at the register level: the
//! Nano 33 BLE Sense with the Tiny ML Kit's shield ([`nrf52840`]) and a
//! Pico with an OV7670/OV7675 module on jumper wires ([`rp2040`]).
//!
//! Each port turns the board's registers into what the
//! [`Ov7675`](crate::ov7675::Ov7675) driver needs: the sensor's clock
//! (XCLK), SCCB over the chip's I2C controller, and the 8-bit parallel port
//! read from the GPIO input register. Every register access goes through
//! [`Registers`]: on a board that is [`Mmio`] (volatile loads and stores,
//! which inline to single instructions in the capture loop), in the host
//! tests a simulated register file with a simulated sensor behind it, so
//! the code the boards run is the code the tests run, line for line. The
//! firmware's board files only open the port and mask interrupts around a
//! capture.
//!
//! Hand-written rather than on `nrf52840-hal` or `rp2040-hal`: those own
//! their peripherals through PAC singletons with no seam where a test could
//! put a simulated chip, and the firmware uses no HAL elsewhere (its board
//! files are register code too). The few registers each port touches are
//! named beside the datasheet section that defines them.

pub mod nrf52840;
pub mod rp2040;

use core::fmt;

use crate::ov7675;

/// A microcontroller's 32-bit memory-mapped registers.
pub trait Registers {
    fn read(&self, address: u32) -> u32;
    fn write(&self, address: u32, value: u32);
    /// The bus address a DMA engine must be given to reach `buffer` (the
    /// nRF52840's EasyDMA is handed RAM addresses in registers). On the
    /// board it is the pointer itself; a simulation maps it to the host's
    /// memory.
    fn dma_address(&self, buffer: *const u8) -> u32;
}

/// The board's own registers, by volatile access.
#[derive(Debug, Clone, Copy)]
pub struct Mmio {
    _private: (),
}

impl Mmio {
    /// # Safety
    ///
    /// Only on the microcontroller the port is written for: every address a
    /// port reads or writes must be that chip's register. The ports touch
    /// only the peripherals their documentation names, so the caller must
    /// not hand those peripherals to other code at the same time.
    pub const unsafe fn new() -> Self {
        Mmio { _private: () }
    }
}

impl Registers for Mmio {
    #[inline(always)]
    fn read(&self, address: u32) -> u32 {
        // SAFETY: `Mmio::new`'s contract: `address` is a register of this chip.
        unsafe { core::ptr::read_volatile(address as usize as *const u32) }
    }

    #[inline(always)]
    fn write(&self, address: u32, value: u32) {
        // SAFETY: as for `read`.
        unsafe { core::ptr::write_volatile(address as usize as *mut u32, value) }
    }

    #[inline(always)]
    fn dma_address(&self, buffer: *const u8) -> u32 {
        // Both boards have a 32-bit address space.
        buffer as usize as u32
    }
}

/// Polls `done` up to `polls` times; whether it became true. Every wait of
/// the ports is bounded by one of these, so a missing or stuck peripheral
/// is an error instead of a hang.
#[inline(always)]
fn poll_until(polls: u32, mut done: impl FnMut() -> bool) -> bool {
    (0..polls).any(|_| done())
}

/// Why a port could not give the board a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError<E> {
    /// A pin the camera needs is in use by a peripheral the board set up
    /// (e.g. its serial port); the camera touched nothing.
    PinTaken {
        /// The pin, as `P1.03`, and the camera signal on it.
        pin: &'static str,
        signal: &'static str,
        /// The peripheral that holds it.
        by: &'static str,
    },
    /// A peripheral the port needs did not come out of reset.
    NoReset(&'static str),
    /// The sensor did not answer or could not be set up (the port has
    /// switched its clock and bus off again).
    Camera(ov7675::Error<E>),
}

impl<E: fmt::Debug> fmt::Display for OpenError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::PinTaken { pin, signal, by } => write!(
                f,
                "{pin} carries the camera's {signal} but {by} uses it; the camera needs that pin"
            ),
            OpenError::NoReset(what) => write!(f, "{what} did not come out of reset"),
            OpenError::Camera(e) => write!(f, "{e}"),
        }
    }
}
