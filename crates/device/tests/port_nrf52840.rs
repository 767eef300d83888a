//! The Nano 33 BLE Sense's camera port (`ports::nrf52840`) at the bus level:
//! its register accesses against a simulated nRF52840 (`regs/` plus the
//! model below) with the simulated OV7675 (`sim/`) wired to it as the Tiny
//! ML Kit's shield wires it. The expected register values are written out
//! from the nRF52840 Product Specification's field tables, not taken from
//! the port's constants.

mod regs;
mod sim;

use embedded_hal::i2c::{ErrorKind, I2c, NoAcknowledgeSource, Operation};
use regs::{Access, Hardware, Memory, SimRegisters};
use sim::{Options, Sim, SimBus, SimDelay};
use tinystudio_device::camera::{Camera, Frame, PixelFormat};
use tinystudio_device::ov7675::{self, Config, I2cSccb, Ov7675, ParallelPort, Resolution};
use tinystudio_device::ports::OpenError;
use tinystudio_device::ports::nrf52840::{self, ShieldPort, TWIM_POLLS, TwimError};

// Addresses (PS: GPIO §6.9, I2S §6.11, TWIM §6.31, UARTE §6.34).
const P0: u32 = 0x5000_0000;
const P1: u32 = 0x5000_0300;
const IN: u32 = 0x510;
const I2S: u32 = 0x4002_5000;
const TWIM0: u32 = 0x4000_3000;
const UARTE0: u32 = 0x4000_2000;

/// PIN_CNF[n] of port `port`.
fn pin_cnf(port: u32, pin: u32) -> u32 {
    [P0, P1][port as usize] + 0x700 + 4 * pin
}

/// The shield's wiring, from the Arduino library's pin numbers and the
/// Nano 33 BLE's `variant.cpp`, with the byte order of the library's
/// `readFrame` (which takes D1 from P1.03 and D2 from P1.10): sensor data
/// bit k is on P1 pin `DATA_PINS[k]`.
const DATA_PINS: [u32; 8] = [2, 3, 10, 11, 12, 13, 14, 15];
const VSYNC_PIN: u32 = 21;
const HREF_PIN: u32 = 5;
const PCLK_PIN: u32 = 4;
const XCLK_PIN: u32 = 27;
const SDA_PIN: u32 = 31;
const SCL_PIN: u32 = 2;

/// P1's IN value showing `byte` on the data lines.
fn spread(byte: u8) -> u32 {
    DATA_PINS
        .iter()
        .enumerate()
        .filter(|&(bit, _)| byte & (1 << bit) != 0)
        .map(|(_, &pin)| 1 << pin)
        .sum()
}

/// PIN_CNF: DIR bit 0, INPUT bit 1 (1 = disconnected), PULL bits 3:2,
/// DRIVE bits 10:8.
const CNF_RESET: u32 = 0x0000_0002;
const CNF_INPUT_CONNECTED: u32 = 0;
const CNF_OUTPUT: u32 = 0b11;
/// Input, pull-up (3), drive S0D1 (6): open drain for SCL and SDA.
const CNF_TWI: u32 = (6 << 8) | (3 << 2);
/// PSEL: PIN 4:0, PORT bit 5, CONNECT bit 31.
const fn psel(port: u32, pin: u32) -> u32 {
    (port << 5) | pin
}
const DISCONNECTED: u32 = 0xffff_ffff;

/// The simulated nRF52840 around the sensor.
struct Nano {
    sensor: Option<Sim>,
    bus: Option<SimBus>,
    /// The I2S clock is running (TASKS_START while enabled).
    i2s_running: bool,
    /// TWIM transfers never end (SCL held low by a broken bus).
    twim_stalls: bool,
    /// Transfers TWIM0 performed: (is a read, bytes).
    transfers: Vec<(bool, Vec<u8>)>,
}

impl Nano {
    fn new(sensor: Option<&Sim>) -> SimRegisters<Nano> {
        let regs = SimRegisters::new(Nano {
            sensor: sensor.cloned(),
            bus: sensor.map(|s| s.parts().0),
            i2s_running: false,
            twim_stalls: false,
            transfers: Vec::new(),
        });
        regs.memory(|m| {
            for port in 0..2 {
                for pin in 0..32 {
                    m.reset_value(pin_cnf(port, pin), CNF_RESET);
                }
            }
            for psel in [0x508, 0x50c, 0x510, 0x514] {
                m.reset_value(UARTE0 + psel, DISCONNECTED);
            }
            for psel in 0x560..=0x570 {
                m.reset_value(I2S + psel, DISCONNECTED);
            }
            m.reset_value(I2S + 0x50c, 1); // CONFIG.TXEN
            m.reset_value(I2S + 0x510, 1); // CONFIG.MCKEN
            m.reset_value(I2S + 0x514, 0x2000_0000); // CONFIG.MCKFREQ
            m.reset_value(TWIM0 + 0x508, DISCONNECTED);
            m.reset_value(TWIM0 + 0x50c, DISCONNECTED);
            m.reset_value(TWIM0 + 0x524, 0x0400_0000); // FREQUENCY K250
        });
        regs
    }

    /// XCLK reaches the sensor: the I2S runs its master clock at 16 MHz
    /// (MCKFREQ 32MDIV2) on P0.27, an output; its EasyDMA reads RAM.
    fn clocked(&self, m: &Memory) -> bool {
        self.i2s_running
            && m.get(I2S + 0x500) == 1
            && m.get(I2S + 0x504) == 0
            && m.get(I2S + 0x510) == 1
            && m.get(I2S + 0x514) == 0x8000_0000
            && m.get(I2S + 0x560) == psel(0, XCLK_PIN)
            && m.get(pin_cnf(0, XCLK_PIN)) & 1 == 1
    }

    /// SCCB reaches the sensor: TWIM0 enabled (6) on SCL P0.02 and SDA
    /// P0.31, both open drain, at 100, 250 or 400 kbit/s.
    fn bus_ready(&self, m: &Memory) -> bool {
        m.get(TWIM0 + 0x500) == 6
            && m.get(TWIM0 + 0x508) == psel(0, SCL_PIN)
            && m.get(TWIM0 + 0x50c) == psel(0, SDA_PIN)
            && [0x0198_0000, 0x0400_0000, 0x0640_0000].contains(&m.get(TWIM0 + 0x524))
            && [SCL_PIN, SDA_PIN]
                .iter()
                .all(|&p| m.get(pin_cnf(0, p)) & 0x703 == 6 << 8)
    }

    /// A pin's level as IN shows it: 0 unless its input buffer is connected.
    fn level(m: &Memory, port: u32, pin: u32, high: bool) -> u32 {
        u32::from(high && m.get(pin_cnf(port, pin)) & 0b10 == 0) << pin
    }

    /// One TWIM0 transfer, as the sensor answers it.
    fn transfer(&mut self, m: &mut Memory, read: bool) {
        if self.twim_stalls {
            return;
        }
        let (ptr, maxcnt, amount) = if read {
            (0x534, 0x538, 0x53c)
        } else {
            (0x544, 0x548, 0x54c)
        };
        let len = m.get(TWIM0 + maxcnt) as usize;
        let address = m.get(TWIM0 + 0x588) as u8;
        let mut bytes = if read {
            vec![0; len]
        } else {
            m.dma_read(m.get(TWIM0 + ptr), len)
        };
        let answered = if self.clocked(m) && self.bus_ready(m) {
            let bus = self.bus.as_mut().expect("a sensor on the bus");
            let mut op = [if read {
                Operation::Read(&mut bytes)
            } else {
                Operation::Write(&bytes)
            }];
            bus.transaction(address, &mut op)
        } else {
            Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))
        };
        match answered {
            Ok(()) => {
                if read {
                    m.dma_write(m.get(TWIM0 + ptr), &bytes);
                }
                self.transfers.push((read, bytes));
                m.set(TWIM0 + amount, len as u32);
                let shorts = m.get(TWIM0 + 0x200);
                let stop = if read { 1 << 12 } else { 1 << 9 };
                if shorts & stop != 0 {
                    m.set(TWIM0 + 0x104, 1);
                }
            }
            Err(_) => {
                m.set(TWIM0 + 0x4c4, m.get(TWIM0 + 0x4c4) | 1 << 1); // ANACK
                m.set(TWIM0 + amount, 0);
                m.set(TWIM0 + 0x124, 1); // EVENTS_ERROR, bus held
            }
        }
    }
}

impl Hardware for Nano {
    fn read(&mut self, m: &mut Memory, address: u32) -> Option<u32> {
        let sensor = self.sensor.as_ref().filter(|_| self.clocked(m))?;
        match address {
            a if a == P0 + IN => {
                let pins = sensor.pins(false);
                Some(
                    Self::level(m, 0, VSYNC_PIN, pins.vsync)
                        | Self::level(m, 0, HREF_PIN, pins.href)
                        | Self::level(m, 0, PCLK_PIN, pins.pclk),
                )
            }
            a if a == P1 + IN => {
                let pins = sensor.pins(true);
                Some(
                    DATA_PINS
                        .iter()
                        .enumerate()
                        .map(|(bit, &pin)| Self::level(m, 1, pin, pins.data & (1 << bit) != 0))
                        .sum(),
                )
            }
            _ => None,
        }
    }

    fn write(&mut self, m: &mut Memory, address: u32, value: u32) -> bool {
        match address {
            a if a == I2S && value == 1 => {
                if m.get(I2S + 0x500) == 1 {
                    // TXEN is on: EasyDMA fetches TXD.PTR, which must be RAM.
                    if m.get(I2S + 0x50c) == 1 {
                        assert!(m.is_dma(m.get(I2S + 0x540)), "I2S TXD.PTR is not RAM");
                    }
                    self.i2s_running = true;
                }
            }
            a if a == I2S + 0x004 && value == 1 => {
                self.i2s_running = false;
                m.set(I2S + 0x108, 1);
            }
            a if a == TWIM0 + 0x008 && value == 1 => self.transfer(m, false),
            a if a == TWIM0 && value == 1 => self.transfer(m, true),
            a if a == TWIM0 + 0x014 && value == 1 => {
                if !self.twim_stalls {
                    m.set(TWIM0 + 0x104, 1);
                }
            }
            // ERRORSRC: write 1 to clear.
            a if a == TWIM0 + 0x4c4 => m.set(a, m.get(a) & !value),
            _ => return false,
        }
        true
    }
}

/// A delay that only counts, for tests without a sensor.
struct NoDelay;

impl embedded_hal::delay::DelayNs for NoDelay {
    fn delay_ns(&mut self, _: u32) {}
}

fn config() -> Config {
    Config {
        resolution: Resolution::Qqvga,
        fps: 1,
        ..Config::default()
    }
}

fn open(
    regs: &SimRegisters<Nano>,
    sim: &Sim,
) -> Result<nrf52840::ShieldCamera<SimRegisters<Nano>, SimDelay>, OpenError<TwimError>> {
    nrf52840::open(regs.clone(), sim.parts().2, config())
}

/// A port method that reads one sync line.
type SyncRead = fn(&mut ShieldPort<SimRegisters<Nano>>) -> bool;

#[test]
fn every_data_byte_and_each_sync_line_from_one_register_read() {
    let regs = Nano::new(None);
    let mut port = ShieldPort::new(regs.clone());
    let p1_camera: u32 = DATA_PINS.iter().map(|&p| 1 << p).sum();
    let p0_camera: u32 = [VSYNC_PIN, HREF_PIN, PCLK_PIN]
        .iter()
        .map(|&p| 1 << p)
        .sum();
    // The other pins of each port low, then high: they must not leak in.
    for p1_others in [0, !p1_camera] {
        for byte in 0..=255u8 {
            regs.memory(|m| m.set(P1 + IN, spread(byte) | p1_others));
            regs.clear_log();
            assert_eq!(port.data(), byte, "P1.IN {:#010x}", spread(byte));
            assert_eq!(
                regs.log(),
                [Access::Read(P1 + IN, spread(byte) | p1_others)]
            );
        }
    }
    let lines: [(u32, SyncRead); 3] = [
        (VSYNC_PIN, |p| p.vsync()),
        (HREF_PIN, |p| p.href()),
        (PCLK_PIN, |p| p.pclk()),
    ];
    for p0_others in [0, !p0_camera] {
        for (high, _) in lines {
            // Only `high` up, then everything but `high` up.
            for (in_value, expect_high) in [
                (1 << high | p0_others, true),
                (p0_camera & !(1 << high) | p0_others, false),
            ] {
                regs.memory(|m| m.set(P0 + IN, in_value));
                for (pin, read) in lines {
                    regs.clear_log();
                    let expected = if pin == high {
                        expect_high
                    } else {
                        !expect_high
                    };
                    assert_eq!(
                        read(&mut port),
                        expected,
                        "pin P0.{pin}, IN {in_value:#010x}"
                    );
                    assert_eq!(regs.log(), [Access::Read(P0 + IN, in_value)]);
                }
            }
        }
    }
}

#[test]
fn open_sets_up_pins_xclk_and_twim_as_the_product_specification_lays_them_out() {
    let sim = Sim::new(Options::default());
    let regs = Nano::new(Some(&sim));
    open(&regs, &sim).unwrap();
    let writes = regs.writes();
    let silence = writes
        .iter()
        .find(|w| w.0 == I2S + 0x540)
        .expect("TXD.PTR written")
        .1;
    assert!(regs.memory(|m| m.is_dma(silence)));

    let mut expected = Vec::new();
    // The camera's outputs: inputs with the buffer connected, no pull.
    for pin in [VSYNC_PIN, HREF_PIN, PCLK_PIN] {
        expected.push((pin_cnf(0, pin), CNF_INPUT_CONNECTED));
    }
    for pin in DATA_PINS {
        expected.push((pin_cnf(1, pin), CNF_INPUT_CONNECTED));
    }
    expected.extend([
        // XCLK: P0.27 an output, then the I2S master clock on it.
        (pin_cnf(0, XCLK_PIN), CNF_OUTPUT),
        (I2S + 0x510, 1),           // CONFIG.MCKEN: Enabled
        (I2S + 0x514, 0x8000_0000), // CONFIG.MCKFREQ: 32MDIV2, 16 MHz
        (I2S + 0x504, 0),           // CONFIG.MODE: Master
        (I2S + 0x540, silence),     // TXD.PTR: a RAM word
        (I2S + 0x550, 1),           // RXTXD.MAXCNT: one word
        (I2S + 0x560, psel(0, XCLK_PIN)),
        (I2S + 0x500, 1), // ENABLE
        (I2S, 1),         // TASKS_START
        // TWIM0: pins open drain with pull-ups, PSEL while disabled.
        (pin_cnf(0, SCL_PIN), CNF_TWI),
        (pin_cnf(0, SDA_PIN), CNF_TWI),
        (TWIM0 + 0x500, 0),
        (TWIM0 + 0x508, psel(0, SCL_PIN)),
        (TWIM0 + 0x50c, psel(0, SDA_PIN)),
        (TWIM0 + 0x524, 0x0198_0000), // FREQUENCY: K100
        (TWIM0 + 0x588, 0x21),        // ADDRESS: the OV7675
        (TWIM0 + 0x500, 6),           // ENABLE: Enabled (TWIM)
    ]);
    assert_eq!(writes[..expected.len()], expected[..]);

    // The first SCCB write (COM7 reset): TX from RAM, two bytes, STOP after
    // the last (SHORTS.LASTTX_STOP, bit 9), events cleared, STARTTX.
    let tx = writes[expected.len()].1;
    assert!(regs.memory(|m| m.is_dma(tx)));
    assert_eq!(
        writes[expected.len()..expected.len() + 6],
        [
            (TWIM0 + 0x544, tx),
            (TWIM0 + 0x548, 2),
            (TWIM0 + 0x104, 0),
            (TWIM0 + 0x124, 0),
            (TWIM0 + 0x200, 1 << 9),
            (TWIM0 + 0x008, 1),
        ][..]
    );
    // A register read: one byte out, then one byte in with
    // SHORTS.LASTRX_STOP (bit 12) and STARTRX.
    let first_read = writes
        .windows(2)
        .position(|w| w[0] == (TWIM0 + 0x548, 1))
        .expect("a one-byte write before a read");
    let rx_start = writes[first_read..]
        .iter()
        .position(|w| w.0 == TWIM0 + 0x534)
        .expect("RXD.PTR")
        + first_read;
    let rx = writes[rx_start].1;
    assert!(regs.memory(|m| m.is_dma(rx)));
    assert_eq!(
        writes[rx_start..rx_start + 6],
        [
            (TWIM0 + 0x534, rx),
            (TWIM0 + 0x538, 1),
            (TWIM0 + 0x104, 0),
            (TWIM0 + 0x124, 0),
            (TWIM0 + 0x200, 1 << 12),
            (TWIM0, 1),
        ][..]
    );
}

#[test]
fn the_simulated_sensor_is_captured_exactly_through_the_port() {
    for resolution in [Resolution::Qqvga, Resolution::Qvga] {
        // The driver alone on a plain I2C bus: the sensor's view of set-up.
        let plain = Sim::new(Options::default());
        let (bus, port, delay) = plain.parts();
        let config = Config {
            resolution,
            ..config()
        };
        Ov7675::new(I2cSccb::new(bus), port, delay, config)
            .init()
            .unwrap();

        let sim = Sim::new(Options {
            start_tick: 77_777,
            ..Options::default()
        });
        let regs = Nano::new(Some(&sim));
        let mut camera = nrf52840::open(regs.clone(), sim.parts().2, config).unwrap();
        assert_eq!(
            sim.log(),
            plain.log(),
            "{resolution:?}: the sensor saw other SCCB traffic through TWIM0"
        );
        // Every SCCB transfer ended in STOP, one register per transfer.
        let transfers = regs.hardware(|h| h.transfers.clone());
        assert!(!transfers.is_empty());
        for (read, bytes) in &transfers {
            let lengths: &[usize] = if *read { &[1] } else { &[1, 2] };
            assert!(lengths.contains(&bytes.len()), "{read} {bytes:?}");
        }

        let (w, h) = resolution.size();
        let mut buffer = vec![0u8; w * h * 2 + 3];
        let frame = camera.capture(&mut buffer).unwrap();
        assert_eq!(
            frame,
            Frame {
                width: w,
                height: h,
                format: PixelFormat::Rgb565
            }
        );
        let frames = sim.frames_read();
        assert_eq!(frames.len(), 1, "bytes of one frame only: {frames:?}");
        assert!(
            buffer[..frame.len()] == sim.expected_frame(frames[0])[..],
            "{resolution:?}: the captured frame differs from the sensor's"
        );
        assert_eq!(&buffer[frame.len()..], &[0; 3]);
    }
}

#[test]
fn no_sensor_means_no_camera_and_everything_switched_off_again() {
    let sim = Sim::new(Options {
        present: false,
        ..Options::default()
    });
    let regs = Nano::new(Some(&sim));
    let err = open(&regs, &sim).err().expect("no camera");
    assert_eq!(
        err,
        OpenError::Camera(ov7675::Error::Bus(TwimError::AddressNack))
    );
    assert!(err.to_string().contains("AddressNack"), "{err}");
    // The NACK was answered with a STOP and the error source cleared.
    assert_eq!(regs.peek(TWIM0 + 0x4c4), 0);
    assert!(
        regs.writes().contains(&(TWIM0 + 0x014, 1)),
        "STOP after the NACK"
    );
    // Clock, bus and pins as before.
    assert_eq!(regs.peek(I2S + 0x500), 0);
    assert_eq!(regs.peek(I2S + 0x560), DISCONNECTED);
    assert!(!regs.hardware(|h| h.i2s_running));
    assert_eq!(regs.peek(TWIM0 + 0x500), 0);
    assert_eq!(regs.peek(TWIM0 + 0x508), DISCONNECTED);
    assert_eq!(regs.peek(TWIM0 + 0x50c), DISCONNECTED);
    for pin in [VSYNC_PIN, HREF_PIN, PCLK_PIN, XCLK_PIN, SDA_PIN, SCL_PIN] {
        assert_eq!(regs.peek(pin_cnf(0, pin)), CNF_RESET, "P0.{pin}");
    }
    for pin in DATA_PINS {
        assert_eq!(regs.peek(pin_cnf(1, pin)), CNF_RESET, "P1.{pin}");
    }
    // Quickly: no wait ran to its limit.
    assert!(regs.reads() < 100, "{} reads", regs.reads());
}

#[test]
fn a_serial_port_on_the_camera_pins_is_refused_before_anything_is_touched() {
    let sim = Sim::new(Options::default());
    let regs = Nano::new(Some(&sim));
    // The firmware's UART: UARTE0 enabled (8), TXD on P1.03, RXD on P1.10.
    regs.memory(|m| {
        m.set(UARTE0 + 0x500, 8);
        m.set(UARTE0 + 0x50c, psel(1, 3));
        m.set(UARTE0 + 0x514, psel(1, 10));
    });
    let err = open(&regs, &sim).err().expect("refused");
    assert_eq!(
        err,
        OpenError::PinTaken {
            pin: "P1.03 (the serial TX pin)",
            signal: "D1",
            by: "UARTE0 (the serial port)",
        }
    );
    assert!(err.to_string().contains("P1.03"), "{err}");
    assert!(regs.writes().is_empty(), "{:?}", regs.writes());
    assert!(sim.log().is_empty(), "the sensor saw {:?}", sim.log());

    // A UARTE elsewhere, or disabled, is no obstacle.
    let sim = Sim::new(Options::default());
    let regs = Nano::new(Some(&sim));
    regs.memory(|m| {
        m.set(UARTE0 + 0x500, 8);
        m.set(UARTE0 + 0x50c, psel(0, 6));
        m.set(UARTE0 + 0x514, psel(0, 8));
    });
    open(&regs, &sim).unwrap();
    let sim = Sim::new(Options::default());
    let regs = Nano::new(Some(&sim));
    regs.memory(|m| m.set(UARTE0 + 0x50c, psel(1, 3)));
    open(&regs, &sim).unwrap();
}

#[test]
fn a_bus_that_never_finishes_a_transfer_is_an_error_not_a_hang() {
    let sim = Sim::new(Options::default());
    let regs = Nano::new(Some(&sim));
    regs.hardware(|h| h.twim_stalls = true);
    let err = nrf52840::open(regs.clone(), NoDelay, config())
        .err()
        .expect("no camera");
    assert_eq!(
        err,
        OpenError::Camera(ov7675::Error::Bus(TwimError::Timeout))
    );
    // The transfer's wait (two event reads a poll) and the STOP's (one)
    // ran out, and the I2S's stop wait: bounded.
    let bound = 2 * u64::from(TWIM_POLLS) + 2 * u64::from(TWIM_POLLS) + 100;
    assert!(regs.reads() <= bound, "{} reads", regs.reads());
    assert_eq!(regs.peek(TWIM0 + 0x500), 0);
    assert_eq!(regs.peek(I2S + 0x500), 0);
}

#[test]
fn event_registers_are_only_written_with_zero_or_tasks_with_one() {
    // Writing 1 to an EVENTS register would fake an event, 0 to a TASKS
    // register does nothing: the port does neither.
    let sim = Sim::new(Options::default());
    let regs = Nano::new(Some(&sim));
    open(&regs, &sim).unwrap();
    for (address, value) in regs.writes() {
        let offset = address & 0xfff;
        let peripheral = address & !0xfff;
        if peripheral != I2S && peripheral != TWIM0 {
            continue;
        }
        if offset < 0x100 {
            assert_eq!(value, 1, "task {address:#010x}");
        } else if offset < 0x200 {
            assert_eq!(value, 0, "event {address:#010x}");
        }
    }
}
