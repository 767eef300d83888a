//! A simulated OV7675 for the driver's host tests: an SCCB target at 0x21
//! with a register file, and a video port that clocks out frames with the
//! sensor's timing, as the registers the driver wrote configure it.
//!
//! Time advances by one tick per read of the video port (one poll of the
//! board's loop). A row is `2 * width` bytes, each a PCLK period of
//! `pclk_low + pclk_high` ticks: the sensor changes the data at the falling
//! edge and it settles for `settle` ticks (the bus then shows garbage), so
//! the byte is valid only from just before the rising edge to the next
//! falling edge, and a driver must read it at the rising edge. Rows are separated by horizontal
//! blanking with HREF low (and PCLK held low when COM10 asks for it);
//! frames start with VSYNC high for 3 rows, then 17 rows of back porch, the
//! image rows, and 10 rows of front porch, as in the OV7670/OV7675
//! datasheets' VGA frame timing.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};
use tinystudio_device::ov7675::ParallelPort;

/// One thing the driver did on the buses, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Write(u8, u8),
    /// Register, and the value the sensor answered.
    Read(u8, u8),
    DelayMs(u32),
}

/// The pixel (RGB565) at (x, y) of frame number `frame`.
pub type Pattern = Box<dyn Fn(u64, usize, usize) -> u16>;

pub struct Timing {
    pub pclk_low: u64,
    pub pclk_high: u64,
    /// Ticks after the falling edge before the new byte is valid.
    pub settle: u64,
    /// Ticks of horizontal blanking after each row.
    pub h_blank: u64,
    pub vsync_rows: u64,
    pub back_porch_rows: u64,
    pub front_porch_rows: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            pclk_low: 3,
            pclk_high: 3,
            settle: 2,
            // 144 pixel times, as VGA's 784 - 640.
            h_blank: 144 * 2 * 6,
            vsync_rows: 3,
            back_porch_rows: 17,
            front_porch_rows: 10,
        }
    }
}

pub struct Options {
    /// MIDH, MIDL, PID, VER after reset.
    pub identity: [u8; 4],
    /// `false`: nothing answers on SCCB and the port stays low.
    pub present: bool,
    pub timing: Timing,
    /// Tick at which the first port read happens.
    pub start_tick: u64,
    /// Every clock stops at this tick: the port's levels freeze.
    pub halt_at: Option<u64>,
    /// Extra pixels per row beyond the configured width.
    pub extra_pixels: usize,
    pub pattern: Pattern,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            identity: [0x7f, 0xa2, 0x76, 0x73],
            present: true,
            timing: Timing::default(),
            start_tick: 0,
            halt_at: None,
            extra_pixels: 0,
            pattern: Box::new(|frame, x, y| {
                let v = (frame as usize * 7919 + y * 331 + x * 17) as u32;
                (v.wrapping_mul(2_654_435_761) >> 16) as u16
            }),
        }
    }
}

struct State {
    options: Options,
    regs: [u8; 256],
    pointer: u8,
    log: Vec<Event>,
    tick: u64,
    /// The frame whose valid byte the last sample showed.
    valid_frame: Option<u64>,
    frames_read: BTreeSet<u64>,
}

/// Levels of the sensor's video outputs at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pins {
    pub vsync: bool,
    pub href: bool,
    pub pclk: bool,
    pub data: u8,
}

/// The sensor; clone the handles it gives to pass them to the driver.
#[derive(Clone)]
pub struct Sim(Rc<RefCell<State>>);

pub struct SimBus(Rc<RefCell<State>>);
pub struct SimPort(Rc<RefCell<State>>);
pub struct SimDelay(Rc<RefCell<State>>);

impl Sim {
    pub fn new(options: Options) -> Self {
        let tick = options.start_tick;
        let mut state = State {
            options,
            regs: [0; 256],
            pointer: 0,
            log: Vec::new(),
            tick,
            valid_frame: None,
            frames_read: BTreeSet::new(),
        };
        state.reset();
        Sim(Rc::new(RefCell::new(state)))
    }

    pub fn parts(&self) -> (SimBus, SimPort, SimDelay) {
        (
            SimBus(self.0.clone()),
            SimPort(self.0.clone()),
            SimDelay(self.0.clone()),
        )
    }

    pub fn log(&self) -> Vec<Event> {
        self.0.borrow().log.clone()
    }

    pub fn register(&self, r: u8) -> u8 {
        self.0.borrow().regs[usize::from(r)]
    }

    pub fn tick(&self) -> u64 {
        self.0.borrow().tick
    }

    /// Frame numbers whose image bytes the driver read.
    pub fn frames_read(&self) -> Vec<u64> {
        self.0.borrow().frames_read.iter().copied().collect()
    }

    /// The sensor's output pins at the current tick, as a board's GPIO
    /// input register shows them; then one tick passes, as for a
    /// [`ParallelPort`] call. `data_read`: the board takes the data byte
    /// from this read (a frame whose valid byte it takes counts as read).
    pub fn pins(&self, data_read: bool) -> Pins {
        let mut s = self.0.borrow_mut();
        let (vsync, href, pclk, data) = s.sample();
        if let Some(frame) = s.valid_frame.filter(|_| data_read) {
            s.frames_read.insert(frame);
        }
        Pins {
            vsync,
            href,
            pclk,
            data,
        }
    }

    /// The frame as the registers configure it: (width, height, RGB565?).
    pub fn mode(&self) -> (usize, usize, bool) {
        self.0.borrow().mode()
    }

    /// Ticks per frame in the current mode.
    pub fn frame_ticks(&self) -> u64 {
        let s = self.0.borrow();
        s.frame_ticks()
    }

    pub fn row_ticks(&self) -> u64 {
        self.0.borrow().row_ticks()
    }

    /// Tick at which image row `row` of frame `frame` starts.
    pub fn row_start(&self, frame: u64, row: u64) -> u64 {
        let s = self.0.borrow();
        let t = &s.options.timing;
        frame * s.frame_ticks() + (t.vsync_rows + t.back_porch_rows + row) * s.row_ticks()
    }

    /// The bytes of frame `frame` as the sensor sends them.
    pub fn expected_frame(&self, frame: u64) -> Vec<u8> {
        let s = self.0.borrow();
        let (w, h, _) = s.mode();
        let mut out = Vec::with_capacity(w * h * 2);
        for y in 0..h {
            for x in 0..w {
                out.extend_from_slice(&(s.options.pattern)(frame, x, y).to_be_bytes());
            }
        }
        out
    }
}

impl State {
    /// COM7 reset: register defaults, identity included.
    fn reset(&mut self) {
        self.regs = [0; 256];
        let [midh, midl, pid, ver] = self.options.identity;
        self.regs[0x1c] = midh;
        self.regs[0x1d] = midl;
        self.regs[0x0a] = pid;
        self.regs[0x0b] = ver;
        self.regs[0x32] = 0x80; // HREF
        self.regs[0x11] = 0x80; // CLKRC
    }

    fn mode(&self) -> (usize, usize, bool) {
        let com7 = self.regs[0x12];
        let rgb565 = com7 & 0x05 == 0x04 && self.regs[0x40] & 0x30 == 0x10;
        let (w, h) = if com7 & 0x10 != 0 {
            (320, 240)
        } else if self.regs[0x0c] & 0x04 != 0
            && self.regs[0x72] == 0x22
            && self.regs[0x73] & 0x0f == 0x02
        {
            (160, 120)
        } else {
            (640, 480)
        };
        (w, h, rgb565)
    }

    fn row_bytes(&self) -> u64 {
        let (w, _, _) = self.mode();
        2 * (w + self.options.extra_pixels) as u64
    }

    fn period(&self) -> u64 {
        self.options.timing.pclk_low + self.options.timing.pclk_high
    }

    fn row_ticks(&self) -> u64 {
        self.row_bytes() * self.period() + self.options.timing.h_blank
    }

    fn frame_ticks(&self) -> u64 {
        let (_, h, _) = self.mode();
        let t = &self.options.timing;
        (t.vsync_rows + t.back_porch_rows + h as u64 + t.front_porch_rows) * self.row_ticks()
    }

    /// (vsync, href, pclk, data) at the current tick; then one tick passes.
    fn sample(&mut self) -> (bool, bool, bool, u8) {
        if !self.options.present {
            self.tick += 1;
            return (false, false, false, 0);
        }
        let now = match self.options.halt_at {
            Some(halt) => self.tick.min(halt),
            None => self.tick,
        };
        self.tick += 1;
        self.valid_frame = None;
        let (_, h, rgb565) = self.mode();
        let t = &self.options.timing;
        let frame = now / self.frame_ticks();
        let in_frame = now % self.frame_ticks();
        let row = in_frame / self.row_ticks();
        let in_row = in_frame % self.row_ticks();
        let vsync = row < t.vsync_rows;
        let image_row = row
            .checked_sub(t.vsync_rows + t.back_porch_rows)
            .filter(|&r| r < h as u64);
        let active = self.row_bytes() * self.period();
        let href = image_row.is_some() && in_row < active;
        let phase = in_row % self.period();
        let clock_runs = href || self.regs[0x15] & 0x20 == 0;
        let pclk = clock_runs && phase >= t.pclk_low;
        let data = match image_row {
            Some(y) if href => {
                let byte = (in_row / self.period()) as usize;
                let x = byte / 2;
                let pixel = if x < self.mode().0 {
                    (self.options.pattern)(frame, x, y as usize)
                } else {
                    0x5a5a
                };
                let value = if rgb565 {
                    pixel.to_be_bytes()[byte % 2]
                } else {
                    0x80
                };
                if phase < t.settle {
                    // Still settling after the falling edge.
                    !value ^ 0x24
                } else {
                    self.valid_frame = Some(frame);
                    value
                }
            }
            _ => 0xa5,
        };
        (vsync, href, pclk, data)
    }
}

impl ErrorType for SimBus {
    type Error = ErrorKind;
}

impl I2c for SimBus {
    /// SCCB as the sensor understands it: a transaction is one write of a
    /// register address (and maybe a value) or one read; a write followed
    /// by a read in one transaction (a repeated start) is not SCCB.
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), ErrorKind> {
        let mut s = self.0.borrow_mut();
        if address != 0x21 || !s.options.present {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        if operations.len() != 1 {
            return Err(ErrorKind::Other);
        }
        match &mut operations[0] {
            Operation::Write([register]) => s.pointer = *register,
            Operation::Write([register, value]) => {
                let (register, value) = (*register, *value);
                s.log.push(Event::Write(register, value));
                if register == 0x12 && value & 0x80 != 0 {
                    s.reset();
                } else {
                    s.regs[usize::from(register)] = value;
                }
            }
            Operation::Read([value]) => {
                let register = s.pointer;
                *value = s.regs[usize::from(register)];
                s.log.push(Event::Read(register, *value));
            }
            _ => return Err(ErrorKind::Other),
        }
        Ok(())
    }
}

impl ParallelPort for SimPort {
    fn vsync(&mut self) -> bool {
        self.0.borrow_mut().sample().0
    }

    fn href(&mut self) -> bool {
        self.0.borrow_mut().sample().1
    }

    fn pclk(&mut self) -> bool {
        self.0.borrow_mut().sample().2
    }

    fn data(&mut self) -> u8 {
        let mut s = self.0.borrow_mut();
        let data = s.sample().3;
        if let Some(frame) = s.valid_frame {
            s.frames_read.insert(frame);
        }
        data
    }
}

impl DelayNs for SimDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.0.borrow_mut().log.push(Event::DelayMs(ns / 1_000_000));
    }

    fn delay_ms(&mut self, ms: u32) {
        self.0.borrow_mut().log.push(Event::DelayMs(ms));
    }
}
