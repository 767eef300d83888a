//! Arm MPS2 AN386 (Cortex-M4) as QEMU emulates it (`-M mps2-an386`).
//!
//! - UART0: CMSDK APB UART (Arm DDI 0479C, "Cortex-M System Design Kit",
//!   §4.3); QEMU's `-serial` connects to it.
//! - Counter: CMSDK APB timer 0 (DDI 0479C §4.4), counting down at the
//!   25 MHz peripheral clock. Under `-icount shift=0` QEMU's virtual clock
//!   advances exactly 1 ns per executed instruction, so one tick is 40
//!   instructions (cross-checked against an instruction trace, see
//!   /work/shared/ANCHORS.md). Without `-icount` the numbers are wall time
//!   of the emulator and mean little.

use super::{Board, CounterUnit};
use core::ptr::{read_volatile, write_volatile};

/// AN386 application note, table 4-1: UART0 at 0x4000_4000 (the same map as
/// AN385); QEMU's `hw/arm/mps2.c` agrees.
const UART0: usize = 0x4000_4000;
const UART_DATA: usize = 0x00;
const UART_STATE: usize = 0x04;
const UART_CTRL: usize = 0x08;
const UART_BAUDDIV: usize = 0x10;
const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;

const TIMER0: usize = 0x4000_0000;
const TIMER_CTRL: usize = 0x00;
const TIMER_VALUE: usize = 0x04;
const TIMER_RELOAD: usize = 0x08;

const PCLK_HZ: u32 = 25_000_000;

fn reg(addr: usize) -> *mut u32 {
    addr as *mut u32
}

pub struct Mps2 {
    last: u32,
    high: u64,
}

impl Board for Mps2 {
    fn init() -> Self {
        // SAFETY: fixed MMIO addresses of the MPS2 peripherals; this is the
        // only code touching them, called once at start-up.
        unsafe {
            write_volatile(reg(UART0 + UART_BAUDDIV), PCLK_HZ / 115_200);
            write_volatile(reg(UART0 + UART_CTRL), 0b11); // TX and RX enable
            write_volatile(reg(TIMER0 + TIMER_CTRL), 0);
            write_volatile(reg(TIMER0 + TIMER_RELOAD), u32::MAX);
            write_volatile(reg(TIMER0 + TIMER_VALUE), u32::MAX);
            write_volatile(reg(TIMER0 + TIMER_CTRL), 1); // enable, no interrupt
        }
        Mps2 {
            last: u32::MAX,
            high: 0,
        }
    }

    const NAME: &'static str = "mps2-an386";
    /// The MPS2 board's 25 MHz clock, at which the studio states this
    /// board's latency (its instructions at one per cycle). QEMU's own
    /// virtual clock (1 ns per instruction) would give 40x less.
    const CPU_HZ: u32 = PCLK_HZ;
    const COST_UNIT: CounterUnit = CounterUnit::Instructions;
    /// 100 ms of virtual time: 100 M emulated instructions of polling,
    /// one to three seconds of wall time under `-icount` (QEMU delivers
    /// the host's bytes within microseconds, so this only ends frames the
    /// host really abandoned).
    const FRAME_TIMEOUT_TICKS: u64 = PCLK_HZ as u64 / 10;

    fn counter(&mut self) -> u64 {
        // SAFETY: read of the timer's value register.
        let v = unsafe { read_volatile(reg(TIMER0 + TIMER_VALUE)) };
        // The timer counts down from u32::MAX and wraps every 171 s; extend
        // it to 64 bits (called far more often than once per wrap).
        if v > self.last {
            self.high += 1 << 32;
        }
        self.last = v;
        self.high + u64::from(u32::MAX - v)
    }

    fn counter_cost(ticks: u64) -> u64 {
        ticks * 40
    }

    fn write(&mut self, bytes: &[u8]) {
        Self::emergency_write(bytes);
    }

    fn emergency_write(bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: UART0 registers.
            unsafe {
                while read_volatile(reg(UART0 + UART_STATE)) & STATE_TX_FULL != 0 {}
                write_volatile(reg(UART0 + UART_DATA), u32::from(b));
            }
        }
    }

    fn read_byte(&mut self) -> Option<u8> {
        // SAFETY: UART0 registers.
        unsafe {
            if read_volatile(reg(UART0 + UART_STATE)) & STATE_RX_FULL != 0 {
                Some(read_volatile(reg(UART0 + UART_DATA)) as u8)
            } else {
                None
            }
        }
    }
}
