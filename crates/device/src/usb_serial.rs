//! The boards' own USB port as a serial port (USB CDC ACM), the part that is
//! the same on every board: device set-up and descriptors, the serial class,
//! buffering both ways, and what happens when no one listens. A board only
//! brings its bus driver (any [`UsbBus`]), its interrupt and a clock.
//!
//! Why these crates: `usb-device` is the embedded Rust USB device stack that
//! the chips' bus drivers implement (`nrf-usbd` for the nRF52840,
//! `rp2040-hal`'s `usb::UsbBus` for the RP2040), and `usbd-serial` is its CDC
//! ACM class (descriptors, line coding, DTR, packet framing); writing either
//! by hand would mean re-deriving USB's control-transfer state machine, which
//! both crates have had fixed against real hosts for years.
//!
//! How a board uses it:
//!
//! - at start-up, [`UsbSerial::new`] with the bus allocator and the board's
//!   [`Identity`], moved into a `static` (a `MaybeUninit`, so it costs no
//!   flash for an initial value), then [`Port::install`] into the board's
//!   `static` [`Port`];
//! - its USB interrupt calls [`Port::on_interrupt`], so enumeration, the
//!   host's control requests and the buffers keep moving while the loop runs
//!   an inference for hundreds of milliseconds;
//! - the loop calls [`Port::write`] and [`Port::read_byte`]; both also
//!   service the device themselves, so the port works with its interrupt
//!   masked too.
//!
//! The device and the serial class live in a `critical_section::Mutex`: the
//! interrupt and the loop never touch them at the same time.
//!
//! When no one listens, writes never block the loop: while no host has the
//! port open (the device is not configured, is suspended, or the host has not
//! raised DTR, which terminal programs, the Arduino serial monitor and
//! pyserial do when they open it) written bytes are dropped at once, as the
//! Pico SDK's USB stdio does; while the port is open, [`Port::write`] waits
//! for buffer room, and if the host takes nothing for the timeout the board
//! passes, the rest is dropped and so is every write after it until the host
//! has read what is buffered. Output printed before a host opened the port is
//! not replayed to it, with one exception: the firmware's boot line (the
//! first line that starts with [`GREETING_PREFIX`], `ready: ...`) is sent
//! to every host that opens the port, since a board on USB cannot be
//! listened to from reset the way a UART can (opening the port does not
//! reset the board, and resetting it drops the port), and the studio reads
//! the input size from that line.

use core::cell::RefCell;

use critical_section::Mutex;
use heapless::Deque;
use usb_device::UsbError;
use usb_device::bus::{UsbBus, UsbBusAllocator};
use usb_device::class::UsbClass;
use usb_device::device::{
    StringDescriptors, UsbDevice, UsbDeviceBuilder, UsbDeviceState, UsbVidPid,
};
use usb_device::prelude::BuilderError;
use usbd_serial::{DefaultBufferStore, SerialPort, USB_CLASS_CDC};

/// The board's bus driver names its types from this crate's `usb-device`,
/// so both sides agree on one version.
pub use usb_device;

/// Bulk and control packets at USB full speed, in bytes.
pub const PACKET: usize = 64;
/// Bytes from the host held until the loop reads them; when less than a
/// packet's room is left the interrupt is masked (see [`Port`]).
pub const RX_BUFFER: usize = 256;
/// Bytes for the host held until it reads them: a prediction response and
/// more fits, so the loop does not wait on the host packet by packet.
pub const TX_BUFFER: usize = 512;
/// The start of the line replayed to every host that opens the port: the
/// firmware's boot line (`crates/firmware/src/app.rs`).
pub const GREETING_PREFIX: &[u8] = b"ready:";
/// The longest boot line kept for replay; a longer one is not replayed.
pub const GREETING_MAX: usize = 192;
/// How many times an emergency write (the panic handler) services the port
/// before it gives up on a host that does not read.
pub const EMERGENCY_POLLS: u32 = 200_000;

/// What the device tells the host about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    pub vendor_id: u16,
    pub product_id: u16,
    pub manufacturer: &'a str,
    pub product: &'a str,
    /// A per-chip serial number lets a host tell two boards apart (Linux's
    /// `/dev/serial/by-id`); `None` where the chip has no cheap unique id.
    pub serial_number: Option<&'a str>,
}

/// Turns the board's USB interrupt on (`true`) or off; called from both the
/// interrupt and the loop, inside the critical section.
pub type InterruptSwitch = fn(bool);

/// The device, its serial class, and both buffers.
pub struct UsbSerial<'a, B: UsbBus> {
    device: UsbDevice<'a, B>,
    serial: SerialPort<'a, B, DefaultBufferStore, [u8; TX_BUFFER]>,
    rx: Deque<u8, RX_BUFFER>,
    /// A host had the port open at the last service.
    open: bool,
    /// A write timed out on a host that had the port open but read nothing;
    /// writes are dropped until the host has read what is buffered.
    stalled: bool,
    interrupt_on: bool,
    switch_interrupt: InterruptSwitch,
    /// The line being written while the boot line is looked for, then the
    /// boot line.
    greeting: heapless::Vec<u8, GREETING_MAX>,
    greeting_state: Greeting,
}

/// Where the search for the boot line is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Greeting {
    Looking,
    /// The current line is longer than a boot line can be.
    SkippingLine,
    Found,
}

impl<'a, B: UsbBus> UsbSerial<'a, B> {
    /// Builds the device (the bus driver connects to the host here: the
    /// pull-up is switched on). The board's interrupt should be on when
    /// this returns; the port turns it off and on through
    /// `switch_interrupt` after that.
    pub fn new(
        bus: &'a UsbBusAllocator<B>,
        identity: &Identity<'a>,
        switch_interrupt: InterruptSwitch,
    ) -> Result<Self, BuilderError> {
        // usb-device's rule: classes allocate their endpoints before the
        // device is built.
        let serial = SerialPort::new_with_store(bus, DefaultBufferStore::default(), [0; TX_BUFFER]);
        let mut strings = StringDescriptors::default()
            .manufacturer(identity.manufacturer)
            .product(identity.product);
        if let Some(serial_number) = identity.serial_number {
            strings = strings.serial_number(serial_number);
        }
        let device = UsbDeviceBuilder::new(bus, UsbVidPid(identity.vendor_id, identity.product_id))
            .strings(&[strings])?
            // Class at the device level: Linux, macOS and Windows 10 and
            // later bind their CDC ACM driver without an .inf file.
            .device_class(USB_CLASS_CDC)
            // 64-byte control packets: enumeration in fewer transactions,
            // and no short-EP0 quirks (rp2040-hal documents one for 8 bytes).
            .max_packet_size_0(PACKET as u8)?
            .build();
        Ok(UsbSerial {
            device,
            serial,
            rx: Deque::new(),
            open: false,
            stalled: false,
            interrupt_on: true,
            switch_interrupt,
            greeting: heapless::Vec::new(),
            greeting_state: Greeting::Looking,
        })
    }

    /// A host has the port open: configured, not suspended, DTR raised.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Moves everything that can move: the device's control requests and
    /// bus events, host bytes into the receive buffer, buffered bytes to
    /// the host.
    fn service(&mut self) {
        self.device.poll(&mut [&mut self.serial]);
        let open = self.device.state() == UsbDeviceState::Configured && self.serial.dtr();
        if self.open && !open {
            // The host closed the port or went away: what it did not read
            // would reach the next program that opens it, out of date.
            UsbClass::<B>::reset(&mut self.serial);
            self.stalled = false;
        }
        if open && !self.open {
            // A new listener: the board's boot line first. The buffer is
            // empty (reset on close, or never written while closed).
            if self.greeting_state == Greeting::Found {
                let _ = self.serial.write(&self.greeting);
            }
        }
        self.open = open;
        while RX_BUFFER - self.rx.len() >= PACKET {
            let mut chunk = [0u8; PACKET];
            match self.serial.read(&mut chunk) {
                Ok(n) if n > 0 => {
                    for &b in &chunk[..n] {
                        // Room for a whole packet was checked above.
                        let _ = self.rx.push_back(b);
                    }
                }
                _ => break,
            }
        }
        if self.serial.flush().is_ok() {
            self.stalled = false;
        }
        // A packet the receive buffer has no room for stays in the
        // endpoint, which on some chips (the RP2040) keeps the interrupt
        // asserted: mask it until the loop has read, and let the loop's own
        // calls service the device meanwhile.
        let room = RX_BUFFER - self.rx.len() >= PACKET;
        if room != self.interrupt_on {
            (self.switch_interrupt)(room);
            self.interrupt_on = room;
        }
    }

    /// Looks for the boot line in what the loop writes, until found.
    fn remember(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match self.greeting_state {
                Greeting::Found => return,
                Greeting::SkippingLine => {}
                Greeting::Looking => {
                    if self.greeting.push(b).is_err() {
                        self.greeting_state = Greeting::SkippingLine;
                    } else if b == b'\n' && self.greeting.starts_with(GREETING_PREFIX) {
                        self.greeting_state = Greeting::Found;
                        return;
                    }
                }
            }
            if b == b'\n' {
                self.greeting.clear();
                self.greeting_state = Greeting::Looking;
            }
        }
    }

    /// Queues what fits of `bytes` for the host.
    fn push(&mut self, bytes: &[u8]) -> Step {
        if !self.open {
            return Step::Closed;
        }
        if self.stalled {
            return Step::Stalled;
        }
        match self.serial.write(bytes) {
            Ok(n) => Step::Queued(n),
            Err(UsbError::WouldBlock) => Step::Queued(0),
            Err(_) => Step::Closed,
        }
    }
}

/// One attempt of a write.
enum Step {
    Queued(usize),
    Closed,
    Stalled,
}

/// What became of the bytes given to [`Port::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// All of them are queued for the host.
    Queued,
    /// No host has the port open (or no port was installed); these were
    /// queued before it was found closed (0 unless it closed mid-write).
    NoHost { queued: usize },
    /// The host has the port open but took nothing for the timeout (or had
    /// not caught up since an earlier timeout); the bytes after `queued`
    /// were dropped.
    HostNotReading { queued: usize },
}

/// The board's USB serial port, a `static` shared by the interrupt and the
/// loop.
pub struct Port<B: UsbBus + 'static> {
    // A reference, not the device itself: an empty port is all zeros and
    // lands in .bss instead of costing its size in flash for .data.
    inner: Mutex<RefCell<Option<&'static mut UsbSerial<'static, B>>>>,
}

impl<B: UsbBus + 'static> Default for Port<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: UsbBus + 'static> Port<B> {
    /// An empty port: writes are dropped and nothing is read until
    /// [`install`](Self::install) (a board without USB power never installs).
    pub const fn new() -> Self {
        Port {
            inner: Mutex::new(RefCell::new(None)),
        }
    }

    /// Hands the device to the port; from now on the interrupt services it.
    pub fn install(&self, serial: &'static mut UsbSerial<'static, B>) {
        critical_section::with(|cs| {
            self.inner.borrow_ref_mut(cs).replace(serial);
        });
    }

    /// The USB interrupt's work.
    pub fn on_interrupt(&self) {
        critical_section::with(|cs| {
            if let Some(port) = self.inner.borrow_ref_mut(cs).as_mut() {
                port.service();
            }
        });
    }

    /// Whether a host has the port open.
    pub fn is_open(&self) -> bool {
        critical_section::with(|cs| self.inner.borrow_ref(cs).as_ref().is_some_and(|p| p.open))
    }

    /// Queues `bytes` for the host, waiting for buffer room while the host
    /// reads. `now` is a free-running counter; when `timeout` of its ticks
    /// pass without the host taking anything the rest is dropped, see
    /// [`Delivery`]. The critical section is left between attempts, so the
    /// interrupt keeps running while this waits.
    pub fn write(&self, bytes: &[u8], mut now: impl FnMut() -> u64, timeout: u64) -> Delivery {
        if bytes.is_empty() {
            return Delivery::Queued;
        }
        critical_section::with(|cs| {
            if let Some(port) = self.inner.borrow_ref_mut(cs).as_mut() {
                port.remember(bytes);
            }
        });
        let mut rest = bytes;
        let mut since = now();
        loop {
            let step = critical_section::with(|cs| {
                let mut cell = self.inner.borrow_ref_mut(cs);
                let Some(port) = cell.as_mut() else {
                    return Step::Closed;
                };
                port.service();
                port.push(rest)
            });
            let queued = bytes.len() - rest.len();
            match step {
                Step::Closed => return Delivery::NoHost { queued },
                Step::Stalled => return Delivery::HostNotReading { queued },
                Step::Queued(n) if n > 0 => {
                    rest = &rest[n..];
                    if rest.is_empty() {
                        return Delivery::Queued;
                    }
                    since = now();
                }
                Step::Queued(_) => {
                    if now().wrapping_sub(since) > timeout {
                        critical_section::with(|cs| {
                            if let Some(port) = self.inner.borrow_ref_mut(cs).as_mut() {
                                port.stalled = true;
                            }
                        });
                        return Delivery::HostNotReading { queued };
                    }
                }
            }
        }
    }

    /// The next byte from the host, if one has arrived (never waits).
    pub fn read_byte(&self) -> Option<u8> {
        critical_section::with(|cs| {
            let mut cell = self.inner.borrow_ref_mut(cs);
            let port = cell.as_mut()?;
            if port.rx.is_empty() {
                port.service();
            }
            let byte = port.rx.pop_front();
            if !port.interrupt_on && RX_BUFFER - port.rx.len() >= PACKET {
                // Room again: take the waiting packet, unmask the interrupt.
                port.service();
            }
            byte
        })
    }

    /// For the panic handler: queues what it can and services the port a
    /// bounded number of times ([`EMERGENCY_POLLS`]) so the message leaves
    /// even with interrupts off. Gives up at once if the panic struck while
    /// the port was in use (its state cannot be trusted then).
    pub fn emergency_write(&self, bytes: &[u8]) {
        let mut rest = bytes;
        for _ in 0..EMERGENCY_POLLS {
            let done = critical_section::with(|cs| {
                let Ok(mut cell) = self.inner.borrow(cs).try_borrow_mut() else {
                    return true;
                };
                let Some(port) = cell.as_mut() else {
                    return true;
                };
                port.service();
                if rest.is_empty() {
                    return port.serial.flush().is_ok() || !port.open;
                }
                match port.push(rest) {
                    Step::Queued(n) => {
                        rest = &rest[n..];
                        false
                    }
                    Step::Closed | Step::Stalled => true,
                }
            });
            if done {
                return;
            }
        }
    }
}
