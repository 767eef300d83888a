//! The OmniVision OV7675 of the Arduino Tiny Machine Learning Kit (on the
//! Nano 33 BLE Sense's shield), in RGB565 at QVGA or QQVGA.
//!
//! Set-up follows the Arduino_OV767X library's `Camera.begin(res, RGB565,
//! fps, OV7675)` register for register, including its order and waits
//! ([`regs`] cites each table). Capture follows its `readFrame`, with two
//! differences: every wait gives up after a bounded number of polls
//! ([`PollLimits`]), so a missing or stalled sensor is an error instead of a
//! hang, and each byte is read after the rising edge of PCLK, where the
//! sensor's data is valid, rather than while PCLK is low.
//!
//! The driver polls the port in tight loops: run [`Ov7675::capture`] with
//! interrupts masked (the Arduino library does too), or an interrupt that
//! outlasts a pixel clock period shifts the bytes and the capture fails.

pub mod bus;
pub mod regs;

use core::fmt;

use embedded_hal::delay::DelayNs;

pub use bus::{I2cSccb, ParallelPort, SCCB_ADDRESS, Sccb};

use crate::camera::{Camera, Frame, PixelFormat};
use regs::*;

/// The frame sizes this driver sets up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// 320 x 240: 153,600 bytes in RGB565.
    Qvga,
    /// 160 x 120: 38,400 bytes in RGB565.
    Qqvga,
}

impl Resolution {
    pub const fn size(self) -> (usize, usize) {
        match self {
            Resolution::Qvga => (320, 240),
            Resolution::Qqvga => (160, 120),
        }
    }

    const fn window(self) -> &'static Window {
        match self {
            Resolution::Qvga => &QVGA,
            Resolution::Qqvga => &QQVGA,
        }
    }
}

/// How long each wait of a capture may poll before it gives up. A poll is
/// one call of a [`ParallelPort`] method plus the loop around it (a few
/// cycles when the calls inline to register reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollLimits {
    /// Waiting for VSYNC to rise, and then to fall: up to a whole frame.
    pub frame: u32,
    /// Waiting for HREF to rise (blanking, and the 17 lines after VSYNC) or
    /// to fall at the end of a row.
    pub line: u32,
    /// Waiting for one PCLK edge.
    pub pixel: u32,
}

impl Default for PollLimits {
    /// For the Nano 33 BLE (64 MHz, roughly 5 cycles a poll): about 3 s for
    /// a frame start (a frame lasts 1 s at 1 fps), 150 ms for a row start,
    /// 0.8 ms for a pixel clock edge (half a period lasts about 0.5 µs at
    /// 1 fps).
    fn default() -> Self {
        Self {
            frame: 40_000_000,
            line: 2_000_000,
            pixel: 10_000,
        }
    }
}

/// What [`Ov7675::init`] sets up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub resolution: Resolution,
    /// Frames per second, 1 to 30. The Arduino library allows only 1 and 5
    /// on the Nano 33 BLE: faster, its polling loop cannot keep up with PCLK.
    pub fps: u8,
    /// The clock the board feeds the sensor on XCLK (the Nano 33 BLE makes
    /// 16 MHz with its I2S peripheral's master clock).
    pub xclk_mhz: u8,
    /// Time the board's clock and supply need before the sensor answers
    /// (the Arduino library waits 1 s after starting XCLK).
    pub power_up_ms: u32,
    pub polls: PollLimits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            resolution: Resolution::Qqvga,
            fps: 1,
            xclk_mhz: 16,
            power_up_ms: 1000,
            polls: PollLimits::default(),
        }
    }
}

/// Which wait of a capture gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// VSYNC never rose: no sensor clock, or the sensor is not streaming.
    FrameStart,
    /// VSYNC never fell again.
    FrameSyncEnd,
    /// HREF never rose for a row.
    LineStart,
    /// PCLK stopped in the middle of a row.
    PixelClockLow,
    PixelClockHigh,
    /// HREF never fell after a row.
    LineEnd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<E> {
    /// An SCCB transfer failed: nothing answers at 0x21 (camera missing,
    /// unpowered, or without XCLK) or the bus is broken.
    Bus(E),
    /// Something answers, but it is not an OV7675: `register` held `found`.
    WrongSensor {
        register: u8,
        expected: u8,
        found: u8,
    },
    /// `fps` outside 1 to 30, or `xclk_mhz` of 0.
    UnsupportedConfig(&'static str),
    /// [`Ov7675::capture`] before a successful [`Ov7675::init`].
    NotInitialised,
    BufferTooSmall {
        needed: usize,
        available: usize,
    },
    /// A wait of the capture gave up at `row` (and `byte` within it).
    Timeout {
        wait: Wait,
        row: usize,
        byte: usize,
    },
    /// PCLK kept clocking bytes after the row was complete: the sensor sends
    /// another frame size than the one set up.
    LineTooLong {
        row: usize,
    },
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Bus(e) => write!(
                f,
                "camera bus error (is the OV7675 connected and clocked?): {e:?}"
            ),
            Error::WrongSensor {
                register,
                expected,
                found,
            } => write!(
                f,
                "not an OV7675: register {register:#04x} holds {found:#04x}, expected {expected:#04x}"
            ),
            Error::UnsupportedConfig(what) => write!(f, "unsupported camera configuration: {what}"),
            Error::NotInitialised => write!(f, "camera capture before a successful init"),
            Error::BufferTooSmall { needed, available } => write!(
                f,
                "camera frame needs {needed} bytes, the buffer holds {available}"
            ),
            Error::Timeout { wait, row, byte } => {
                write!(
                    f,
                    "camera stalled: {wait:?} timed out at row {row}, byte {byte}"
                )
            }
            Error::LineTooLong { row } => write!(
                f,
                "camera row {row} is longer than set up (wrong frame size from the sensor)"
            ),
        }
    }
}

/// The driver. `B` talks to the registers, `P` reads the video port, `D`
/// waits.
pub struct Ov7675<B, P, D> {
    bus: B,
    port: P,
    delay: D,
    config: Config,
    ready: bool,
}

impl<B: Sccb, P: ParallelPort, D: DelayNs> Ov7675<B, P, D> {
    /// Touches no hardware; [`init`](Self::init) does.
    pub fn new(bus: B, port: P, delay: D, config: Config) -> Self {
        Self {
            bus,
            port,
            delay,
            config,
            ready: false,
        }
    }

    pub fn release(self) -> (B, P, D) {
        (self.bus, self.port, self.delay)
    }

    /// The frame every capture returns.
    pub fn frame(&self) -> Frame {
        let (width, height) = self.config.resolution.size();
        Frame {
            width,
            height,
            format: PixelFormat::Rgb565,
        }
    }

    /// Checks that an OV7675 answers and sets it up as `config` says: the
    /// Arduino library's `begin()` after it starts XCLK (`ov7670_detect`,
    /// `ov7670_s_power`, `ov7675_set_framerate`), in the same order.
    pub fn init(&mut self) -> Result<(), Error<B::Error>> {
        self.ready = false;
        let clkrc = self.clkrc()?;
        let window = self.config.resolution.window();
        self.delay.delay_ms(self.config.power_up_ms);

        // ov7670_detect: reset and defaults, then the identity.
        self.write_all(DEFAULT_REGS)?;
        for &(register, expected) in &IDENTITY {
            let found = self.bus.read(register).map_err(Error::Bus)?;
            if found != expected {
                return Err(Error::WrongSensor {
                    register,
                    expected,
                    found,
                });
            }
        }

        // ov7670_s_power(1): defaults again, then ov7670_apply_fmt. COM7
        // carries the format and the window size; COM10 keeps PCLK quiet
        // during blanking (pclk_hb_disable).
        self.write_all(DEFAULT_REGS)?;
        self.write(REG_COM7, FMT_RGB565[0].1 | window.com7)?;
        self.write(REG_COM10, COM10_PCLK_HB)?;
        self.write_all(&FMT_RGB565[1..])?;
        self.set_window(window)?;
        self.write_all(window.regs)?;
        // The reference writes its clock divider here before the frame rate
        // has set it (0), then again with the PLL (ov7675_apply_framerate),
        // then the real one (ov7675_set_framerate).
        self.write(REG_CLKRC, 0)?;
        self.write(REG_CLKRC, 0)?;
        self.write(REG_DBLV, DBLV_X4)?;
        self.write(REG_CLKRC, clkrc)?;
        self.write(REG_DBLV, DBLV_X4)?;
        self.ready = true;
        Ok(())
    }

    /// `ov7675_set_framerate` with the PLL at x4: frames per second are
    /// `5/4 * xclk * 4 / (clkrc + 1)` for RGB, so
    /// `clkrc = 5 * xclk / fps - 1`, bypassed at 0 and capped at 63.
    fn clkrc(&self) -> Result<u8, Error<B::Error>> {
        let Config { fps, xclk_mhz, .. } = self.config;
        if !(1..=30).contains(&fps) {
            return Err(Error::UnsupportedConfig("fps must be 1 to 30"));
        }
        if xclk_mhz == 0 {
            return Err(Error::UnsupportedConfig("xclk_mhz must not be 0"));
        }
        let divider = (5 * 4 * u32::from(xclk_mhz)) / (4 * u32::from(fps));
        Ok(match divider.saturating_sub(1) {
            0 => CLK_EXT,
            d => d.min(u32::from(CLK_SCALE)) as u8,
        })
    }

    /// `ov7670_set_hw`: the window's start and stop, whose low bits share
    /// HREF and VREF with other fields (read, modify, write, after 10 ms as
    /// the reference waits).
    fn set_window(&mut self, w: &Window) -> Result<(), Error<B::Error>> {
        self.write(REG_HSTART, (w.hstart >> 3) as u8)?;
        self.write(REG_HSTOP, (w.hstop >> 3) as u8)?;
        let href = self.bus.read(REG_HREF).map_err(Error::Bus)?;
        let href = (href & 0xc0) | (((w.hstop & 0x7) as u8) << 3) | (w.hstart & 0x7) as u8;
        self.delay.delay_ms(10);
        self.write(REG_HREF, href)?;
        self.write(REG_VSTART, (w.vstart >> 2) as u8)?;
        self.write(REG_VSTOP, (w.vstop >> 2) as u8)?;
        let vref = self.bus.read(REG_VREF).map_err(Error::Bus)?;
        let vref = (vref & 0xf0) | (((w.vstop & 0x3) as u8) << 2) | (w.vstart & 0x3) as u8;
        self.delay.delay_ms(10);
        self.write(REG_VREF, vref)
    }

    fn write_all(&mut self, table: &[(u8, u8)]) -> Result<(), Error<B::Error>> {
        table.iter().try_for_each(|&(r, v)| self.write(r, v))
    }

    /// One register write; a reset needs 5 ms before the next (the
    /// reference's `ov7670_write`).
    fn write(&mut self, register: u8, value: u8) -> Result<(), Error<B::Error>> {
        self.bus.write(register, value).map_err(Error::Bus)?;
        if register == REG_COM7 && value & COM7_RESET != 0 {
            self.delay.delay_ms(5);
        }
        Ok(())
    }

    /// Captures the next whole frame: waits for VSYNC to pulse, then reads
    /// each row's bytes on the rising edges of PCLK while HREF is high.
    pub fn capture_into(&mut self, buffer: &mut [u8]) -> Result<Frame, Error<B::Error>> {
        if !self.ready {
            return Err(Error::NotInitialised);
        }
        let frame = self.frame();
        let available = buffer.len();
        let buffer = buffer.get_mut(..frame.len()).ok_or(Error::BufferTooSmall {
            needed: frame.len(),
            available,
        })?;
        let limits = self.config.polls;
        let port = &mut self.port;
        let timeout = |wait, row, byte| Error::Timeout { wait, row, byte };

        if !wait_for(limits.frame, || port.vsync()) {
            return Err(timeout(Wait::FrameStart, 0, 0));
        }
        if !wait_for(limits.frame, || !port.vsync()) {
            return Err(timeout(Wait::FrameSyncEnd, 0, 0));
        }
        let stride = frame.width * frame.format.bytes_per_pixel();
        for (row, bytes) in buffer.chunks_exact_mut(stride).enumerate() {
            if !wait_for(limits.line, || port.href()) {
                return Err(timeout(Wait::LineStart, row, 0));
            }
            for (byte, slot) in bytes.iter_mut().enumerate() {
                if !wait_for(limits.pixel, || !port.pclk()) {
                    return Err(timeout(Wait::PixelClockLow, row, byte));
                }
                if !wait_for(limits.pixel, || port.pclk()) {
                    return Err(timeout(Wait::PixelClockHigh, row, byte));
                }
                *slot = port.data();
            }
            // HREF falls before the next rising edge of PCLK, or the row
            // is longer than the frame set up.
            let mut clock_was_low = false;
            let mut ended = false;
            for _ in 0..limits.line {
                if !port.href() {
                    ended = true;
                    break;
                }
                let clock = port.pclk();
                if clock && clock_was_low {
                    return Err(Error::LineTooLong { row });
                }
                clock_was_low = !clock;
            }
            if !ended {
                return Err(timeout(Wait::LineEnd, row, stride));
            }
        }
        Ok(frame)
    }
}

/// Polls `ready` up to `polls` times; whether it became true.
#[inline(always)]
fn wait_for(polls: u32, mut ready: impl FnMut() -> bool) -> bool {
    (0..polls).any(|_| ready())
}

impl<B: Sccb, P: ParallelPort, D: DelayNs> Camera for Ov7675<B, P, D> {
    type Error = Error<B::Error>;

    fn capture(&mut self, buffer: &mut [u8]) -> Result<Frame, Self::Error> {
        self.capture_into(buffer)
    }
}
