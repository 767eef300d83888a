//! An OV7670/OV7675 camera module (the common 18-pin board without FIFO)
//! on a Raspberry Pi Pico, with jumper wires:
//!
//! | module pin | Pico | header pin | peripheral |
//! | --- | --- | --- | --- |
//! | D0 .. D7 | GP2 .. GP9 | 4, 5, 6, 7, 9, 10, 11, 12 | SIO in |
//! | VSYNC | GP10 | 14 | SIO in |
//! | HREF | GP11 | 15 | SIO in |
//! | PCLK | GP12 | 16 | SIO in |
//! | XCLK | GP13 | 17 | PWM slice 6 B, 15.625 MHz |
//! | PWDN | GP14 | 19 | SIO out, low = on |
//! | RESET | GP15 | 20 | SIO out, low = reset |
//! | SIOD | GP16 | 21 | I2C0 SDA, 100 kHz |
//! | SIOC | GP17 | 22 | I2C0 SCL |
//! | 3.3V | 3V3(OUT) | 36 | |
//! | GND | GND | 38 (or any) | |
//!
//! GP0 and GP1 stay the firmware's UART. Register addresses and fields cite
//! the RP2040 datasheet ("DS").
//!
//! - **Parallel port**: the data lines on eight consecutive GPIOs, so one
//!   read of SIO's GPIO_IN (DS §2.3.1.2, a single-cycle I/O port on the
//!   Cortex-M0+) shifted right by 2 is the byte, and the same read holds
//!   VSYNC, HREF and PCLK.
//! - **XCLK** from a PWM slice (DS §4.5): clk_sys / 8 with TOP = 7 and the
//!   compare at 4, a square wave at 15.625 MHz, inside the sensor's 10 to
//!   48 MHz and close to the Nano 33 BLE's 16 MHz, so the same frame-rate
//!   set-up gives nearly the same timing.
//! - **SCCB** on I2C0 (DS §4.3, Synopsys DW_apb_i2c) at 100 kbit/s, set up
//!   as the Pico SDK's `i2c_init`; each register write is one transfer
//!   ending in STOP, each read a write of the register number then a read,
//!   both ending in STOP (SCCB has no repeated start). Every wait is
//!   bounded.
//! - **Power and reset**: PWDN low powers the sensor, RESET is pulsed low
//!   for 1 ms with XCLK running; on failure PWDN goes high again.

use embedded_hal::delay::DelayNs;

use super::{OpenError, Registers, poll_until};
use crate::ov7675::{Config, Ov7675, ParallelPort, SCCB_ADDRESS, Sccb};

/// GPIO numbers of the wiring above.
pub const D0: u32 = 2;
pub const VSYNC: u32 = 10;
pub const HREF: u32 = 11;
pub const PCLK: u32 = 12;
pub const XCLK: u32 = 13;
pub const PWDN: u32 = 14;
pub const RESET: u32 = 15;
pub const SIOD: u32 = 16;
pub const SIOC: u32 = 17;

/// The system clock the board runs at (the firmware's `rp2040.rs` sets
/// PLL_SYS to 125 MHz); XCLK and the I2C timing are derived from it.
pub const CLK_SYS_HZ: u32 = 125_000_000;
/// PWM TOP: the counter wraps after TOP + 1 = 8 cycles.
pub const XCLK_TOP: u32 = 7;
pub const XCLK_HZ: u32 = CLK_SYS_HZ / (XCLK_TOP + 1);

// The eight data lines are the byte at D0 of one GPIO_IN read, below the
// sync lines.
const _: () = assert!(D0 + 8 <= VSYNC && D0 + 8 <= HREF && D0 + 8 <= PCLK);

// Register aliases that clear bits atomically (DS §2.1.2).
const CLR: u32 = 0x3000;

// RESETS (DS §2.14).
pub const RESETS: u32 = 0x4000_c000;
pub const RESETS_RESET: u32 = 0x0;
pub const RESETS_RESET_DONE: u32 = 0x8;
pub const RESET_I2C0: u32 = 1 << 3;
pub const RESET_IO_BANK0: u32 = 1 << 5;
pub const RESET_PADS_BANK0: u32 = 1 << 8;
pub const RESET_PWM: u32 = 1 << 14;

// IO_BANK0 (DS §2.19.6.1): GPIOn_CTRL at 0x04 + 8n, FUNCSEL in bits 4:0
// (function numbers from the DS §2.19.2 table).
pub const IO_BANK0: u32 = 0x4001_4000;
pub const FUNCSEL_I2C: u32 = 3;
pub const FUNCSEL_PWM: u32 = 4;
pub const FUNCSEL_SIO: u32 = 5;
pub const FUNCSEL_NULL: u32 = 0x1f;

// PADS_BANK0 (DS §2.19.6.3): GPIOn at 0x04 + 4n. Fields: SLEWFAST (bit 0),
// SCHMITT (1), PDE pull-down (2), PUE pull-up (3), DRIVE (5:4: 0 = 2 mA,
// 1 = 4 mA, 2 = 8 mA), IE input enable (6), OD output disable (7).
pub const PADS_BANK0: u32 = 0x4001_c000;
/// Camera outputs read by the Pico: input, Schmitt trigger, pulled down so
/// an unconnected line reads 0.
pub const PAD_INPUT: u32 = (1 << 6) | (1 << 2) | (1 << 1);
/// SIOC and SIOD: input, Schmitt trigger, pulled up as the SDK's examples
/// do (the module may lack resistors; 4.7 kOhm to 3.3 V is better).
pub const PAD_I2C: u32 = (1 << 6) | (1 << 3) | (1 << 1);
/// XCLK: 8 mA and fast slew for a 15.6 MHz square wave on a jumper wire.
pub const PAD_CLOCK: u32 = (1 << 6) | (2 << 4) | (1 << 1) | 1;
/// PWDN and RESET: 4 mA outputs, no pulls.
pub const PAD_OUTPUT: u32 = (1 << 6) | (1 << 4) | (1 << 1);

// SIO (DS §2.3.1.7).
pub const SIO: u32 = 0xd000_0000;
pub const SIO_GPIO_IN: u32 = 0x004;
pub const SIO_GPIO_OUT_SET: u32 = 0x014;
pub const SIO_GPIO_OUT_CLR: u32 = 0x018;
pub const SIO_GPIO_OE_SET: u32 = 0x024;

// PWM (DS §4.5.3): slice n's registers at 0x14 * n.
pub const PWM: u32 = 0x4005_0000;
pub const PWM_CSR: u32 = 0x00;
pub const PWM_DIV: u32 = 0x04;
pub const PWM_CC: u32 = 0x0c;
pub const PWM_TOP: u32 = 0x10;
/// GPIO n is PWM slice (n / 2) mod 8, channel A when n is even, B when odd
/// (DS §4.5.2).
pub const XCLK_SLICE: u32 = (XCLK / 2) % 8;
/// DIV: INT in bits 11:4, FRAC in bits 3:0; 1.0 = no division.
pub const PWM_DIV_1: u32 = 1 << 4;

// I2C0 (DS §4.3, List of Registers).
pub const I2C0: u32 = 0x4004_4000;
pub const IC_CON: u32 = 0x00;
pub const IC_TAR: u32 = 0x04;
pub const IC_DATA_CMD: u32 = 0x10;
pub const IC_FS_SCL_HCNT: u32 = 0x1c;
pub const IC_FS_SCL_LCNT: u32 = 0x20;
pub const IC_RAW_INTR_STAT: u32 = 0x34;
pub const IC_RX_TL: u32 = 0x38;
pub const IC_TX_TL: u32 = 0x3c;
pub const IC_CLR_TX_ABRT: u32 = 0x54;
pub const IC_CLR_STOP_DET: u32 = 0x60;
pub const IC_ENABLE: u32 = 0x6c;
pub const IC_RXFLR: u32 = 0x78;
pub const IC_SDA_HOLD: u32 = 0x7c;
pub const IC_TX_ABRT_SOURCE: u32 = 0x80;
pub const IC_FS_SPKLEN: u32 = 0xa0;
/// IC_CON: MASTER_MODE (bit 0), SPEED fast (2 in bits 2:1; the SDK always
/// uses the fast-mode counters), IC_RESTART_EN (5), IC_SLAVE_DISABLE (6),
/// TX_EMPTY_CTRL (8).
pub const IC_CON_MASTER: u32 = 1 | (2 << 1) | (1 << 5) | (1 << 6) | (1 << 8);
/// IC_DATA_CMD: CMD (bit 8, 1 = read), STOP (bit 9).
pub const DATA_CMD_READ: u32 = 1 << 8;
pub const DATA_CMD_STOP: u32 = 1 << 9;
/// IC_RAW_INTR_STAT: TX_EMPTY (bit 4), STOP_DET (bit 9).
pub const INTR_TX_EMPTY: u32 = 1 << 4;
pub const INTR_STOP_DET: u32 = 1 << 9;
/// IC_TX_ABRT_SOURCE: ABRT_7B_ADDR_NOACK (bit 0), ABRT_TXDATA_NOACK (bit 3).
pub const ABRT_7B_ADDR_NOACK: u32 = 1 << 0;
pub const ABRT_TXDATA_NOACK: u32 = 1 << 3;

/// 100 kbit/s from clk_peri = clk_sys, as the SDK's `i2c_set_baudrate`:
/// a period of 1250 cycles, 3/5 of it low.
pub const I2C_HZ: u32 = 100_000;
pub const I2C_PERIOD: u32 = (CLK_SYS_HZ + I2C_HZ / 2) / I2C_HZ;
pub const I2C_LCNT: u32 = I2C_PERIOD * 3 / 5;
pub const I2C_HCNT: u32 = I2C_PERIOD - I2C_LCNT;
/// Spikes shorter than this are filtered (the SDK's lcnt / 16).
pub const I2C_SPKLEN: u32 = if I2C_LCNT < 16 { 1 } else { I2C_LCNT / 16 };
/// SDA hold after SCL falls: 300 ns in clk_peri cycles, plus one.
pub const I2C_SDA_HOLD: u32 = CLK_SYS_HZ * 3 / 10_000_000 + 1;

/// Polls of an I2C status before a transfer counts as stuck: a byte at
/// 100 kbit/s is 90 us, some 2,000 polls at 125 MHz; this allows 50 times
/// that.
pub const I2C_POLLS: u32 = 100_000;

/// The camera on the Pico: the driver over this board's SCCB and port.
pub type PicoCamera<R, D> = Ov7675<I2c0<R>, PicoPort<R>, D>;

/// Sets up the module and checks that it answers: the peripherals out of
/// reset, the pins, XCLK, power-up and reset, I2C0, then [`Ov7675::init`]
/// (about 1.1 s). `config.xclk_mhz` is replaced by the clock this port
/// makes (15, for the frame-rate divider). On failure XCLK and I2C0 are
/// stopped again and the sensor is powered down (PWDN high).
pub fn open<R: Registers + Clone, D: DelayNs>(
    regs: R,
    mut delay: D,
    config: Config,
) -> Result<PicoCamera<R, D>, OpenError<I2cError>> {
    let peripherals = RESET_IO_BANK0 | RESET_PADS_BANK0 | RESET_I2C0 | RESET_PWM;
    regs.write(RESETS + RESETS_RESET + CLR, peripherals);
    if !poll_until(I2C_POLLS, || {
        regs.read(RESETS + RESETS_RESET_DONE) & peripherals == peripherals
    }) {
        return Err(OpenError::NoReset("IO_BANK0, PADS_BANK0, I2C0 or PWM"));
    }
    let bit = |gpio: u32| 1u32 << gpio;

    for gpio in (D0..D0 + 8).chain([VSYNC, HREF, PCLK]) {
        regs.write(pad(gpio), PAD_INPUT);
        regs.write(ctrl(gpio), FUNCSEL_SIO);
    }

    // XCLK first: the sensor takes its reset on the clock.
    let slice = PWM + 0x14 * XCLK_SLICE;
    regs.write(slice + PWM_CSR, 0);
    regs.write(slice + PWM_DIV, PWM_DIV_1);
    regs.write(slice + PWM_TOP, XCLK_TOP);
    // High for half of the TOP + 1 cycles; channel A's compare is CC bits
    // 15:0, B's bits 31:16.
    let high = XCLK_TOP.div_ceil(2);
    regs.write(
        slice + PWM_CC,
        if XCLK.is_multiple_of(2) {
            high
        } else {
            high << 16
        },
    );
    regs.write(slice + PWM_CSR, 1); // EN
    regs.write(pad(XCLK), PAD_CLOCK);
    regs.write(ctrl(XCLK), FUNCSEL_PWM);

    // Powered (PWDN low) and held in reset, then released.
    regs.write(SIO + SIO_GPIO_OUT_CLR, bit(PWDN) | bit(RESET));
    regs.write(SIO + SIO_GPIO_OE_SET, bit(PWDN) | bit(RESET));
    for gpio in [PWDN, RESET] {
        regs.write(pad(gpio), PAD_OUTPUT);
        regs.write(ctrl(gpio), FUNCSEL_SIO);
    }
    delay.delay_ms(1);
    regs.write(SIO + SIO_GPIO_OUT_SET, bit(RESET));

    let i2c = I2c0::new(regs.clone());
    let config = Config {
        xclk_mhz: (XCLK_HZ / 1_000_000) as u8,
        ..config
    };
    let mut camera = Ov7675::new(i2c, PicoPort::new(regs.clone()), delay, config);
    match camera.init() {
        Ok(()) => Ok(camera),
        Err(e) => {
            let (i2c, _, _) = camera.release();
            i2c.disable();
            regs.write(slice + PWM_CSR, 0);
            regs.write(ctrl(XCLK), FUNCSEL_NULL);
            regs.write(SIO + SIO_GPIO_OUT_SET, bit(PWDN));
            Err(OpenError::Camera(e))
        }
    }
}

/// GPIOn_CTRL.
pub const fn ctrl(gpio: u32) -> u32 {
    IO_BANK0 + 0x04 + 8 * gpio
}

/// The pad control register of GPIOn.
pub const fn pad(gpio: u32) -> u32 {
    PADS_BANK0 + 0x04 + 4 * gpio
}

/// The module's video port: single reads of SIO's GPIO_IN.
#[derive(Debug, Clone)]
pub struct PicoPort<R> {
    regs: R,
}

impl<R: Registers> PicoPort<R> {
    /// Reads only; [`open`] sets the pins up.
    pub fn new(regs: R) -> Self {
        PicoPort { regs }
    }

    #[inline(always)]
    fn level(&self, gpio: u32) -> bool {
        self.regs.read(SIO + SIO_GPIO_IN) & (1 << gpio) != 0
    }
}

impl<R: Registers> ParallelPort for PicoPort<R> {
    #[inline(always)]
    fn vsync(&mut self) -> bool {
        self.level(VSYNC)
    }

    #[inline(always)]
    fn href(&mut self) -> bool {
        self.level(HREF)
    }

    #[inline(always)]
    fn pclk(&mut self) -> bool {
        self.level(PCLK)
    }

    #[inline(always)]
    fn data(&mut self) -> u8 {
        (self.regs.read(SIO + SIO_GPIO_IN) >> D0) as u8
    }
}

/// Why an I2C0 transfer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum I2cError {
    /// Nothing acknowledged the address: no sensor, no power, no XCLK, or
    /// the sensor still in reset or powered down.
    AddressNack,
    DataNack,
    /// Another abort; the IC_TX_ABRT_SOURCE bits.
    Aborted(u32),
    /// A status never came within [`I2C_POLLS`] polls.
    Timeout,
}

/// SCCB on I2C0 (SIOD on GP16, SIOC on GP17, 100 kbit/s).
pub struct I2c0<R: Registers> {
    regs: R,
}

impl<R: Registers> I2c0<R> {
    /// Sets I2C0 up as the SDK's `i2c_init` and `i2c_set_baudrate` do,
    /// with the sensor's address as the target (IC_TAR can only be written
    /// while the controller is disabled), then the pins.
    pub fn new(regs: R) -> Self {
        let r = &regs;
        r.write(I2C0 + IC_ENABLE, 0);
        r.write(I2C0 + IC_CON, IC_CON_MASTER);
        r.write(I2C0 + IC_TX_TL, 0);
        r.write(I2C0 + IC_RX_TL, 0);
        r.write(I2C0 + IC_FS_SCL_HCNT, I2C_HCNT);
        r.write(I2C0 + IC_FS_SCL_LCNT, I2C_LCNT);
        r.write(I2C0 + IC_FS_SPKLEN, I2C_SPKLEN);
        r.write(I2C0 + IC_SDA_HOLD, I2C_SDA_HOLD);
        r.write(I2C0 + IC_TAR, u32::from(SCCB_ADDRESS));
        r.write(I2C0 + IC_ENABLE, 1);
        for gpio in [SIOD, SIOC] {
            r.write(pad(gpio), PAD_I2C);
            r.write(ctrl(gpio), FUNCSEL_I2C);
        }
        I2c0 { regs }
    }

    /// Disables I2C0 and gives its pins back.
    pub fn disable(self) {
        self.regs.write(I2C0 + IC_ENABLE, 0);
        for gpio in [SIOD, SIOC] {
            self.regs.write(ctrl(gpio), FUNCSEL_NULL);
        }
    }

    fn wait(&self, mut done: impl FnMut(&R) -> bool) -> Result<(), I2cError> {
        if poll_until(I2C_POLLS, || done(&self.regs)) {
            Ok(())
        } else {
            Err(I2cError::Timeout)
        }
    }

    /// Waits for the STOP that ends a transfer and clears it.
    fn stopped(&self) -> Result<(), I2cError> {
        self.wait(|r| r.read(I2C0 + IC_RAW_INTR_STAT) & INTR_STOP_DET != 0)?;
        self.regs.read(I2C0 + IC_CLR_STOP_DET);
        Ok(())
    }

    /// An abort, if one happened: cleared, and waited out to its STOP.
    fn aborted(&self) -> Result<(), I2cError> {
        let source = self.regs.read(I2C0 + IC_TX_ABRT_SOURCE);
        if source == 0 {
            return Ok(());
        }
        self.regs.read(I2C0 + IC_CLR_TX_ABRT);
        self.stopped()?;
        Err(if source & ABRT_7B_ADDR_NOACK != 0 {
            I2cError::AddressNack
        } else if source & ABRT_TXDATA_NOACK != 0 {
            I2cError::DataNack
        } else {
            I2cError::Aborted(source)
        })
    }

    /// Writes `bytes`, the last with STOP, as the SDK's
    /// `i2c_write_blocking`: each byte is queued, then sent (TX_EMPTY).
    fn send(&self, bytes: &[u8]) -> Result<(), I2cError> {
        for (i, &byte) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let stop = if last { DATA_CMD_STOP } else { 0 };
            self.regs.write(I2C0 + IC_DATA_CMD, stop | u32::from(byte));
            self.wait(|r| r.read(I2C0 + IC_RAW_INTR_STAT) & INTR_TX_EMPTY != 0)?;
            self.aborted()?;
            if last {
                self.stopped()?;
            }
        }
        Ok(())
    }

    /// Reads one byte, then STOP.
    fn receive(&self) -> Result<u8, I2cError> {
        self.regs
            .write(I2C0 + IC_DATA_CMD, DATA_CMD_READ | DATA_CMD_STOP);
        let mut result = Ok(());
        self.wait(|r| {
            result = self.aborted();
            result.is_err() || r.read(I2C0 + IC_RXFLR) > 0
        })?;
        result?;
        let value = self.regs.read(I2C0 + IC_DATA_CMD) as u8;
        self.stopped()?;
        Ok(value)
    }
}

impl<R: Registers> Sccb for I2c0<R> {
    type Error = I2cError;

    fn write(&mut self, register: u8, value: u8) -> Result<(), I2cError> {
        self.send(&[register, value])
    }

    fn read(&mut self, register: u8) -> Result<u8, I2cError> {
        self.send(&[register])?;
        self.receive()
    }
}
