//! The two buses the OV7675 hangs on, as the small traits the board
//! implements.

use embedded_hal::i2c::I2c;

/// The sensor's 7-bit address on SCCB (0x42 for writes and 0x43 for reads
/// in the 8-bit notation of OmniVision's and Linux's documentation).
pub const SCCB_ADDRESS: u8 = 0x21;

/// OmniVision's Serial Camera Control Bus: I2C-like, one register per
/// transfer.
pub trait Sccb {
    type Error;

    fn write(&mut self, register: u8, value: u8) -> Result<(), Self::Error>;
    fn read(&mut self, register: u8) -> Result<u8, Self::Error>;
}

/// SCCB over any `embedded-hal` I2C bus. A register read is two
/// transactions, each ending with a STOP: SCCB has no repeated start, which
/// is why the Arduino library calls `endTransmission()` before
/// `requestFrom()` and why `I2c::write_read` must not be used.
pub struct I2cSccb<I> {
    i2c: I,
}

impl<I> I2cSccb<I> {
    pub fn new(i2c: I) -> Self {
        Self { i2c }
    }

    pub fn release(self) -> I {
        self.i2c
    }
}

impl<I: I2c> Sccb for I2cSccb<I> {
    type Error = I::Error;

    fn write(&mut self, register: u8, value: u8) -> Result<(), I::Error> {
        self.i2c.write(SCCB_ADDRESS, &[register, value])
    }

    fn read(&mut self, register: u8) -> Result<u8, I::Error> {
        self.i2c.write(SCCB_ADDRESS, &[register])?;
        let mut value = [0];
        self.i2c.read(SCCB_ADDRESS, &mut value)?;
        Ok(value[0])
    }
}

/// The sensor's 8-bit parallel video port, read by polling. Each method is
/// one read of the input pins; the driver calls them in tight loops, so a
/// board implements them as single register reads (on the Nano 33 BLE the
/// data lines sit on P1 bits 2, 3 and 10-15, gathered with two masks and a
/// shift, as the Arduino library's `readFrame` does).
pub trait ParallelPort {
    /// Frame sync: high between frames.
    fn vsync(&mut self) -> bool;
    /// Line valid: high while a row's bytes are clocked out.
    fn href(&mut self) -> bool;
    /// Pixel clock: each rising edge while HREF is high carries one byte.
    fn pclk(&mut self) -> bool;
    /// D7..D0.
    fn data(&mut self) -> u8;
}
