//! A simulated register file for the ports' host tests: plain memory for
//! registers that only hold values, a board model ([`Hardware`]) for those
//! that do something (tasks, events, input pins, FIFOs), a log of every
//! access, and EasyDMA's view of the host's memory.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use tinystudio_device::ports::Registers;

/// One register access by the port, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read(u32, u32),
    Write(u32, u32),
}

/// Register values, with reset values for those that are not 0.
#[derive(Default)]
pub struct Memory {
    values: HashMap<u32, u32>,
    resets: HashMap<u32, u32>,
    /// Buffers handed to [`Registers::dma_address`], by token.
    dma: Vec<*mut u8>,
}

/// Where DMA tokens start: the nRF52840's Data RAM.
pub const RAM: u32 = 0x2000_0000;

impl Memory {
    pub fn get(&self, address: u32) -> u32 {
        self.values
            .get(&address)
            .or_else(|| self.resets.get(&address))
            .copied()
            .unwrap_or(0)
    }

    pub fn set(&mut self, address: u32, value: u32) {
        self.values.insert(address, value);
    }

    /// The register's value after reset, when not 0.
    pub fn reset_value(&mut self, address: u32, value: u32) {
        self.resets.insert(address, value);
    }

    /// Whether `address` is a buffer the port handed to DMA.
    pub fn is_dma(&self, address: u32) -> bool {
        self.pointer(address).is_some()
    }

    fn pointer(&self, address: u32) -> Option<*mut u8> {
        let index = address.checked_sub(RAM)? / 16;
        self.dma.get(index as usize).copied()
    }

    /// What EasyDMA reads: `len` bytes at the bus address `address`.
    pub fn dma_read(&self, address: u32, len: usize) -> Vec<u8> {
        let pointer = self
            .pointer(address)
            .unwrap_or_else(|| panic!("EasyDMA read from {address:#010x}, not a RAM buffer"));
        // SAFETY: the pointer is a buffer of the port, which lives while
        // the port runs the transfer that reads it (the simulation performs
        // transfers synchronously inside the port's register write), and the
        // port asks for at most the buffer's length.
        unsafe { std::slice::from_raw_parts(pointer, len).to_vec() }
    }

    /// What EasyDMA writes.
    pub fn dma_write(&self, address: u32, bytes: &[u8]) {
        let pointer = self
            .pointer(address)
            .unwrap_or_else(|| panic!("EasyDMA write to {address:#010x}, not a RAM buffer"));
        // SAFETY: as for `dma_read`; the port's receive buffer was handed
        // over from a mutable borrow.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), pointer, bytes.len()) }
    }
}

/// What a board does on register accesses beyond storing values.
pub trait Hardware {
    /// A read; `None`: the stored value.
    fn read(&mut self, mem: &mut Memory, address: u32) -> Option<u32>;
    /// A write; `false`: the value is stored.
    fn write(&mut self, mem: &mut Memory, address: u32, value: u32) -> bool;
}

struct Inner<H> {
    mem: Memory,
    hardware: H,
    log: Vec<Access>,
    /// Stop logging past this many accesses (a capture reads millions).
    log_limit: usize,
    reads: u64,
}

/// The simulated registers; clones share them.
pub struct SimRegisters<H>(Rc<RefCell<Inner<H>>>);

impl<H> Clone for SimRegisters<H> {
    fn clone(&self) -> Self {
        SimRegisters(self.0.clone())
    }
}

impl<H: Hardware> SimRegisters<H> {
    pub fn new(hardware: H) -> Self {
        SimRegisters(Rc::new(RefCell::new(Inner {
            mem: Memory::default(),
            hardware,
            log: Vec::new(),
            log_limit: 200_000,
            reads: 0,
        })))
    }

    pub fn memory<T>(&self, f: impl FnOnce(&mut Memory) -> T) -> T {
        f(&mut self.0.borrow_mut().mem)
    }

    pub fn hardware<T>(&self, f: impl FnOnce(&mut H) -> T) -> T {
        f(&mut self.0.borrow_mut().hardware)
    }

    /// The stored value, without an access.
    pub fn peek(&self, address: u32) -> u32 {
        self.0.borrow().mem.get(address)
    }

    pub fn log(&self) -> Vec<Access> {
        self.0.borrow().log.clone()
    }

    pub fn clear_log(&self) {
        self.0.borrow_mut().log.clear();
    }

    /// Every write, in order.
    pub fn writes(&self) -> Vec<(u32, u32)> {
        self.log()
            .into_iter()
            .filter_map(|a| match a {
                Access::Write(r, v) => Some((r, v)),
                Access::Read(..) => None,
            })
            .collect()
    }

    /// Reads since the start (logged or not).
    pub fn reads(&self) -> u64 {
        self.0.borrow().reads
    }
}

impl<H: Hardware> Registers for SimRegisters<H> {
    fn read(&self, address: u32) -> u32 {
        let mut inner = self.0.borrow_mut();
        let Inner { mem, hardware, .. } = &mut *inner;
        let value = hardware
            .read(mem, address)
            .unwrap_or_else(|| mem.get(address));
        inner.reads += 1;
        if inner.log.len() < inner.log_limit {
            inner.log.push(Access::Read(address, value));
        }
        value
    }

    fn write(&self, address: u32, value: u32) {
        let mut inner = self.0.borrow_mut();
        if inner.log.len() < inner.log_limit {
            inner.log.push(Access::Write(address, value));
        }
        let Inner { mem, hardware, .. } = &mut *inner;
        if !hardware.write(mem, address, value) {
            mem.set(address, value);
        }
    }

    fn dma_address(&self, buffer: *const u8) -> u32 {
        let mut inner = self.0.borrow_mut();
        let pointer = buffer.cast_mut();
        let dma = &mut inner.mem.dma;
        let index = dma.iter().position(|&p| p == pointer).unwrap_or_else(|| {
            dma.push(pointer);
            dma.len() - 1
        });
        RAM + 16 * index as u32
    }
}
