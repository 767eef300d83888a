//! Arduino Nano 33 BLE (nRF52840, Cortex-M4F at 64 MHz).
//!
//! - Clock: the 64 MHz crystal oscillator (HFXO) is started so the UART's
//!   baud rate is accurate (nRF52840 Product Specification v1.7, §5.4 CLOCK).
//! - Serial: the board's own USB port as a USB serial port (CDC ACM, see
//!   `nrf52840_usb.rs`), and UARTE0 (PS §6.34) at 115200 8N1 on the header
//!   pins D1/TX = P1.03 and D0/RX = P1.10 (Arduino's `variant.h` for the
//!   Nano 33 BLE) for a 3.3 V USB-serial adapter, connected only when the
//!   Tiny ML Kit's camera shield (which uses those pins) is absent.
//!   Everything printed goes to both; frames are read from either.
//! - Counter: the Cortex-M4 cycle counter (DWT CYCCNT) at the core clock.
//!
//! Written against the Product Specification and not run on hardware here
//! (only the emulated MPS2 runs in CI); the register subset is small on
//! purpose so it can be reviewed against the PS section by section.

use super::nrf52840_usb as usb;
use super::{Board, CounterUnit, say};
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, Ordering};

const CORE_HZ: u32 = 64_000_000;

// CLOCK (PS §5.4.3)
const CLOCK: usize = 0x4000_0000;
const TASKS_HFCLKSTART: usize = 0x000;
const EVENTS_HFCLKSTARTED: usize = 0x100;

// GPIO port 1 (PS §6.9.2)
const P1: usize = 0x5000_0300;
const GPIO_OUTSET: usize = 0x508;
const GPIO_DIRSET: usize = 0x518;
const GPIO_PIN_CNF: usize = 0x700;
const TX_PIN: u32 = 3; // P1.03
const RX_PIN: u32 = 10; // P1.10

// UARTE0 (PS §6.34.9)
const UARTE0: usize = 0x4000_2000;
const TASKS_STARTRX: usize = 0x000;
const TASKS_STARTTX: usize = 0x008;
const EVENTS_ENDRX: usize = 0x110;
const EVENTS_ENDTX: usize = 0x120;
const ENABLE: usize = 0x500;
const PSEL_TXD: usize = 0x50C;
const PSEL_RXD: usize = 0x514;
const BAUDRATE: usize = 0x524;
const RXD_PTR: usize = 0x534;
const RXD_MAXCNT: usize = 0x538;
const TXD_PTR: usize = 0x544;
const TXD_MAXCNT: usize = 0x548;
const CONFIG: usize = 0x56C;
const BAUD_115200: u32 = 0x01D7_E000;
const ENABLE_UARTE: u32 = 8;

fn reg(addr: usize) -> *mut u32 {
    addr as *mut u32
}

/// EasyDMA reads and writes RAM only (PS §6.34.2): transmitted bytes are
/// staged here (flash strings included) and received bytes land here.
struct DmaBuffers {
    tx: [u8; 64],
    rx: [u8; 1],
}

/// Whether UARTE0 is on the header pins (not while the camera shield is).
static UART_ON: AtomicBool = AtomicBool::new(false);

static mut DMA: DmaBuffers = DmaBuffers {
    tx: [0; 64],
    rx: [0; 1],
};

pub struct Nano33Ble {
    last: u32,
    high: u64,
    camera: Option<super::nrf52840_camera::ShieldOv7675>,
}

/// Points the receiver at the one-byte RAM buffer and starts it. The UARTE
/// keeps receiving into its internal FIFO between ENDRX and the next
/// STARTRX (PS §6.34.5), so bytes are not lost while the buffer is re-armed.
fn start_rx() {
    // SAFETY: UARTE0 registers; the DMA buffer is a static in RAM that only
    // this driver uses.
    unsafe {
        write_volatile(
            reg(UARTE0 + RXD_PTR),
            core::ptr::addr_of_mut!(DMA.rx) as u32,
        );
        write_volatile(reg(UARTE0 + RXD_MAXCNT), 1);
        write_volatile(reg(UARTE0 + TASKS_STARTRX), 1);
    }
}

/// Connects UARTE0 to the header pins and starts receiving.
fn connect_uart() {
    // SAFETY: UARTE0 and P1 registers of the nRF52840, touched only here
    // and by this driver.
    unsafe {
        // TX idles high as an output, RX is an input with its buffer
        // connected (PIN_CNF: DIR=0, INPUT=0 connect, PULL=3 pull-up).
        write_volatile(reg(P1 + GPIO_OUTSET), 1 << TX_PIN);
        write_volatile(reg(P1 + GPIO_DIRSET), 1 << TX_PIN);
        write_volatile(reg(P1 + GPIO_PIN_CNF + 4 * RX_PIN as usize), 3 << 2);

        // PSEL: bits 4:0 pin, bit 5 port, bit 31 clear = connected.
        write_volatile(reg(UARTE0 + PSEL_TXD), (1 << 5) | TX_PIN);
        write_volatile(reg(UARTE0 + PSEL_RXD), (1 << 5) | RX_PIN);
        write_volatile(reg(UARTE0 + BAUDRATE), BAUD_115200);
        write_volatile(reg(UARTE0 + CONFIG), 0); // 8N1, no flow control
        write_volatile(reg(UARTE0 + ENABLE), ENABLE_UARTE);
        write_volatile(reg(UARTE0 + EVENTS_ENDRX), 0);
    }
    UART_ON.store(true, Ordering::Relaxed);
    start_rx();
}

fn uart_write(bytes: &[u8]) {
    if !UART_ON.load(Ordering::Relaxed) {
        return;
    }
    for chunk in bytes.chunks(64) {
        // SAFETY: UARTE0 registers and the driver's static RAM buffer;
        // the transfer completes (ENDTX) before the buffer is reused.
        unsafe {
            let tx = core::ptr::addr_of_mut!(DMA.tx) as *mut u8;
            core::ptr::copy_nonoverlapping(chunk.as_ptr(), tx, chunk.len());
            write_volatile(reg(UARTE0 + EVENTS_ENDTX), 0);
            write_volatile(reg(UARTE0 + TXD_PTR), tx as u32);
            write_volatile(reg(UARTE0 + TXD_MAXCNT), chunk.len() as u32);
            write_volatile(reg(UARTE0 + TASKS_STARTTX), 1);
            while read_volatile(reg(UARTE0 + EVENTS_ENDTX)) == 0 {}
            write_volatile(reg(UARTE0 + EVENTS_ENDTX), 0);
        }
    }
}

fn uart_read_byte() -> Option<u8> {
    if !UART_ON.load(Ordering::Relaxed) {
        return None;
    }
    // SAFETY: UARTE0 registers and the driver's static RAM buffer, read
    // only after the DMA transfer has ended (ENDRX).
    unsafe {
        if read_volatile(reg(UARTE0 + EVENTS_ENDRX)) == 0 {
            return None;
        }
        write_volatile(reg(UARTE0 + EVENTS_ENDRX), 0);
        let byte = read_volatile(core::ptr::addr_of!(DMA.rx) as *const u8);
        start_rx();
        Some(byte)
    }
}

impl Board for Nano33Ble {
    const NAME: &'static str = "nano33ble";
    const CPU_HZ: u32 = CORE_HZ;
    const COST_UNIT: CounterUnit = CounterUnit::Cycles;
    const FRAME_TIMEOUT_TICKS: u64 = CORE_HZ as u64 / 2;

    fn init() -> Self {
        // SAFETY: fixed MMIO addresses of the nRF52840, touched only here;
        // the core peripherals are taken once at reset.
        unsafe {
            write_volatile(reg(CLOCK + EVENTS_HFCLKSTARTED), 0);
            write_volatile(reg(CLOCK + TASKS_HFCLKSTART), 1);
            while read_volatile(reg(CLOCK + EVENTS_HFCLKSTARTED)) == 0 {}
        }
        // After the HFXO: the USBD runs from it.
        usb::init();

        let mut cp = cortex_m::Peripherals::take().unwrap_or_else(|| unreachable!());
        cp.DCB.enable_trace();
        cp.DWT.enable_cycle_counter();
        // The camera before the UART: the shield's data lines are the
        // UART's pins (see nrf52840_camera.rs).
        let camera = super::nrf52840_camera::open(CORE_HZ);
        if camera.is_err() {
            connect_uart();
        }
        let mut board = Nano33Ble {
            last: 0,
            high: 0,
            camera: None,
        };
        match camera {
            Ok(camera) => {
                say(
                    &mut board,
                    format_args!("{}", super::nrf52840_camera::READY),
                );
                board.camera = Some(camera);
            }
            Err(absent) => say(&mut board, format_args!("{absent}")),
        }
        board
    }

    fn counter(&mut self) -> u64 {
        let v = cortex_m::peripheral::DWT::cycle_count();
        // CYCCNT wraps every 67 s at 64 MHz; extend it to 64 bits.
        if v < self.last {
            self.high += 1 << 32;
        }
        self.last = v;
        self.high + u64::from(v)
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

    type Camera = super::nrf52840_camera::ShieldOv7675;

    fn camera(&mut self) -> Option<&mut Self::Camera> {
        self.camera.as_mut()
    }
}
