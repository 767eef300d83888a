//! The Pico's own USB port as a serial port (USB CDC ACM).
//!
//! The board-independent part (device, descriptors, serial class, buffers,
//! what happens without a host) is `tinystudio_device::usb_serial`; here is
//! what is the RP2040's:
//!
//! - The bus driver: `rp2040-hal`'s `usb::UsbBus` (the rp-rs project's, the
//!   one the Pico's Rust examples use), and only that part of the HAL: the
//!   clocks stay by register.
//! - Clock: the USB controller needs exactly 48 MHz on clk_usb (RP2040
//!   datasheet §2.15.1). PLL_USB makes it from the 12 MHz crystal the way
//!   the Pico SDK's `clocks_init` does: 12 MHz / 1 x 120 = 1440 MHz VCO,
//!   / 6 / 5 = 48 MHz (§2.18: the VCO must run at 750-1600 MHz); clk_usb
//!   takes PLL_USB undivided.
//! - VBUS: the Pico does not wire VBUS to the controller's detect input
//!   (it goes to GPIO24 through a divider), so detection is forced on, as
//!   the SDK does.
//! - Interrupt: USBCTRL_IRQ, IRQ 5 (§2.3.2). `rp2040-hal` enables the
//!   controller's buffer, setup, bus-reset, suspend and resume interrupts;
//!   an OUT packet that is not read keeps the buffer interrupt asserted,
//!   which is why the shared port masks the interrupt while its receive
//!   buffer is full.
//! - Ids: Raspberry Pi's vendor id 0x2E8A with product id 0x000A, the
//!   Pico SDK's USB serial (stdio) device, so hosts and tools see what a
//!   Pico running SDK firmware shows. No serial number: the RP2040's unique
//!   id is the flash chip's, read with a flash command outside
//!   execute-in-place, which this firmware does not do.

use core::mem::MaybeUninit;
use core::ptr::{addr_of_mut, read_volatile, write_volatile};

use cortex_m::peripheral::NVIC;
use rp2040_hal::clocks::ClocksManager;
use rp2040_hal::pac;
use rp2040_hal::usb::UsbBus;
use tinystudio_device::usb_serial::usb_device::bus::UsbBusAllocator;
use tinystudio_device::usb_serial::{Delivery, Identity, Port, UsbSerial};

/// Register aliases that set or clear bits atomically (§2.1.2).
const CLR: usize = 0x3000;
const SET: usize = 0x2000;

// RESETS (§2.14.3)
const RESETS: usize = 0x4000_C000;
const RESET: usize = 0x0;
const RESET_DONE: usize = 0x8;
const RESET_PLL_USB: u32 = 1 << 13;

// PLL_USB (§2.18.4), the same layout as PLL_SYS.
const PLL_USB: usize = 0x4002_C000;
const PLL_CS: usize = 0x0;
const PLL_PWR: usize = 0x4;
const PLL_FBDIV_INT: usize = 0x8;
const PLL_PRIM: usize = 0xC;
const PLL_PWR_PD: u32 = 1 << 0;
const PLL_PWR_POSTDIVPD: u32 = 1 << 3;
const PLL_PWR_VCOPD: u32 = 1 << 5;
const PLL_CS_LOCK: u32 = 1 << 31;

// CLOCKS (§2.15.7): clk_usb
const CLOCKS: usize = 0x4000_8000;
const CLK_USB_CTRL: usize = 0x54;
const CLK_USB_DIV: usize = 0x58;
const CLK_USB_ENABLE: u32 = 1 << 11;

const USBCTRL_IRQ: i16 = 5;

type Bus = UsbBus;

static mut BUS: Option<UsbBusAllocator<Bus>> = None;
static mut DEVICE: MaybeUninit<UsbSerial<'static, Bus>> = MaybeUninit::uninit();
static PORT: Port<Bus> = Port::new();

fn reg(addr: usize) -> *mut u32 {
    addr as *mut u32
}

fn switch_interrupt(on: bool) {
    if on {
        // SAFETY: the handler only takes the port's critical section.
        unsafe { NVIC::unmask(pac::Interrupt::USBCTRL_IRQ) }
    } else {
        NVIC::mask(pac::Interrupt::USBCTRL_IRQ);
    }
}

/// 48 MHz on clk_usb from PLL_USB (the crystal must already run).
fn init_usb_clock() {
    // SAFETY: RESETS, PLL_USB and CLOCKS registers, configured once at
    // reset before anything uses clk_usb; the order is the SDK's
    // `pll_init` and `clock_configure`.
    unsafe {
        write_volatile(reg(RESETS + RESET + SET), RESET_PLL_USB);
        write_volatile(reg(RESETS + RESET + CLR), RESET_PLL_USB);
        while read_volatile(reg(RESETS + RESET_DONE)) & RESET_PLL_USB == 0 {}
        write_volatile(reg(PLL_USB + PLL_CS), 1); // REFDIV
        write_volatile(reg(PLL_USB + PLL_FBDIV_INT), 120);
        write_volatile(reg(PLL_USB + PLL_PWR + CLR), PLL_PWR_PD | PLL_PWR_VCOPD);
        while read_volatile(reg(PLL_USB + PLL_CS)) & PLL_CS_LOCK == 0 {}
        write_volatile(reg(PLL_USB + PLL_PRIM), (6 << 16) | (5 << 12));
        write_volatile(reg(PLL_USB + PLL_PWR + CLR), PLL_PWR_POSTDIVPD);

        // clk_usb: stopped, AUXSRC = clksrc_pll_usb (0), divisor 1 (integer
        // part in bits 31:8), started.
        write_volatile(reg(CLOCKS + CLK_USB_CTRL + CLR), CLK_USB_ENABLE);
        write_volatile(reg(CLOCKS + CLK_USB_DIV), 1 << 8);
        write_volatile(reg(CLOCKS + CLK_USB_CTRL), CLK_USB_ENABLE);
    }
}

/// Starts USB serial; the crystal must run (`init_clocks`). Called once from
/// `Pico::init`.
pub fn init() {
    init_usb_clock();
    // SAFETY: the PAC's peripherals are taken nowhere else (the rest of the
    // firmware uses raw register addresses, never these blocks); BUS and
    // DEVICE are written once, here, before the interrupt that reads
    // through them is enabled.
    unsafe {
        let mut p = pac::Peripherals::steal();
        // The HAL's proof that clk_usb is set up; it configures nothing
        // here (ClocksManager::new only clears CLK_SYS_RESUS_CTRL, as
        // init_clocks already did).
        let clocks = ClocksManager::new(p.CLOCKS);
        let driver = UsbBus::new(
            p.USBCTRL_REGS,
            p.USBCTRL_DPRAM,
            clocks.usb_clock,
            true,
            &mut p.RESETS,
        );
        let bus = (*addr_of_mut!(BUS)).insert(UsbBusAllocator::new(driver));
        let identity = Identity {
            vendor_id: 0x2E8A,
            product_id: 0x000A,
            manufacturer: "Raspberry Pi",
            product: "Pico (TinyStudio)",
            serial_number: None,
        };
        let Ok(device) = UsbSerial::new(bus, &identity, switch_interrupt) else {
            return;
        };
        PORT.install((*addr_of_mut!(DEVICE)).write(device));
    }
    switch_interrupt(true);
}

/// Queues bytes for the host (see `usb_serial::Port::write`).
pub fn write(bytes: &[u8], now: impl FnMut() -> u64, timeout: u64) -> Delivery {
    PORT.write(bytes, now, timeout)
}

pub fn read_byte() -> Option<u8> {
    PORT.read_byte()
}

pub fn emergency_write(bytes: &[u8]) {
    PORT.emergency_write(bytes);
}

/// Every interrupt without a handler of its own lands here (no PAC vector
/// table: the PAC's `rt` feature is off); USBCTRL's services the port, any
/// other stops as cortex-m-rt's default handler does.
#[cortex_m_rt::exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == USBCTRL_IRQ {
        PORT.on_interrupt();
    } else {
        #[allow(clippy::empty_loop)]
        loop {}
    }
}
