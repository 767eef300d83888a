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
use tinystudio_device::camera::{Camera, Frame, PixelFormat};

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
    camera: Option<HostCamera>,
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
            camera: HostCamera::open(),
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

    type Camera = HostCamera;

    fn camera(&mut self) -> Option<&mut HostCamera> {
        self.camera.as_mut()
    }
}

/// The emulated board's camera: frames the host provides in a file that
/// the firmware reads through semihosting (QEMU's
/// `-semihosting-config enable=on,target=native`; the file name is relative
/// to QEMU's working directory), one frame per photo, from the start again
/// after the last. Each frame is a 12-byte header, `TSCF`, width and height
/// (u16, little-endian), the format (0 RGB565 as the OV7675 sends it, 1
/// 8-bit grey) and three zero bytes, then the pixels
/// (`tinystudio_deploy::emulator::camera_frame` writes them). So the whole
/// "Taking photo..." loop, preprocessing of raw camera frames included, runs
/// in the tests as it does on a board.
pub struct HostCamera {
    fd: usize,
}

/// The frames file, NUL-terminated for semihosting.
const FRAMES_FILE: &[u8] = b"tinystudio-camera.frames\0";
const HEADER: usize = 12;

impl HostCamera {
    /// `None` when there is no frames file (or semihosting is off): the
    /// camera loop then stays off and the board only answers frames sent over
    /// its UART.
    fn open() -> Option<Self> {
        if crate::config::CAMERA_INTERVAL_MS == 0 {
            return None;
        }
        // Without semihosting (QEMU started without it) the call's BKPT
        // escalates to a HardFault; `HardFault` below makes the call fail
        // instead of the board locking up.
        // SAFETY: SYS_OPEN with a NUL-terminated name that lives for the call.
        let fd = unsafe {
            cortex_m_semihosting::syscall!(
                OPEN,
                FRAMES_FILE.as_ptr(),
                cortex_m_semihosting::nr::open::R_BINARY,
                FRAMES_FILE.len() - 1
            )
        };
        (fd as isize >= 0).then_some(HostCamera { fd })
    }

    /// Reads exactly `buf.len()` bytes; false at the end of the file.
    fn read(&mut self, buf: &mut [u8]) -> bool {
        // SAFETY: SYS_READ into a buffer we own; it returns the bytes NOT read.
        let left =
            unsafe { cortex_m_semihosting::syscall!(READ, self.fd, buf.as_mut_ptr(), buf.len()) };
        left == 0
    }

    fn rewind(&mut self) {
        // SAFETY: SYS_SEEK to the start of our open file.
        unsafe {
            cortex_m_semihosting::syscall!(SEEK, self.fd, 0usize);
        }
    }
}

impl Camera for HostCamera {
    type Error = &'static str;

    fn capture(&mut self, buffer: &mut [u8]) -> Result<Frame, Self::Error> {
        let mut header = [0u8; HEADER];
        if !self.read(&mut header) {
            self.rewind();
            if !self.read(&mut header) {
                return Err("the frames file holds no frame");
            }
        }
        if &header[..4] != b"TSCF" {
            return Err("the frames file is not a sequence of TSCF frames");
        }
        let width = usize::from(u16::from_le_bytes([header[4], header[5]]));
        let height = usize::from(u16::from_le_bytes([header[6], header[7]]));
        let format = match header[8] {
            0 => PixelFormat::Rgb565,
            1 => PixelFormat::Gray8,
            _ => return Err("unknown pixel format in the frames file"),
        };
        let frame = Frame {
            width,
            height,
            format,
        };
        let data = buffer
            .get_mut(..frame.len())
            .ok_or("the frame is larger than the camera buffer")?;
        if !self.read(data) {
            return Err("the frames file ends inside a frame");
        }
        Ok(frame)
    }
}

// A semihosting call that nothing answers escalates to a HardFault. This
// `HardFault` (taking the place of cortex-m-rt's, which its linker script
// only PROVIDEs) checks whether the faulting instruction is `BKPT 0xAB`; if
// so it steps the stacked return address over it, returns -1 in the
// caller's r0 (the semihosting "failed" answer) and resumes, so
// `HostCamera::open` sees no camera. Any other fault goes on to
// cortex-m-rt's handler, which stops the board.
#[cfg(not(armv6m))]
core::arch::global_asm!(
    ".section .text.HardFault,\"ax\",%progbits",
    ".global HardFault",
    ".type HardFault,%function",
    ".thumb_func",
    "HardFault:",
    "    tst lr, #4",
    "    ite eq",
    "    mrseq r0, msp",
    "    mrsne r0, psp",
    "    ldr r1, [r0, #24]",
    "    ldrh r2, [r1]",
    "    movw r3, #0xbeab",
    "    cmp r2, r3",
    "    bne 1f",
    "    adds r1, r1, #2",
    "    str r1, [r0, #24]",
    "    mvn r1, #0",
    "    str r1, [r0]",
    "    bx lr",
    "1:",
    "    b HardFault_",
);

// The same handler in Armv6-M instructions (the Cortex-M0+ build measured on
// this board): no IT blocks, MOVW or conditional MRS, and a branch to
// `HardFault_` that may be out of the 2 KB reach of a Thumb-1 `B`.
#[cfg(armv6m)]
core::arch::global_asm!(
    ".section .text.HardFault,\"ax\",%progbits",
    ".global HardFault",
    ".type HardFault,%function",
    ".thumb_func",
    "HardFault:",
    "    movs r0, #4",
    "    mov r1, lr",
    "    tst r0, r1",
    "    bne 2f",
    "    mrs r0, msp",
    "    b 3f",
    "2:",
    "    mrs r0, psp",
    "3:",
    "    ldr r1, [r0, #24]",
    "    ldrh r2, [r1]",
    "    ldr r3, =0xbeab",
    "    cmp r2, r3",
    "    bne 1f",
    "    adds r1, r1, #2",
    "    str r1, [r0, #24]",
    "    movs r1, #0",
    "    mvns r1, r1",
    "    str r1, [r0]",
    "    bx lr",
    "1:",
    "    ldr r0, =HardFault_",
    "    bx r0",
    "    .ltorg",
);
