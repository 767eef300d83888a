//! The OV7675 of the Arduino Tiny Machine Learning Kit on the Nano 33 BLE
//! Sense (nRF52840), wired by the kit's shield as the Arduino_OV767X
//! library (`src/OV767X.h`, `src/OV767X.cpp`, commit e5dd28f) drives it.
//!
//! | signal | Arduino pin | nRF52840 | peripheral |
//! | --- | --- | --- | --- |
//! | VSYNC | D8 | P0.21 | GPIO in |
//! | HREF | A1 | P0.05 | GPIO in |
//! | PCLK | A0 | P0.04 | GPIO in |
//! | XCLK | D9 | P0.27 | I2S MCK, 16 MHz |
//! | D0 .. D7 | D10, D1, D0, D2, D3, D5, D6, D4 | P1.02, P1.03, P1.10 .. P1.15 | GPIO in |
//! | SIOD, SIOC | A4, A5 | P0.31, P0.02 | TWIM0, 100 kHz |
//!
//! (Arduino pin to nRF pin: `variants/ARDUINO_NANO33BLE/variant.cpp` of
//! ArduinoCore-mbed.) The shield has no power-down or reset line: the
//! sensor runs whenever the board is powered. Register addresses and fields
//! cite the nRF52840 Product Specification v1.7 ("PS").
//!
//! - **XCLK**: the library makes 16 MHz with the I2S peripheral's master
//!   clock (PS §6.11, MCKFREQ 32MDIV2) and so does this port. The other
//!   ways to put a clock on a pin cannot reach it: a TIMER toggling a pin
//!   through GPIOTE and PPI (PS §6.29, §6.10, §6.16) counts at most 16 MHz,
//!   so the pin toggles at 8 MHz at best, and the PWM (PS §6.17) divides a
//!   16 MHz clock by a COUNTERTOP of at least 3. The OV7675 needs 10 to
//!   48 MHz, and its frame timing (CLKRC, PLL) is set up for 16.
//! - **SCCB** on TWIM0 (PS §6.31): each register write is one transfer
//!   ending in STOP, each read a write of the register number then a read,
//!   both ending in STOP (SCCB has no repeated start); EasyDMA moves the
//!   bytes from and to RAM buffers inside [`Twim`]. Every wait is bounded.
//! - **Parallel port**: one read of P0's IN register gives VSYNC, HREF and
//!   PCLK; one read of P1's IN register gives the data byte with the
//!   library's shift and masks ([`data_byte`]).
//!
//! D0 and D1 of the Nano, the UART's pins, are two of the camera's data
//! lines: [`open`] refuses while a UARTE is connected to any camera pin (it
//! would drive against the sensor), so a board with the shield talks over
//! USB.

use core::sync::atomic::{AtomicU32, Ordering, compiler_fence};

use embedded_hal::delay::DelayNs;

use super::{OpenError, Registers, poll_until};
use crate::ov7675::{Config, Ov7675, ParallelPort, SCCB_ADDRESS, Sccb};

/// A GPIO pin of the nRF52840: port 0 or 1, pin 0 to 31.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin {
    pub port: u8,
    pub pin: u8,
}

impl Pin {
    pub const fn new(port: u8, pin: u8) -> Self {
        Pin { port, pin }
    }

    /// Base address of the pin's GPIO port.
    pub const fn gpio(self) -> u32 {
        if self.port == 0 { P0 } else { P1 }
    }

    pub const fn mask(self) -> u32 {
        1 << self.pin
    }

    /// A PSEL register value connecting a peripheral to this pin: PIN in
    /// bits 4:0, PORT in bit 5, CONNECT (bit 31) clear.
    pub const fn psel(self) -> u32 {
        ((self.port as u32) << 5) | self.pin as u32
    }

    /// The pin's PIN_CNF register.
    pub const fn pin_cnf(self) -> u32 {
        self.gpio() + GPIO_PIN_CNF + 4 * self.pin as u32
    }
}

pub const VSYNC: Pin = Pin::new(0, 21);
pub const HREF: Pin = Pin::new(0, 5);
pub const PCLK: Pin = Pin::new(0, 4);
pub const XCLK: Pin = Pin::new(0, 27);
pub const SIOD: Pin = Pin::new(0, 31);
pub const SIOC: Pin = Pin::new(0, 2);
/// The sensor's D0 to D7.
pub const DATA: [Pin; 8] = [
    Pin::new(1, 2),
    Pin::new(1, 3),
    Pin::new(1, 10),
    Pin::new(1, 11),
    Pin::new(1, 12),
    Pin::new(1, 13),
    Pin::new(1, 14),
    Pin::new(1, 15),
];

// The port reads the three sync lines with one read of P0 and the data with
// one read of P1.
const _: () = assert!(VSYNC.port == 0 && HREF.port == 0 && PCLK.port == 0);

/// Every pin the camera uses, with its name and signal, for
/// [`OpenError::PinTaken`].
const CAMERA_PINS: [(Pin, &str, &str); 14] = [
    (VSYNC, "P0.21 (D8)", "VSYNC"),
    (HREF, "P0.05 (A1)", "HREF"),
    (PCLK, "P0.04 (A0)", "PCLK"),
    (XCLK, "P0.27 (D9)", "XCLK"),
    (SIOD, "P0.31 (A4)", "SIOD"),
    (SIOC, "P0.02 (A5)", "SIOC"),
    (DATA[0], "P1.02 (D10)", "D0"),
    (DATA[1], "P1.03 (the serial TX pin)", "D1"),
    (DATA[2], "P1.10 (the serial RX pin)", "D2"),
    (DATA[3], "P1.11 (D2)", "D3"),
    (DATA[4], "P1.12 (D3)", "D4"),
    (DATA[5], "P1.13 (D5)", "D5"),
    (DATA[6], "P1.14 (D6)", "D6"),
    (DATA[7], "P1.15 (D4)", "D7"),
];

/// The data byte from a read of P1's IN register, as the library's
/// `readFrame` computes it: D0 and D1 sit on P1 bits 2 and 3, D2 to D7 on
/// bits 10 to 15, so shift right by 2, keep `0x3f03` and fold the upper six
/// bits down next to the lower two.
#[inline(always)]
pub const fn data_byte(p1_in: u32) -> u8 {
    let v = (p1_in >> 2) & 0x3f03;
    (v | (v >> 6)) as u8
}

/// The XCLK this port makes: 32 MHz / 2.
pub const XCLK_MHZ: u8 = 16;

// GPIO (PS §6.9): ports P0 and P1, registers at the same offsets.
const P0: u32 = 0x5000_0000;
const P1: u32 = 0x5000_0300;
const GPIO_IN: u32 = 0x510;
const GPIO_PIN_CNF: u32 = 0x700;
/// PIN_CNF fields: DIR (bit 0, 1 = output), INPUT (bit 1, 1 = buffer
/// disconnected), PULL (bits 3:2, 3 = up), DRIVE (bits 10:8, 6 = S0D1).
pub const CNF_INPUT: u32 = 0;
pub const CNF_OUTPUT: u32 = 0b11;
/// The reset value: input with its buffer disconnected.
pub const CNF_RESET: u32 = 0b10;
/// What the PS's TWIM pin table asks for SCL and SDA: inputs, standard '0'
/// and disconnected '1' (open drain), here with the pull-up on (the
/// Nordic drivers' default) for buses without resistors of their own.
pub const CNF_TWI: u32 = (6 << 8) | (3 << 2);
/// PSEL value of a disconnected peripheral signal (CONNECT = 1).
pub const DISCONNECTED: u32 = 0xffff_ffff;

// UARTE0 and UARTE1 (PS §6.34), only read: their pins must not be ours.
const UARTES: [(u32, &str); 2] = [
    (0x4000_2000, "UARTE0 (the serial port)"),
    (0x4002_8000, "UARTE1"),
];
const UARTE_ENABLE: u32 = 0x500;
/// PSEL.RTS, PSEL.TXD, PSEL.CTS, PSEL.RXD.
const UARTE_PSEL: [u32; 4] = [0x508, 0x50c, 0x510, 0x514];

// I2S (PS §6.11).
pub const I2S: u32 = 0x4002_5000;
pub const I2S_TASKS_START: u32 = 0x000;
pub const I2S_TASKS_STOP: u32 = 0x004;
pub const I2S_EVENTS_STOPPED: u32 = 0x108;
pub const I2S_ENABLE: u32 = 0x500;
pub const I2S_CONFIG_MODE: u32 = 0x504;
pub const I2S_CONFIG_MCKEN: u32 = 0x510;
pub const I2S_CONFIG_MCKFREQ: u32 = 0x514;
pub const I2S_TXD_PTR: u32 = 0x540;
pub const I2S_RXTXD_MAXCNT: u32 = 0x550;
pub const I2S_PSEL_MCK: u32 = 0x560;
/// MCKFREQ 32MDIV2: 32 MHz / 2 = 16 MHz.
pub const MCKFREQ_32MDIV2: u32 = 0x8000_0000;

// TWIM0 (PS §6.31).
pub const TWIM0: u32 = 0x4000_3000;
pub const TWIM_TASKS_STARTRX: u32 = 0x000;
pub const TWIM_TASKS_STARTTX: u32 = 0x008;
pub const TWIM_TASKS_STOP: u32 = 0x014;
pub const TWIM_EVENTS_STOPPED: u32 = 0x104;
pub const TWIM_EVENTS_ERROR: u32 = 0x124;
pub const TWIM_SHORTS: u32 = 0x200;
pub const TWIM_ERRORSRC: u32 = 0x4c4;
pub const TWIM_ENABLE: u32 = 0x500;
pub const TWIM_PSEL_SCL: u32 = 0x508;
pub const TWIM_PSEL_SDA: u32 = 0x50c;
pub const TWIM_FREQUENCY: u32 = 0x524;
pub const TWIM_RXD_PTR: u32 = 0x534;
pub const TWIM_RXD_MAXCNT: u32 = 0x538;
pub const TWIM_RXD_AMOUNT: u32 = 0x53c;
pub const TWIM_TXD_PTR: u32 = 0x544;
pub const TWIM_TXD_MAXCNT: u32 = 0x548;
pub const TWIM_TXD_AMOUNT: u32 = 0x54c;
pub const TWIM_ADDRESS: u32 = 0x588;
/// ENABLE value of the TWIM (6; 5 would be the legacy TWI).
pub const TWIM_ENABLED: u32 = 6;
/// FREQUENCY K100: the Arduino Wire library's default 100 kbit/s.
pub const TWIM_K100: u32 = 0x0198_0000;
/// SHORTS: LASTTX_STOP (bit 9), LASTRX_STOP (bit 12).
pub const SHORTS_LASTTX_STOP: u32 = 1 << 9;
pub const SHORTS_LASTRX_STOP: u32 = 1 << 12;
/// ERRORSRC: OVERRUN (bit 0), ANACK (bit 1), DNACK (bit 2).
pub const ERRORSRC_ANACK: u32 = 1 << 1;
pub const ERRORSRC_DNACK: u32 = 1 << 2;

/// Polls of a TWIM event before a transfer counts as stuck: a register
/// write at 100 kbit/s takes about 0.3 ms, some 2,000 polls at 64 MHz, so
/// this allows some 50 times that.
pub const TWIM_POLLS: u32 = 100_000;

/// What the I2S transmits while it only serves as a clock. It keeps
/// fetching TXD.PTR with EasyDMA, which reads Data RAM only (PS, EasyDMA):
/// a static with interior mutability is placed in RAM, not flash. (The
/// library leaves TXD.PTR at 0, a flash address.)
static SILENCE: AtomicU32 = AtomicU32::new(0);

/// The camera on the shield: the driver over this board's SCCB and port.
pub type ShieldCamera<R, D> = Ov7675<Twim<R>, ShieldPort<R>, D>;

/// Sets up the shield's camera and checks that it answers: the pins as
/// inputs, XCLK at 16 MHz, TWIM0, then [`Ov7675::init`] (about 1.1 s, most
/// of it the power-up wait). `config.xclk_mhz` is replaced by the clock
/// this port makes. On failure everything the port started is stopped
/// again and its pins are back at their reset configuration.
pub fn open<R: Registers + Clone, D: DelayNs>(
    regs: R,
    delay: D,
    config: Config,
) -> Result<ShieldCamera<R, D>, OpenError<TwimError>> {
    pins_free(&regs)?;
    for pin in [VSYNC, HREF, PCLK].iter().chain(&DATA) {
        regs.write(pin.pin_cnf(), CNF_INPUT);
    }
    start_xclk(&regs);
    let twim = Twim::new(regs.clone());
    let config = Config {
        xclk_mhz: XCLK_MHZ,
        ..config
    };
    let mut camera = Ov7675::new(twim, ShieldPort::new(regs.clone()), delay, config);
    match camera.init() {
        Ok(()) => Ok(camera),
        Err(e) => {
            let (twim, _, _) = camera.release();
            twim.disable();
            stop_xclk(&regs);
            for pin in [VSYNC, HREF, PCLK].iter().chain(&DATA) {
                regs.write(pin.pin_cnf(), CNF_RESET);
            }
            Err(OpenError::Camera(e))
        }
    }
}

/// Refuses when a UARTE is enabled with a signal on one of the camera's
/// pins (the firmware's serial port sits on P1.03 and P1.10, two of the
/// shield's data lines).
fn pins_free<R: Registers>(regs: &R) -> Result<(), OpenError<TwimError>> {
    for (base, by) in UARTES {
        if regs.read(base + UARTE_ENABLE) == 0 {
            continue;
        }
        for psel in UARTE_PSEL {
            let value = regs.read(base + psel);
            if value & (1 << 31) != 0 {
                continue;
            }
            if let Some(&(_, pin, signal)) = CAMERA_PINS.iter().find(|p| p.0.psel() == value & 0x3f)
            {
                return Err(OpenError::PinTaken { pin, signal, by });
            }
        }
    }
    Ok(())
}

/// XCLK: the I2S master clock on P0.27, as the library's `beginXClk`,
/// transmitting [`SILENCE`] to no pin.
fn start_xclk<R: Registers>(regs: &R) {
    regs.write(XCLK.pin_cnf(), CNF_OUTPUT);
    regs.write(I2S + I2S_CONFIG_MCKEN, 1);
    regs.write(I2S + I2S_CONFIG_MCKFREQ, MCKFREQ_32MDIV2);
    regs.write(I2S + I2S_CONFIG_MODE, 0); // master
    regs.write(
        I2S + I2S_TXD_PTR,
        regs.dma_address(SILENCE.as_ptr().cast::<u8>().cast_const()),
    );
    regs.write(I2S + I2S_RXTXD_MAXCNT, 1); // one 32-bit word
    regs.write(I2S + I2S_PSEL_MCK, XCLK.psel());
    regs.write(I2S + I2S_ENABLE, 1);
    regs.write(I2S + I2S_TASKS_START, 1);
}

fn stop_xclk<R: Registers>(regs: &R) {
    regs.write(I2S + I2S_EVENTS_STOPPED, 0);
    regs.write(I2S + I2S_TASKS_STOP, 1);
    poll_until(TWIM_POLLS, || regs.read(I2S + I2S_EVENTS_STOPPED) != 0);
    regs.write(I2S + I2S_ENABLE, 0);
    regs.write(I2S + I2S_PSEL_MCK, DISCONNECTED);
    regs.write(XCLK.pin_cnf(), CNF_RESET);
}

/// The shield's video port: single reads of the GPIO input registers.
#[derive(Debug, Clone)]
pub struct ShieldPort<R> {
    regs: R,
}

impl<R: Registers> ShieldPort<R> {
    /// Reads only; [`open`] sets the pins up as inputs.
    pub fn new(regs: R) -> Self {
        ShieldPort { regs }
    }

    #[inline(always)]
    fn sync(&self, pin: Pin) -> bool {
        self.regs.read(P0 + GPIO_IN) & pin.mask() != 0
    }
}

impl<R: Registers> ParallelPort for ShieldPort<R> {
    #[inline(always)]
    fn vsync(&mut self) -> bool {
        self.sync(VSYNC)
    }

    #[inline(always)]
    fn href(&mut self) -> bool {
        self.sync(HREF)
    }

    #[inline(always)]
    fn pclk(&mut self) -> bool {
        self.sync(PCLK)
    }

    #[inline(always)]
    fn data(&mut self) -> u8 {
        data_byte(self.regs.read(P1 + GPIO_IN))
    }
}

/// Why a TWIM transfer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwimError {
    /// Nothing acknowledged the address: no sensor, no power, or no XCLK.
    AddressNack,
    DataNack,
    /// A received byte was lost (ERRORSRC OVERRUN).
    Overrun,
    /// Neither STOPPED nor ERROR within [`TWIM_POLLS`] polls (SCL held low).
    Timeout,
    /// The transfer ended early: `amount` of `expected` bytes moved.
    Short {
        amount: u32,
        expected: u32,
    },
}

/// SCCB on TWIM0 (SIOC on P0.02, SIOD on P0.31, 100 kbit/s).
pub struct Twim<R: Registers> {
    regs: R,
    /// EasyDMA buffers: RAM inside the driver, which the board keeps in RAM.
    tx: [u8; 2],
    rx: [u8; 1],
}

impl<R: Registers> Twim<R> {
    /// Configures the pins and TWIM0 and enables it (PSEL, FREQUENCY and
    /// ADDRESS are written while it is disabled, as the PS requires).
    pub fn new(regs: R) -> Self {
        regs.write(SIOC.pin_cnf(), CNF_TWI);
        regs.write(SIOD.pin_cnf(), CNF_TWI);
        regs.write(TWIM0 + TWIM_ENABLE, 0);
        regs.write(TWIM0 + TWIM_PSEL_SCL, SIOC.psel());
        regs.write(TWIM0 + TWIM_PSEL_SDA, SIOD.psel());
        regs.write(TWIM0 + TWIM_FREQUENCY, TWIM_K100);
        regs.write(TWIM0 + TWIM_ADDRESS, u32::from(SCCB_ADDRESS));
        regs.write(TWIM0 + TWIM_ENABLE, TWIM_ENABLED);
        Twim {
            regs,
            tx: [0; 2],
            rx: [0; 1],
        }
    }

    /// Disables TWIM0 and gives its pins back.
    pub fn disable(self) {
        let r = &self.regs;
        r.write(TWIM0 + TWIM_ENABLE, 0);
        r.write(TWIM0 + TWIM_PSEL_SCL, DISCONNECTED);
        r.write(TWIM0 + TWIM_PSEL_SDA, DISCONNECTED);
        r.write(SIOC.pin_cnf(), CNF_RESET);
        r.write(SIOD.pin_cnf(), CNF_RESET);
    }

    /// Sends the first `len` bytes of `tx`, then STOP.
    fn send(&mut self, len: u32) -> Result<(), TwimError> {
        let pointer = self.regs.dma_address(self.tx.as_ptr());
        self.regs.write(TWIM0 + TWIM_TXD_PTR, pointer);
        self.regs.write(TWIM0 + TWIM_TXD_MAXCNT, len);
        self.run(TWIM_TASKS_STARTTX, SHORTS_LASTTX_STOP)?;
        self.moved(TWIM_TXD_AMOUNT, len)
    }

    /// Receives one byte into `rx`, then STOP.
    fn receive(&mut self) -> Result<u8, TwimError> {
        let pointer = self.regs.dma_address(self.rx.as_mut_ptr().cast_const());
        self.regs.write(TWIM0 + TWIM_RXD_PTR, pointer);
        self.regs.write(TWIM0 + TWIM_RXD_MAXCNT, 1);
        self.run(TWIM_TASKS_STARTRX, SHORTS_LASTRX_STOP)?;
        self.moved(TWIM_RXD_AMOUNT, 1)?;
        // SAFETY: reads our own buffer; volatile because EasyDMA, not the
        // program, wrote it.
        Ok(unsafe { core::ptr::read_volatile(self.rx.as_ptr()) })
    }

    fn moved(&self, amount: u32, expected: u32) -> Result<(), TwimError> {
        match self.regs.read(TWIM0 + amount) {
            a if a == expected => Ok(()),
            amount => Err(TwimError::Short { amount, expected }),
        }
    }

    /// Starts a transfer whose last byte ends in STOP (`shorts`) and waits
    /// for STOPPED or ERROR.
    fn run(&mut self, task: u32, shorts: u32) -> Result<(), TwimError> {
        let r = &self.regs;
        r.write(TWIM0 + TWIM_EVENTS_STOPPED, 0);
        r.write(TWIM0 + TWIM_EVENTS_ERROR, 0);
        r.write(TWIM0 + TWIM_SHORTS, shorts);
        // The buffer's bytes are in RAM before EasyDMA starts reading.
        compiler_fence(Ordering::SeqCst);
        r.write(TWIM0 + task, 1);
        let ended = poll_until(TWIM_POLLS, || {
            r.read(TWIM0 + TWIM_EVENTS_STOPPED) != 0 || r.read(TWIM0 + TWIM_EVENTS_ERROR) != 0
        });
        compiler_fence(Ordering::SeqCst);
        let stop = || {
            if r.read(TWIM0 + TWIM_EVENTS_STOPPED) == 0 {
                r.write(TWIM0 + TWIM_TASKS_STOP, 1);
                poll_until(TWIM_POLLS, || r.read(TWIM0 + TWIM_EVENTS_STOPPED) != 0);
            }
        };
        if !ended {
            stop();
            return Err(TwimError::Timeout);
        }
        if r.read(TWIM0 + TWIM_EVENTS_ERROR) != 0 {
            // After a NACK the TWIM holds the bus until told to STOP.
            r.write(TWIM0 + TWIM_EVENTS_ERROR, 0);
            stop();
            let source = r.read(TWIM0 + TWIM_ERRORSRC);
            r.write(TWIM0 + TWIM_ERRORSRC, source); // write 1 to clear
            return Err(if source & ERRORSRC_ANACK != 0 {
                TwimError::AddressNack
            } else if source & ERRORSRC_DNACK != 0 {
                TwimError::DataNack
            } else {
                TwimError::Overrun
            });
        }
        Ok(())
    }
}

impl<R: Registers> Sccb for Twim<R> {
    type Error = TwimError;

    fn write(&mut self, register: u8, value: u8) -> Result<(), TwimError> {
        self.tx = [register, value];
        self.send(2)
    }

    fn read(&mut self, register: u8) -> Result<u8, TwimError> {
        self.tx[0] = register;
        self.send(1)?;
        self.receive()
    }
}
