//! The Nano 33 BLE's own USB port as a serial port (USB CDC ACM).
//!
//! The board-independent part (device, descriptors, serial class, buffers,
//! what happens without a host) is `tinystudio_device::usb_serial`; here is
//! what is the nRF52840's:
//!
//! - The bus driver: `nrf-usbd`, the nrf-rs project's driver (also what
//!   `nrf52840-hal` uses), PAC-independent: it only needs the address of the
//!   USBD register block ([`Usbd0`]).
//! - Power: the USBD needs the USB regulator, which runs only when VBUS is
//!   present (nRF52840 Product Specification v1.7, §5.3 POWER, USB supply:
//!   POWER.USBREGSTATUS). A board powered through VIN without a USB cable
//!   keeps the UART only; USB must be plugged in at reset (on the Nano, USB
//!   usually is its power, so unplugging it resets the board anyway).
//! - Clock: the USBD needs the 64 MHz crystal (HFXO, §6.35 USBD), which
//!   `Nano33Ble::init` starts before this runs.
//! - Interrupt: USBD is IRQ 39 (its peripheral id: 0x4002_7000 >> 12). The port is
//!   serviced on SOF (every millisecond while the host talks to the board),
//!   on bus reset and on USB events (suspend, resume). Those events are the
//!   ones `nrf-usbd`'s poll clears itself, so the level-triggered interrupt
//!   cannot fire forever on an event nobody acknowledges.
//! - Ids: Arduino's vendor id 0x2341 and the Nano 33 BLE's application
//!   product id 0x805A (what the board shows with Arduino's own firmware,
//!   bootloader 0x005A), so the Arduino IDE and the studio's port list name
//!   the board; the serial number is the chip's FICR DEVICEID.

use core::mem::MaybeUninit;
use core::ptr::{addr_of_mut, read_volatile, write_volatile};

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::NVIC;
use nrf_usbd::{UsbPeripheral, Usbd};
use tinystudio_device::usb_serial::usb_device::bus::UsbBusAllocator;
use tinystudio_device::usb_serial::{Delivery, Identity, Port, UsbSerial};

// POWER (PS §5.3)
const POWER: usize = 0x4000_0000;
const USBREGSTATUS: usize = 0x438;
const VBUSDETECT: u32 = 1 << 0;
const OUTPUTRDY: u32 = 1 << 1;

// USBD (PS §6.35)
const USBD: usize = 0x4002_7000;
const USBD_INTENSET: usize = 0x304;
const USBD_ENABLE: usize = 0x500;
const USBD_USBPULLUP: usize = 0x504;
const INTEN_USBRESET: u32 = 1 << 0;
const INTEN_SOF: u32 = 1 << 21;
const INTEN_USBEVENT: u32 = 1 << 22;
const USBD_IRQ: u16 = 39;

// FICR (PS §4.4): DEVICEID[0..2], a 64-bit number unique per chip.
const FICR_DEVICEID: usize = 0x1000_0060;

/// How long the USB regulator may take to settle after VBUS, in polls
/// (tens of milliseconds at 64 MHz, far more than it needs).
const OUTPUTRDY_POLLS: u32 = 1_000_000;

/// The USBD register block, for `nrf-usbd`.
pub struct Usbd0;

// SAFETY: the address is the nRF52840's USBD, whose layout is the one
// nrf-usbd expects; only the bus driver made from this value touches it
// after `init`.
unsafe impl UsbPeripheral for Usbd0 {
    const REGISTERS: *const () = USBD as *const ();
}

type Bus = Usbd<Usbd0>;

/// The USBD interrupt for the NVIC (no PAC here to name it).
#[derive(Clone, Copy)]
struct UsbdIrq;

// SAFETY: 39 is the USBD's interrupt number on the nRF52840.
unsafe impl InterruptNumber for UsbdIrq {
    fn number(self) -> u16 {
        USBD_IRQ
    }
}

static mut BUS: Option<UsbBusAllocator<Bus>> = None;
static mut DEVICE: MaybeUninit<UsbSerial<'static, Bus>> = MaybeUninit::uninit();
static mut SERIAL_NUMBER: [u8; 16] = [0; 16];
static PORT: Port<Bus> = Port::new();

fn reg(addr: usize) -> *mut u32 {
    addr as *mut u32
}

fn switch_interrupt(on: bool) {
    if on {
        // SAFETY: the handler only takes the port's critical section.
        unsafe { NVIC::unmask(UsbdIrq) }
    } else {
        NVIC::mask(UsbdIrq);
    }
}

/// Starts USB serial if USB is powered; the HFXO must be running.
/// Called once from `Nano33Ble::init`.
pub fn init() {
    // SAFETY: POWER, USBD and FICR registers at their fixed addresses;
    // BUS, DEVICE and SERIAL_NUMBER are written once, here, before the
    // interrupt that reads through them is enabled.
    unsafe {
        if read_volatile(reg(POWER + USBREGSTATUS)) & VBUSDETECT == 0 {
            return;
        }
        let mut polls = 0;
        while read_volatile(reg(POWER + USBREGSTATUS)) & OUTPUTRDY == 0 {
            polls += 1;
            if polls == OUTPUTRDY_POLLS {
                return;
            }
        }
        // The Arduino bootloader may have left its own USB device
        // connected: disconnect and disable before nrf-usbd enables ours.
        write_volatile(reg(USBD + USBD_USBPULLUP), 0);
        write_volatile(reg(USBD + USBD_ENABLE), 0);

        let serial = &mut *addr_of_mut!(SERIAL_NUMBER);
        let id = (u64::from(read_volatile(reg(FICR_DEVICEID + 4))) << 32)
            | u64::from(read_volatile(reg(FICR_DEVICEID)));
        for (i, digit) in serial.iter_mut().enumerate() {
            *digit = b"0123456789ABCDEF"[((id >> (60 - 4 * i)) & 0xF) as usize];
        }
        let identity = Identity {
            vendor_id: 0x2341,
            product_id: 0x805A,
            manufacturer: "Arduino",
            product: "Nano 33 BLE (TinyStudio)",
            serial_number: core::str::from_utf8(serial).ok(),
        };
        let bus = (*addr_of_mut!(BUS)).insert(UsbBusAllocator::new(Usbd::new(Usbd0)));
        let Ok(device) = UsbSerial::new(bus, &identity, switch_interrupt) else {
            return;
        };
        PORT.install((*addr_of_mut!(DEVICE)).write(device));
        write_volatile(
            reg(USBD + USBD_INTENSET),
            INTEN_USBRESET | INTEN_SOF | INTEN_USBEVENT,
        );
        switch_interrupt(true);
    }
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

/// Every interrupt without a handler of its own lands here (the firmware
/// has no PAC to give each a vector); USBD's services the port, any other
/// stops as cortex-m-rt's default handler does.
#[cortex_m_rt::exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == USBD_IRQ as i16 {
        PORT.on_interrupt();
    } else {
        #[allow(clippy::empty_loop)]
        loop {}
    }
}
