//! Raspberry Pi Pico (RP2040, Cortex-M0+, run at 125 MHz).
//!
//! - Boot: the boot ROM loads the 256-byte second stage (boot2, from the
//!   `rp2040-boot2` crate, for the Pico's W25Q080 flash) placed by
//!   `memory/pico.x` at the start of flash; it sets up execute-in-place and
//!   jumps to cortex-m-rt's vector table right after it.
//! - Clocks (RP2040 datasheet §2.15, §2.16, §2.18): 12 MHz crystal, PLL_SYS
//!   at 1500 MHz / 6 / 2 = 125 MHz for clk_sys and clk_peri, the sequence of
//!   the Pico SDK's `clocks_init`.
//! - Serial: the Pico's own USB port as a USB serial port (CDC ACM, see
//!   `rp2040_usb.rs`), and UART0 (PL011, §4.2) at 115200 8N1 on GP0 (TX,
//!   pin 1) and GP1 (RX, pin 2) for a USB-serial adapter or a Raspberry Pi
//!   Debug Probe's UART. Everything printed goes to both; frames are read
//!   from either.
//! - Counter: SysTick at the core clock; it is 24 bits wide, so its
//!   exception counts wraps (every 134 ms) to make a 64-bit cycle counter.
//!
//! Written against the datasheet and not run on hardware here (only the
//! emulated MPS2 runs in CI).

use super::rp2040_usb as usb;
use super::{Board, CounterUnit};
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU32, Ordering};

#[unsafe(link_section = ".boot2")]
#[unsafe(no_mangle)]
#[used]
pub static BOOT2_FIRMWARE: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

const CORE_HZ: u32 = 125_000_000;
const XOSC_HZ: u32 = 12_000_000;

/// Register aliases that set or clear bits atomically (§2.1.2).
const SET: usize = 0x2000;
const CLR: usize = 0x3000;

// RESETS (§2.14.3)
const RESETS: usize = 0x4000_C000;
const RESET: usize = 0x0;
const RESET_DONE: usize = 0x8;
const RESET_IO_BANK0: u32 = 1 << 5;
const RESET_PADS_BANK0: u32 = 1 << 8;
const RESET_PLL_SYS: u32 = 1 << 12;
const RESET_UART0: u32 = 1 << 22;

// XOSC (§2.16.7)
const XOSC: usize = 0x4002_4000;
const XOSC_CTRL: usize = 0x00;
const XOSC_STATUS: usize = 0x04;
const XOSC_STARTUP: usize = 0x0C;

// CLOCKS (§2.15.7)
const CLOCKS: usize = 0x4000_8000;
const CLK_REF_CTRL: usize = 0x30;
const CLK_REF_SELECTED: usize = 0x38;
const CLK_SYS_CTRL: usize = 0x3C;
const CLK_SYS_SELECTED: usize = 0x44;
const CLK_PERI_CTRL: usize = 0x48;
const CLK_SYS_RESUS_CTRL: usize = 0x78;

// PLL_SYS (§2.18.4)
const PLL_SYS: usize = 0x4002_8000;
const PLL_CS: usize = 0x0;
const PLL_PWR: usize = 0x4;
const PLL_FBDIV_INT: usize = 0x8;
const PLL_PRIM: usize = 0xC;

// IO_BANK0 (§2.19.6): GPIOn_CTRL at 0x04 + 8n, FUNCSEL 2 = UART.
const IO_BANK0: usize = 0x4001_4000;

// UART0 (PL011, §4.2.8)
const UART0: usize = 0x4003_4000;
const UARTDR: usize = 0x00;
const UARTFR: usize = 0x18;
const UARTIBRD: usize = 0x24;
const UARTFBRD: usize = 0x28;
const UARTLCR_H: usize = 0x2C;
const UARTCR: usize = 0x30;
const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;

fn reg(addr: usize) -> *mut u32 {
    addr as *mut u32
}

/// Reads, modifies and writes a register.
unsafe fn modify(addr: usize, f: impl FnOnce(u32) -> u32) {
    // SAFETY: the caller passes a valid MMIO register address.
    unsafe { write_volatile(reg(addr), f(read_volatile(reg(addr)))) }
}

/// SysTick wraps since start-up (bits 24 and up of the cycle counter).
static WRAPS: AtomicU32 = AtomicU32::new(0);

#[cortex_m_rt::exception]
fn SysTick() {
    // Single-core, and the only writer: a load and a store suffice (the
    // M0+ has no atomic read-modify-write instructions).
    WRAPS.store(WRAPS.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

pub struct Pico {
    camera: Option<super::rp2040_camera::PicoOv7675>,
}

fn unreset(bits: u32) {
    // SAFETY: RESETS registers.
    unsafe {
        write_volatile(reg(RESETS + RESET + CLR), bits);
        while read_volatile(reg(RESETS + RESET_DONE)) & bits != bits {}
    }
}

fn init_clocks() {
    // SAFETY: clock-tree registers, configured once at reset while nothing
    // else runs; the order follows the Pico SDK's `clocks_init`.
    unsafe {
        write_volatile(reg(CLOCKS + CLK_SYS_RESUS_CTRL), 0);

        // Crystal: 1-15 MHz range, ~1 ms start-up delay (in units of 256 cycles).
        write_volatile(reg(XOSC + XOSC_CTRL), 0xAA0);
        write_volatile(reg(XOSC + XOSC_STARTUP), (XOSC_HZ / 1000).div_ceil(256));
        modify(XOSC + XOSC_CTRL, |v| v | (0xFAB << 12));
        while read_volatile(reg(XOSC + XOSC_STATUS)) & (1 << 31) == 0 {}

        // Run clk_sys from clk_ref and clk_ref from the ring oscillator
        // while the PLL is (re)configured.
        modify(CLOCKS + CLK_SYS_CTRL, |v| v & !1);
        while read_volatile(reg(CLOCKS + CLK_SYS_SELECTED)) != 1 {}
        modify(CLOCKS + CLK_REF_CTRL, |v| v & !3);
        while read_volatile(reg(CLOCKS + CLK_REF_SELECTED)) != 1 {}

        // PLL_SYS: 12 MHz / 1 * 125 = 1500 MHz VCO, / 6 / 2 = 125 MHz.
        write_volatile(reg(RESETS + RESET + SET), RESET_PLL_SYS);
        unreset(RESET_PLL_SYS);
        write_volatile(reg(PLL_SYS + PLL_CS), 1);
        write_volatile(reg(PLL_SYS + PLL_FBDIV_INT), 125);
        modify(PLL_SYS + PLL_PWR, |v| v & !((1 << 0) | (1 << 5))); // PD, VCOPD
        while read_volatile(reg(PLL_SYS + PLL_CS)) & (1 << 31) == 0 {}
        write_volatile(reg(PLL_SYS + PLL_PRIM), (6 << 16) | (2 << 12));
        modify(PLL_SYS + PLL_PWR, |v| v & !(1 << 3)); // POSTDIVPD

        // clk_ref from the crystal (SRC = 2).
        modify(CLOCKS + CLK_REF_CTRL, |v| (v & !3) | 2);
        while read_volatile(reg(CLOCKS + CLK_REF_SELECTED)) != 1 << 2 {}
        // clk_sys: AUXSRC = pll_sys (0), then SRC = aux (1).
        modify(CLOCKS + CLK_SYS_CTRL, |v| v & !(7 << 5));
        modify(CLOCKS + CLK_SYS_CTRL, |v| v | 1);
        while read_volatile(reg(CLOCKS + CLK_SYS_SELECTED)) != 1 << 1 {}
        // clk_peri from clk_sys (AUXSRC = 0), enabled.
        write_volatile(reg(CLOCKS + CLK_PERI_CTRL), 1 << 11);
    }
}

fn init_uart() {
    unreset(RESET_IO_BANK0 | RESET_PADS_BANK0 | RESET_UART0);
    // Baud divisor = clk_peri / (16 * baud), as 16.6 fixed point (§4.2.7.1).
    let div = 8 * CORE_HZ / 115_200;
    let (ibrd, fbrd) = (div >> 7, ((div & 0x7F) + 1) / 2);
    // SAFETY: UART0 and IO_BANK0 registers, configured once at reset.
    unsafe {
        write_volatile(reg(UART0 + UARTIBRD), ibrd);
        write_volatile(reg(UART0 + UARTFBRD), fbrd);
        // The LCR_H write latches the divisors: 8 bits, FIFOs on.
        write_volatile(reg(UART0 + UARTLCR_H), (3 << 5) | (1 << 4));
        write_volatile(reg(UART0 + UARTCR), (1 << 0) | (1 << 8) | (1 << 9));
        write_volatile(reg(IO_BANK0 + 0x04), 2); // GP0 = UART0 TX
        write_volatile(reg(IO_BANK0 + 0x0C), 2); // GP1 = UART0 RX
    }
}

fn uart_write(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: UART0 registers.
        unsafe {
            while read_volatile(reg(UART0 + UARTFR)) & FR_TXFF != 0 {}
            write_volatile(reg(UART0 + UARTDR), u32::from(b));
        }
    }
}

fn uart_read_byte() -> Option<u8> {
    // SAFETY: UART0 registers.
    unsafe {
        if read_volatile(reg(UART0 + UARTFR)) & FR_RXFE != 0 {
            None
        } else {
            Some(read_volatile(reg(UART0 + UARTDR)) as u8)
        }
    }
}

impl Board for Pico {
    const NAME: &'static str = "pico";
    const CPU_HZ: u32 = CORE_HZ;
    const COST_UNIT: CounterUnit = CounterUnit::Cycles;
    const FRAME_TIMEOUT_TICKS: u64 = CORE_HZ as u64 / 2;

    fn init() -> Self {
        init_clocks();
        init_uart();
        usb::init();
        let mut cp = cortex_m::Peripherals::take().unwrap_or_else(|| unreachable!());
        cp.SYST
            .set_clock_source(cortex_m::peripheral::syst::SystClkSource::Core);
        cp.SYST.set_reload(0x00FF_FFFF);
        cp.SYST.clear_current();
        cp.SYST.enable_interrupt();
        cp.SYST.enable_counter();
        let mut board = Pico { camera: None };
        board.camera = super::rp2040_camera::open(&mut board);
        board
    }

    fn counter(&mut self) -> u64 {
        // SysTick counts down; a wrap between the two reads of WRAPS makes
        // the exception run in between, so retry until they agree.
        loop {
            let wraps = WRAPS.load(Ordering::Relaxed);
            let value = cortex_m::peripheral::SYST::get_current();
            if WRAPS.load(Ordering::Relaxed) == wraps {
                return (u64::from(wraps) << 24) + u64::from(0x00FF_FFFF - value);
            }
        }
    }

    fn counter_cost(ticks: u64) -> u64 {
        ticks
    }

    fn write(&mut self, bytes: &[u8]) {
        // Bytes a host does not take within half a second are dropped
        // (usb_serial::Delivery says which); the UART always gets them.
        let _ = usb::write(bytes, || self.counter(), u64::from(CORE_HZ / 2));
        uart_write(bytes);
    }

    fn emergency_write(bytes: &[u8]) {
        usb::emergency_write(bytes);
        uart_write(bytes);
    }

    fn read_byte(&mut self) -> Option<u8> {
        usb::read_byte().or_else(uart_read_byte)
    }

    type Camera = super::rp2040_camera::PicoOv7675;

    fn camera(&mut self) -> Option<&mut Self::Camera> {
        self.camera.as_mut()
    }
}
