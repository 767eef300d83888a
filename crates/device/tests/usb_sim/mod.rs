//! A simulated USB full-speed bus, both ends of it.
//!
//! The device end implements `usb_device::bus::UsbBus` the way the chips'
//! drivers behave: every endpoint buffer holds one packet, a full OUT buffer
//! or an unread IN packet makes the other side wait (the host's NAK), SETUP
//! packets land in endpoint 0 and clear its stall, `poll` reports a bus
//! reset, SETUPs, received OUT packets and IN packets the host has taken
//! (each once).
//!
//! The host end ([`Rig`]) plays the computer: bus reset, control transfers
//! (SETUP, data stage, status stage, stalls), bulk OUT packets and bulk IN
//! reads. Between its steps it raises the board's USB interrupt
//! (`Port::on_interrupt`) when the board has it switched on, as the NVIC
//! would.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tinystudio_device::usb_serial::usb_device::bus::{PollResult, UsbBus, UsbBusAllocator};
use tinystudio_device::usb_serial::usb_device::endpoint::{EndpointAddress, EndpointType};
use tinystudio_device::usb_serial::usb_device::{Result, UsbDirection, UsbError};
use tinystudio_device::usb_serial::{Identity, InterruptSwitch, PACKET, Port, UsbSerial};

const ENDPOINTS: usize = 16;
/// How many times the host raises the interrupt waiting for one answer
/// before it calls the device dead.
const PATIENCE: usize = 1000;

#[derive(Default)]
struct Endpoint {
    /// Type and max packet size, once allocated.
    config: Option<(EndpointType, u16)>,
    packet: Option<Vec<u8>>,
    stalled: bool,
}

/// The wire and the endpoint buffers.
#[derive(Default)]
pub struct Wire {
    ins: [Endpoint; ENDPOINTS],
    outs: [Endpoint; ENDPOINTS],
    /// The packet in OUT endpoint 0 is a SETUP.
    setup: bool,
    /// IN packets taken by the host, not yet reported by `poll`.
    in_complete: u16,
    reset: bool,
    enabled: bool,
    /// The address the device answers to.
    pub address: u8,
}

/// The device end.
pub struct SimBus(Arc<Mutex<Wire>>);

fn lock(wire: &Mutex<Wire>) -> MutexGuard<'_, Wire> {
    wire.lock().unwrap_or_else(|e| e.into_inner())
}

impl UsbBus for SimBus {
    fn alloc_ep(
        &mut self,
        dir: UsbDirection,
        addr: Option<EndpointAddress>,
        ep_type: EndpointType,
        max_packet_size: u16,
        _interval: u8,
    ) -> Result<EndpointAddress> {
        let mut w = lock(&self.0);
        let eps = match dir {
            UsbDirection::In => &mut w.ins,
            UsbDirection::Out => &mut w.outs,
        };
        let index = match addr {
            Some(a) => a.index(),
            None => (1..ENDPOINTS)
                .find(|&i| eps[i].config.is_none())
                .ok_or(UsbError::EndpointOverflow)?,
        };
        if eps[index].config.is_some() {
            return Err(UsbError::InvalidEndpoint);
        }
        if max_packet_size as usize > PACKET {
            return Err(UsbError::Unsupported);
        }
        eps[index].config = Some((ep_type, max_packet_size));
        Ok(EndpointAddress::from_parts(index, dir))
    }

    fn enable(&mut self) {
        lock(&self.0).enabled = true;
    }

    fn reset(&self) {
        let mut guard = lock(&self.0);
        let w = &mut *guard;
        for ep in w.ins.iter_mut().chain(w.outs.iter_mut()) {
            ep.packet = None;
            ep.stalled = false;
        }
        w.setup = false;
        w.in_complete = 0;
        w.address = 0;
    }

    fn set_device_address(&self, addr: u8) {
        lock(&self.0).address = addr;
    }

    fn write(&self, ep: EndpointAddress, buf: &[u8]) -> Result<usize> {
        let mut w = lock(&self.0);
        let endpoint = &mut w.ins[ep.index()];
        let Some((_, max)) = endpoint.config.filter(|_| ep.is_in()) else {
            return Err(UsbError::InvalidEndpoint);
        };
        if endpoint.packet.is_some() {
            return Err(UsbError::WouldBlock);
        }
        if buf.len() > max as usize {
            return Err(UsbError::BufferOverflow);
        }
        endpoint.packet = Some(buf.to_vec());
        Ok(buf.len())
    }

    fn read(&self, ep: EndpointAddress, buf: &mut [u8]) -> Result<usize> {
        let mut w = lock(&self.0);
        if !ep.is_out() || w.outs[ep.index()].config.is_none() {
            return Err(UsbError::InvalidEndpoint);
        }
        let endpoint = &mut w.outs[ep.index()];
        let Some(packet) = endpoint.packet.as_ref() else {
            return Err(UsbError::WouldBlock);
        };
        if packet.len() > buf.len() {
            return Err(UsbError::BufferOverflow);
        }
        let n = packet.len();
        buf[..n].copy_from_slice(packet);
        endpoint.packet = None;
        if ep.index() == 0 {
            w.setup = false;
        }
        Ok(n)
    }

    fn set_stalled(&self, ep: EndpointAddress, stalled: bool) {
        let mut w = lock(&self.0);
        match ep.direction() {
            UsbDirection::In => w.ins[ep.index()].stalled = stalled,
            UsbDirection::Out => w.outs[ep.index()].stalled = stalled,
        }
    }

    fn is_stalled(&self, ep: EndpointAddress) -> bool {
        let w = lock(&self.0);
        match ep.direction() {
            UsbDirection::In => w.ins[ep.index()].stalled,
            UsbDirection::Out => w.outs[ep.index()].stalled,
        }
    }

    fn suspend(&self) {}

    fn resume(&self) {}

    fn poll(&self) -> PollResult {
        let mut w = lock(&self.0);
        if w.reset {
            w.reset = false;
            return PollResult::Reset;
        }
        let ep_setup = u16::from(w.setup && w.outs[0].packet.is_some());
        let mut ep_out = 0u16;
        for (i, ep) in w.outs.iter().enumerate() {
            if ep.packet.is_some() && !(i == 0 && w.setup) {
                ep_out |= 1 << i;
            }
        }
        let ep_in_complete = std::mem::take(&mut w.in_complete);
        if ep_setup | ep_out | ep_in_complete == 0 {
            PollResult::None
        } else {
            PollResult::Data {
                ep_out,
                ep_in_complete,
                ep_setup,
            }
        }
    }
}

/// The device answered a control transfer with a STALL.
#[derive(Debug, PartialEq, Eq)]
pub struct Stalled;

/// A SETUP packet.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub request_type: u8,
    pub request: u8,
    pub value: u16,
    pub index: u16,
    pub length: u16,
}

impl Setup {
    fn bytes(&self) -> Vec<u8> {
        let mut b = vec![self.request_type, self.request];
        b.extend_from_slice(&self.value.to_le_bytes());
        b.extend_from_slice(&self.index.to_le_bytes());
        b.extend_from_slice(&self.length.to_le_bytes());
        b
    }
}

/// The board (its port and interrupt line) and the host, on one wire.
pub struct Rig {
    pub port: &'static Port<SimBus>,
    pub wire: Arc<Mutex<Wire>>,
    line: &'static AtomicBool,
}

/// A rig with its own interrupt line (a `static` the board's switch sets).
macro_rules! rig {
    ($identity:expr) => {{
        static LINE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
        fn switch(on: bool) {
            LINE.store(on, std::sync::atomic::Ordering::SeqCst);
        }
        usb_sim::Rig::new(&$identity, &LINE, switch)
    }};
}
pub(crate) use rig;

impl Rig {
    pub fn new(
        identity: &Identity<'static>,
        line: &'static AtomicBool,
        switch: InterruptSwitch,
    ) -> Rig {
        let wire = Arc::new(Mutex::new(Wire::default()));
        let bus: &'static UsbBusAllocator<SimBus> =
            Box::leak(Box::new(UsbBusAllocator::new(SimBus(wire.clone()))));
        let serial = Box::leak(Box::new(
            UsbSerial::new(bus, identity, switch).expect("the device builds"),
        ));
        let port: &'static Port<SimBus> = Box::leak(Box::new(Port::new()));
        port.install(serial);
        assert!(lock(&wire).enabled, "building the device enables the bus");
        Rig { port, wire, line }
    }

    /// The board's interrupt is switched on.
    pub fn interrupt_on(&self) -> bool {
        self.line.load(Ordering::SeqCst)
    }

    /// Raises the USB interrupt, if the board has it on.
    pub fn interrupt(&self) {
        if self.interrupt_on() {
            self.port.on_interrupt();
        }
    }

    pub fn address(&self) -> u8 {
        lock(&self.wire).address
    }

    /// Signals a bus reset and lets the device see it.
    pub fn bus_reset(&self) {
        lock(&self.wire).reset = true;
        for _ in 0..PATIENCE {
            self.interrupt();
            if !lock(&self.wire).reset {
                return;
            }
        }
        panic!("the device never polled the bus reset");
    }

    fn send_setup(&self, setup: &Setup) {
        let mut w = lock(&self.wire);
        // A SETUP is always accepted and clears endpoint 0's stall.
        w.outs[0].packet = Some(setup.bytes());
        w.outs[0].stalled = false;
        w.ins[0].stalled = false;
        w.ins[0].packet = None;
        w.setup = true;
        drop(w);
        for _ in 0..PATIENCE {
            self.interrupt();
            if lock(&self.wire).outs[0].packet.is_none() {
                return;
            }
        }
        panic!("the device never read the SETUP packet");
    }

    /// Sends one packet on OUT endpoint 0 and waits until the device took it.
    fn send_ep0(&self, data: &[u8]) -> std::result::Result<(), Stalled> {
        {
            let mut w = lock(&self.wire);
            assert!(w.outs[0].packet.is_none(), "endpoint 0 still busy");
            w.outs[0].packet = Some(data.to_vec());
        }
        for _ in 0..PATIENCE {
            self.interrupt();
            let w = lock(&self.wire);
            if w.outs[0].stalled {
                return Err(Stalled);
            }
            if w.outs[0].packet.is_none() {
                return Ok(());
            }
        }
        panic!("the device never read endpoint 0's OUT packet");
    }

    /// Waits for a packet on IN endpoint 0 and takes it.
    fn take_ep0(&self) -> std::result::Result<Vec<u8>, Stalled> {
        for _ in 0..PATIENCE {
            self.interrupt();
            let mut w = lock(&self.wire);
            if w.ins[0].stalled {
                return Err(Stalled);
            }
            if let Some(p) = w.ins[0].packet.take() {
                w.in_complete |= 1;
                return Ok(p);
            }
        }
        panic!("the device never answered on endpoint 0");
    }

    /// A control transfer with a data stage from the device.
    pub fn control_in(&self, setup: Setup) -> std::result::Result<Vec<u8>, Stalled> {
        self.send_setup(&setup);
        let mut data = Vec::new();
        loop {
            let packet = self.take_ep0()?;
            let short = packet.len() < PACKET;
            data.extend_from_slice(&packet);
            if short || data.len() >= setup.length as usize {
                break;
            }
        }
        // Status stage: a zero-length OUT packet.
        self.send_ep0(&[])?;
        Ok(data)
    }

    /// A control transfer with no data stage or one from the host.
    pub fn control_out(&self, setup: Setup, data: &[u8]) -> std::result::Result<(), Stalled> {
        assert_eq!(setup.length as usize, data.len());
        self.send_setup(&setup);
        for chunk in data.chunks(PACKET) {
            self.send_ep0(chunk)?;
        }
        // Status stage: a zero-length IN packet.
        let status = self.take_ep0()?;
        assert!(status.is_empty(), "status stage carried {status:?}");
        // Let the device see that its status packet went (SET_ADDRESS
        // takes effect then).
        self.interrupt();
        Ok(())
    }

    /// Offers one bulk OUT packet; `false` if the endpoint still holds the
    /// previous one (the device NAKs).
    pub fn bulk_out(&self, endpoint: usize, packet: &[u8]) -> bool {
        assert!(packet.len() <= PACKET);
        let mut w = lock(&self.wire);
        if w.outs[endpoint].packet.is_some() {
            return false;
        }
        w.outs[endpoint].packet = Some(packet.to_vec());
        true
    }

    /// Takes the packet waiting on a bulk IN endpoint, if any.
    pub fn bulk_in(&self, endpoint: usize) -> Option<Vec<u8>> {
        let mut w = lock(&self.wire);
        let p = w.ins[endpoint].packet.take()?;
        w.in_complete |= 1 << endpoint;
        Some(p)
    }
}
