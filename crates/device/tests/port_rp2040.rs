//! The Pico's camera port (`ports::rp2040`) at the bus level: its register
//! accesses against a simulated RP2040 (`regs/` plus the model below: RESETS
//! with its atomic aliases, SIO, IO_BANK0 and pads, a PWM slice, I2C0's
//! DW_apb_i2c) with the simulated OV7675 (`sim/`) wired as the port's
//! table says. The expected register values are written out from the RP2040
//! datasheet's field tables and the Pico SDK's formulas, not taken from the
//! port's constants.

mod regs;
mod sim;

use std::collections::VecDeque;

use embedded_hal::i2c::{ErrorKind, I2c, NoAcknowledgeSource, Operation};
use regs::{Access, Hardware, Memory, SimRegisters};
use sim::{Event, Options, Sim, SimBus};
use tinystudio_device::camera::{Camera, Frame, PixelFormat};
use tinystudio_device::ov7675::{self, Config, I2cSccb, Ov7675, ParallelPort, Resolution};
use tinystudio_device::ports::OpenError;
use tinystudio_device::ports::rp2040::{self, I2C_POLLS, I2cError, PicoPort};

const RESETS: u32 = 0x4000_c000;
const IO_BANK0: u32 = 0x4001_4000;
const PADS_BANK0: u32 = 0x4001_c000;
const SIO: u32 = 0xd000_0000;
const GPIO_IN: u32 = SIO + 0x004;
const GPIO_OUT: u32 = SIO + 0x010;
const GPIO_OE: u32 = SIO + 0x020;
const PWM: u32 = 0x4005_0000;
const I2C0: u32 = 0x4004_4000;

/// RESETS bits (DS §2.14): i2c0 3, io_bank0 5, pads_bank0 8, pll_sys 12,
/// pwm 14, uart0 22; RESET's reset value is 0x01ffffff.
const I2C0_BIT: u32 = 1 << 3;
const PWM_BIT: u32 = 1 << 14;
/// What the firmware's own start-up has already taken out of reset.
const BOOTED: u32 = (1 << 5) | (1 << 8) | (1 << 12) | (1 << 22);

/// The wiring table of the port's documentation, as GPIO numbers.
const D0: u32 = 2;
const VSYNC: u32 = 10;
const HREF: u32 = 11;
const PCLK: u32 = 12;
const XCLK: u32 = 13;
const PWDN: u32 = 14;
const RESET: u32 = 15;
const SDA: u32 = 16;
const SCL: u32 = 17;

/// GPIOn_CTRL (DS §2.19.6.1) and the pad register (DS §2.19.6.3).
fn ctrl(gpio: u32) -> u32 {
    IO_BANK0 + 0x04 + 8 * gpio
}
fn pad(gpio: u32) -> u32 {
    PADS_BANK0 + 0x04 + 4 * gpio
}
/// FUNCSEL values (DS §2.19.2): I2C 3, PWM 4, SIO 5.
const F_I2C: u32 = 3;
const F_PWM: u32 = 4;
const F_SIO: u32 = 5;
/// Pad fields: SLEWFAST 0, SCHMITT 1, PDE 2, PUE 3, DRIVE 5:4, IE 6.
const IE: u32 = 1 << 6;

/// XCLK on GP13: PWM slice (13 / 2) mod 8 = 6, channel B (DS §4.5.2);
/// slice n's CSR, DIV, CTR, CC, TOP at 0x14 * n.
const SLICE6: u32 = PWM + 6 * 0x14;

/// IC_* offsets (DS §4.3, List of Registers).
const IC_CON: u32 = 0x00;
const IC_TAR: u32 = 0x04;
const IC_DATA_CMD: u32 = 0x10;
const IC_FS_SCL_HCNT: u32 = 0x1c;
const IC_FS_SCL_LCNT: u32 = 0x20;
const IC_RAW_INTR_STAT: u32 = 0x34;
const IC_CLR_TX_ABRT: u32 = 0x54;
const IC_CLR_STOP_DET: u32 = 0x60;
const IC_ENABLE: u32 = 0x6c;
const IC_RXFLR: u32 = 0x78;
const IC_TX_ABRT_SOURCE: u32 = 0x80;

/// The simulated RP2040 around the sensor.
struct Pico {
    sensor: Option<Sim>,
    bus: Option<SimBus>,
    /// Bytes queued for the transfer in progress (until a STOP).
    pending: Vec<u8>,
    rx: VecDeque<u8>,
    stop_det: bool,
    tx_abrt: bool,
    /// I2C0 never empties its TX FIFO (SCL held low by a broken bus).
    i2c_stalls: bool,
    transfers: Vec<(bool, Vec<u8>)>,
    /// Whether the sensor is powered and which pads read, as of the last
    /// register write (a capture reads GPIO_IN millions of times).
    inputs: Option<(bool, u32)>,
}

impl Pico {
    fn new(sensor: Option<&Sim>) -> SimRegisters<Pico> {
        let regs = SimRegisters::new(Pico {
            sensor: sensor.cloned(),
            bus: sensor.map(|s| s.parts().0),
            pending: Vec::new(),
            rx: VecDeque::new(),
            stop_det: false,
            tx_abrt: false,
            i2c_stalls: false,
            transfers: Vec::new(),
            inputs: None,
        });
        regs.memory(|m| {
            m.set(RESETS, 0x01ff_ffff & !BOOTED);
            for gpio in 0..30 {
                m.reset_value(ctrl(gpio), 0x1f);
                m.reset_value(pad(gpio), 0x56);
            }
            for slice in 0..8 {
                m.reset_value(PWM + 0x14 * slice + 0x04, 0x10);
                m.reset_value(PWM + 0x14 * slice + 0x10, 0xffff);
            }
            m.reset_value(I2C0 + IC_CON, 0x65);
            m.reset_value(I2C0 + IC_TAR, 0x55);
            m.reset_value(I2C0 + IC_FS_SCL_HCNT, 0x06);
            m.reset_value(I2C0 + IC_FS_SCL_LCNT, 0x0d);
        });
        regs
    }

    fn out_of_reset(m: &Memory, bit: u32) -> bool {
        m.get(RESETS) & bit == 0
    }

    /// The sensor runs: XCLK from slice 6 channel B on GP13 at 10 to
    /// 48 MHz with a duty cycle near one half, PWDN low, RESET high.
    fn powered(m: &Memory) -> bool {
        let top = m.get(SLICE6 + 0x10) & 0xffff;
        let div = m.get(SLICE6 + 0x04) & 0xfff; // 8.4 fixed point
        let high = m.get(SLICE6 + 0x0c) >> 16;
        let xclk_hz = 125_000_000.0 * 16.0 / f64::from(div.max(1)) / f64::from(top + 1);
        let duty = f64::from(high) / f64::from(top + 1);
        let (out, oe) = (m.get(GPIO_OUT), m.get(GPIO_OE));
        Self::out_of_reset(m, PWM_BIT)
            && m.get(SLICE6) & 1 == 1
            && m.get(ctrl(XCLK)) == F_PWM
            && (10e6..=48e6).contains(&xclk_hz)
            && (0.4..=0.6).contains(&duty)
            && oe & (1 << PWDN | 1 << RESET) == 1 << PWDN | 1 << RESET
            && m.get(ctrl(PWDN)) == F_SIO
            && m.get(ctrl(RESET)) == F_SIO
            && out & (1 << PWDN) == 0
            && out & (1 << RESET) != 0
    }

    /// SCCB reaches the sensor: I2C0 enabled as a master on GP16/GP17 with
    /// pull-ups, SCL at most 400 kHz.
    fn bus_ready(m: &Memory) -> bool {
        let period =
            (m.get(I2C0 + IC_FS_SCL_HCNT) & 0xffff) + (m.get(I2C0 + IC_FS_SCL_LCNT) & 0xffff);
        let con = m.get(I2C0 + IC_CON);
        Self::out_of_reset(m, I2C0_BIT)
            && m.get(I2C0 + IC_ENABLE) & 1 == 1
            && con & 1 == 1 // MASTER_MODE
            && con & (1 << 6) != 0 // IC_SLAVE_DISABLE
            && 125_000_000 / period.max(1) <= 400_000
            && [SDA, SCL]
                .iter()
                .all(|&g| m.get(ctrl(g)) == F_I2C && m.get(pad(g)) & (1 << 3 | IE) == 1 << 3 | IE)
    }

    /// One transfer, ended by STOP, as the sensor answers it.
    fn transfer(&mut self, m: &mut Memory, read: bool) {
        let address = (m.get(I2C0 + IC_TAR) & 0x7f) as u8;
        let mut bytes = if read {
            vec![0]
        } else {
            std::mem::take(&mut self.pending)
        };
        let answered = if Self::powered(m) && Self::bus_ready(m) {
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
                    self.rx.push_back(bytes[0]);
                }
                self.transfers.push((read, bytes));
            }
            Err(_) => {
                m.set(I2C0 + IC_TX_ABRT_SOURCE, 1); // ABRT_7B_ADDR_NOACK
                self.tx_abrt = true;
            }
        }
        self.stop_det = true;
    }
}

impl Hardware for Pico {
    fn read(&mut self, m: &mut Memory, address: u32) -> Option<u32> {
        match address {
            a if a == RESETS + 0x8 => Some(!m.get(RESETS) & 0x01ff_ffff),
            GPIO_IN => {
                let sensor = self.sensor.as_ref()?;
                let (powered, enabled) = *self.inputs.get_or_insert_with(|| {
                    // A pad whose input is disabled reads 0.
                    let enabled = (0..30)
                        .filter(|&g| m.get(pad(g)) & IE != 0)
                        .map(|g| 1 << g)
                        .sum();
                    (Self::powered(m), enabled)
                });
                let mut levels = m.get(GPIO_OUT) & m.get(GPIO_OE);
                if powered {
                    let pins = sensor.pins(true);
                    levels |= u32::from(pins.data) << D0
                        | u32::from(pins.vsync) << VSYNC
                        | u32::from(pins.href) << HREF
                        | u32::from(pins.pclk) << PCLK;
                }
                Some(levels & enabled)
            }
            a if a == I2C0 + IC_RAW_INTR_STAT => {
                let tx_empty = u32::from(!self.i2c_stalls) << 4;
                Some(tx_empty | u32::from(self.tx_abrt) << 6 | u32::from(self.stop_det) << 9)
            }
            a if a == I2C0 + IC_CLR_STOP_DET => Some(u32::from(std::mem::take(&mut self.stop_det))),
            a if a == I2C0 + IC_CLR_TX_ABRT => {
                m.set(I2C0 + IC_TX_ABRT_SOURCE, 0);
                Some(u32::from(std::mem::take(&mut self.tx_abrt)))
            }
            a if a == I2C0 + IC_RXFLR => Some(self.rx.len() as u32),
            a if a == I2C0 + IC_DATA_CMD => {
                Some(u32::from(self.rx.pop_front().expect("RX FIFO empty")))
            }
            _ => None,
        }
    }

    fn write(&mut self, m: &mut Memory, address: u32, value: u32) -> bool {
        self.inputs = None;
        let set_clear = |m: &mut Memory, register: u32, set: bool| {
            let v = m.get(register);
            m.set(register, if set { v | value } else { v & !value });
        };
        match address {
            // RESETS' atomic aliases (DS §2.1.2): +0x2000 sets, +0x3000 clears.
            a if a == RESETS + 0x2000 => set_clear(m, RESETS, true),
            a if a == RESETS + 0x3000 => set_clear(m, RESETS, false),
            a if a == SIO + 0x014 => set_clear(m, GPIO_OUT, true),
            a if a == SIO + 0x018 => set_clear(m, GPIO_OUT, false),
            a if a == SIO + 0x024 => set_clear(m, GPIO_OE, true),
            a if a == SIO + 0x028 => set_clear(m, GPIO_OE, false),
            a if a == I2C0 + IC_TAR => {
                assert_eq!(
                    m.get(I2C0 + IC_ENABLE) & 1,
                    0,
                    "IC_TAR written while enabled"
                );
                return false;
            }
            a if a == I2C0 + IC_DATA_CMD => {
                assert!(Self::out_of_reset(m, I2C0_BIT), "I2C0 used in reset");
                assert_eq!(m.get(I2C0 + IC_ENABLE) & 1, 1, "I2C0 used while disabled");
                assert_eq!(value & (1 << 10), 0, "RESTART: SCCB has no repeated start");
                if self.i2c_stalls {
                    return true;
                }
                if value & (1 << 8) != 0 {
                    assert!(self.pending.is_empty(), "a read after queued writes");
                    assert_ne!(value & (1 << 9), 0, "SCCB reads end with STOP");
                    self.transfer(m, true);
                } else {
                    self.pending.push(value as u8);
                    if value & (1 << 9) != 0 {
                        self.transfer(m, false);
                    }
                }
            }
            _ => return false,
        }
        true
    }
}

fn config() -> Config {
    Config {
        resolution: Resolution::Qqvga,
        fps: 1,
        ..Config::default()
    }
}

/// A port method that reads one sync line.
type SyncRead = fn(&mut PicoPort<SimRegisters<Pico>>) -> bool;

#[test]
fn every_data_byte_and_each_sync_line_from_one_register_read() {
    let regs = Pico::new(None);
    let mut port = PicoPort::new(regs.clone());
    let data_mask = 0xff << D0;
    let sync_mask = 1 << VSYNC | 1 << HREF | 1 << PCLK;
    let others_all = !(data_mask | sync_mask) & 0x3fff_ffff;
    // The other GPIOs low, then high (sync lines too, for the data).
    for others in [0, others_all | sync_mask] {
        for byte in 0..=255u8 {
            let in_value = u32::from(byte) << D0 | others;
            regs.memory(|m| m.set(GPIO_IN, in_value));
            regs.clear_log();
            assert_eq!(port.data(), byte);
            assert_eq!(regs.log(), [Access::Read(GPIO_IN, in_value)]);
        }
    }
    let lines: [(u32, SyncRead); 3] = [
        (VSYNC, |p| p.vsync()),
        (HREF, |p| p.href()),
        (PCLK, |p| p.pclk()),
    ];
    for others in [0, others_all | data_mask] {
        for (high, _) in lines {
            for (in_value, expect_high) in [
                (1 << high | others, true),
                (sync_mask & !(1 << high) | others, false),
            ] {
                regs.memory(|m| m.set(GPIO_IN, in_value));
                for (gpio, read) in lines {
                    regs.clear_log();
                    let expected = if gpio == high {
                        expect_high
                    } else {
                        !expect_high
                    };
                    assert_eq!(
                        read(&mut port),
                        expected,
                        "GP{gpio}, GPIO_IN {in_value:#010x}"
                    );
                    assert_eq!(regs.log(), [Access::Read(GPIO_IN, in_value)]);
                }
            }
        }
    }
}

#[test]
fn open_sets_up_resets_pins_xclk_power_and_i2c_as_the_datasheet_lays_them_out() {
    let sim = Sim::new(Options::default());
    let regs = Pico::new(Some(&sim));
    rp2040::open(regs.clone(), sim.parts().2, config()).unwrap();

    // Pads: IE (bit 6), DRIVE (5:4), PUE (3), PDE (2), SCHMITT (1), SLEWFAST (0).
    let input = IE | 1 << 2 | 1 << 1; // pulled down, Schmitt trigger
    let clock = IE | 2 << 4 | 1 << 1 | 1; // 8 mA, fast slew
    let output = IE | 1 << 4 | 1 << 1; // 4 mA
    let i2c = IE | 1 << 3 | 1 << 1; // pulled up
    let mut expected = vec![(
        RESETS + 0x3000, // RESET's clear alias
        (1 << 5) | (1 << 8) | (1 << 3) | (1 << 14),
    )];
    for gpio in (D0..D0 + 8).chain([VSYNC, HREF, PCLK]) {
        expected.extend([(pad(gpio), input), (ctrl(gpio), F_SIO)]);
    }
    // XCLK = 125 MHz / (TOP + 1) = 15.625 MHz with TOP 7; channel B's
    // compare (CC bits 31:16) at 4 for half the period; DIV 1.0 is INT 1
    // (bits 11:4); CSR.EN is bit 0.
    expected.extend([
        (SLICE6, 0),
        (SLICE6 + 0x04, 1 << 4),
        (SLICE6 + 0x10, 7),
        (SLICE6 + 0x0c, 4 << 16),
        (SLICE6, 1),
        (pad(XCLK), clock),
        (ctrl(XCLK), F_PWM),
        // PWDN low (on) and RESET low (in reset), both driven.
        (SIO + 0x018, 1 << PWDN | 1 << RESET),
        (SIO + 0x024, 1 << PWDN | 1 << RESET),
        (pad(PWDN), output),
        (ctrl(PWDN), F_SIO),
        (pad(RESET), output),
        (ctrl(RESET), F_SIO),
        // After 1 ms, out of reset.
        (SIO + 0x014, 1 << RESET),
    ]);
    // I2C0 as the SDK's i2c_init(i2c0, 100 * 1000) at clk_peri = 125 MHz:
    // period (125e6 + 50e3) / 100e3 = 1250 cycles, low 3/5 = 750, high
    // 500, spike filter 750 / 16 = 46, SDA hold 125e6 * 3 / 1e7 + 1 = 38.
    // IC_CON: MASTER_MODE (0) | SPEED fast (2 << 1) | IC_RESTART_EN (5) |
    // IC_SLAVE_DISABLE (6) | TX_EMPTY_CTRL (8).
    expected.extend([
        (I2C0 + IC_ENABLE, 0),
        (I2C0 + IC_CON, 1 | 2 << 1 | 1 << 5 | 1 << 6 | 1 << 8),
        (I2C0 + 0x3c, 0), // IC_TX_TL
        (I2C0 + 0x38, 0), // IC_RX_TL
        (I2C0 + IC_FS_SCL_HCNT, 500),
        (I2C0 + IC_FS_SCL_LCNT, 750),
        (I2C0 + 0xa0, 46), // IC_FS_SPKLEN
        (I2C0 + 0x7c, 38), // IC_SDA_HOLD: TX hold in bits 15:0
        (I2C0 + IC_TAR, 0x21),
        (I2C0 + IC_ENABLE, 1),
        (pad(SDA), i2c),
        (ctrl(SDA), F_I2C),
        (pad(SCL), i2c),
        (ctrl(SCL), F_I2C),
        // The first SCCB write, COM7 reset: 0x12, then 0x80 with STOP
        // (IC_DATA_CMD bit 9).
        (I2C0 + IC_DATA_CMD, 0x12),
        (I2C0 + IC_DATA_CMD, 1 << 9 | 0x80),
    ]);
    let writes = regs.writes();
    assert_eq!(writes[..expected.len()], expected[..]);
    assert_eq!(sim.log()[0], Event::DelayMs(1), "RESET held low for 1 ms");
    // A register read: the register number with STOP, then a read command
    // (bit 8) with STOP.
    let read = writes
        .windows(2)
        .position(|w| w[0] == (I2C0 + IC_DATA_CMD, 1 << 9 | 0x1c))
        .expect("MIDH read");
    assert_eq!(writes[read + 1], (I2C0 + IC_DATA_CMD, 1 << 9 | 1 << 8));
}

#[test]
fn the_simulated_sensor_is_captured_exactly_through_the_port() {
    for resolution in [Resolution::Qqvga, Resolution::Qvga] {
        let config = Config {
            resolution,
            ..config()
        };
        // The driver alone on a plain I2C bus, with the Pico's XCLK (15 MHz
        // for the frame-rate divider): the sensor's view of set-up.
        let plain = Sim::new(Options::default());
        let (bus, port, delay) = plain.parts();
        Ov7675::new(
            I2cSccb::new(bus),
            port,
            delay,
            Config {
                xclk_mhz: 15,
                ..config
            },
        )
        .init()
        .unwrap();

        let sim = Sim::new(Options {
            start_tick: 77_777,
            ..Options::default()
        });
        let regs = Pico::new(Some(&sim));
        let mut camera = rp2040::open(regs.clone(), sim.parts().2, config).unwrap();
        let log = sim.log();
        assert_eq!(log[0], Event::DelayMs(1));
        assert_eq!(
            log[1..],
            plain.log()[..],
            "{resolution:?}: the sensor saw other SCCB traffic through I2C0"
        );
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
        // Every GPIO_IN read holds the data lines, so frames whose bytes
        // passed while the driver waited count as read too: the captured
        // one is the last, and not the frame in progress at the start.
        let frames = sim.frames_read();
        let last = *frames.last().expect("a frame read");
        assert!(last >= 1, "{frames:?}");
        assert!(
            buffer[..frame.len()] == sim.expected_frame(last)[..],
            "{resolution:?}: the captured frame differs from the sensor's"
        );
        assert_eq!(&buffer[frame.len()..], &[0; 3]);
    }
}

#[test]
fn no_sensor_means_no_camera_and_the_clock_bus_and_power_switched_off() {
    let sim = Sim::new(Options {
        present: false,
        ..Options::default()
    });
    let regs = Pico::new(Some(&sim));
    let err = rp2040::open(regs.clone(), sim.parts().2, config())
        .err()
        .expect("no camera");
    assert_eq!(
        err,
        OpenError::Camera(ov7675::Error::Bus(I2cError::AddressNack))
    );
    assert!(err.to_string().contains("AddressNack"), "{err}");
    // The abort was cleared and its STOP waited for.
    assert_eq!(regs.peek(I2C0 + IC_TX_ABRT_SOURCE), 0);
    assert!(!regs.hardware(|h| h.stop_det || h.tx_abrt));
    assert_eq!(regs.peek(SLICE6) & 1, 0, "XCLK stopped");
    assert_eq!(regs.peek(ctrl(XCLK)), 0x1f);
    assert_eq!(regs.peek(I2C0 + IC_ENABLE), 0);
    assert_eq!(regs.peek(ctrl(SDA)), 0x1f);
    assert_eq!(regs.peek(ctrl(SCL)), 0x1f);
    assert_ne!(regs.peek(GPIO_OUT) & 1 << PWDN, 0, "sensor powered down");
    assert!(regs.reads() < 100, "{} reads", regs.reads());
}

#[test]
fn a_bus_that_never_sends_is_an_error_not_a_hang() {
    let sim = Sim::new(Options::default());
    let regs = Pico::new(Some(&sim));
    regs.hardware(|h| h.i2c_stalls = true);
    let err = rp2040::open(regs.clone(), sim.parts().2, config())
        .err()
        .expect("no camera");
    assert_eq!(
        err,
        OpenError::Camera(ov7675::Error::Bus(I2cError::Timeout))
    );
    assert!(
        regs.reads() <= u64::from(I2C_POLLS) + 100,
        "{} reads",
        regs.reads()
    );
    assert_eq!(regs.peek(I2C0 + IC_ENABLE), 0);
    assert_eq!(regs.peek(SLICE6) & 1, 0);
}

#[test]
fn peripherals_that_stay_in_reset_are_reported() {
    /// RESET_DONE never shows the peripherals.
    struct Stuck;
    impl Hardware for Stuck {
        fn read(&mut self, _: &mut Memory, address: u32) -> Option<u32> {
            (address == RESETS + 0x8).then_some(0)
        }
        fn write(&mut self, _: &mut Memory, _: u32, _: u32) -> bool {
            false
        }
    }
    let regs = SimRegisters::new(Stuck);
    let sim = Sim::new(Options::default());
    let err = rp2040::open(regs.clone(), sim.parts().2, config())
        .err()
        .expect("no camera");
    assert!(matches!(err, OpenError::NoReset(_)), "{err:?}");
    assert_eq!(regs.writes().len(), 1, "only the reset release");
    assert!(regs.reads() <= u64::from(I2C_POLLS));
    assert!(sim.log().is_empty());
}
