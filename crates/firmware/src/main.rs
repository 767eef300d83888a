//! Entry point: board set-up, then the board-independent loop in `app.rs`.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use cortex_m_rt::entry;
use tinystudio_firmware::board::{self, Board as _};
use tinystudio_firmware::{app, model};

/// The tensor arena, sized from the blob at compile time.
#[repr(C, align(8))]
struct Arena([u8; model::ARENA_SIZE]);

static mut ARENA: Arena = Arena([0; model::ARENA_SIZE]);

#[entry]
fn main() -> ! {
    let mut board = board::Current::init();
    // SAFETY: `main` runs once and is the only user of ARENA.
    let arena = unsafe { &mut (*addr_of_mut!(ARENA)).0 };
    app::run(&mut board, model::blob(), arena)
}

/// Reports the panic on the serial port if possible, then stops. The engine
/// does not panic on any validated blob; this is for bugs.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    board::panic(info)
}
