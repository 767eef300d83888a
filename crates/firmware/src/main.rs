//! Entry point: board set-up, then the board-independent loop in `app.rs`.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use cortex_m_rt::entry;
use tinystudio_firmware::board::{self, Board as _};
use tinystudio_firmware::{app, config, model};

/// The tensor arena, sized from the blob at compile time (with room for the
/// kernels' scratch). Its symbol name is what the host's size report reads.
#[repr(C, align(8))]
struct Arena([u8; model::ARENA_SIZE]);

#[unsafe(export_name = "tinystudio_arena")]
static mut ARENA: Arena = Arena([0; model::ARENA_SIZE]);

/// The camera loop's memory, sized by build.rs (empty without the loop).
struct CameraMemory {
    frame: [u8; config::FRAME_BYTES],
    row: [u8; config::SCRATCH_ROW],
    acc: [u64; config::SCRATCH_ACC],
    filtered: [u16; config::SCRATCH_FILTERED],
}

static mut CAMERA: CameraMemory = CameraMemory {
    frame: [0; config::FRAME_BYTES],
    row: [0; config::SCRATCH_ROW],
    acc: [0; config::SCRATCH_ACC],
    filtered: [0; config::SCRATCH_FILTERED],
};

#[entry]
fn main() -> ! {
    let mut board = board::Current::init();
    // SAFETY: `main` runs once and is the only user of ARENA and CAMERA.
    let (arena, camera) = unsafe { (&mut (*addr_of_mut!(ARENA)).0, &mut *addr_of_mut!(CAMERA)) };
    let buffers = app::CameraBuffers {
        frame: &mut camera.frame,
        row: &mut camera.row,
        acc: &mut camera.acc,
        filtered: &mut camera.filtered,
    };
    app::run(&mut board, model::blob(), arena, buffers)
}

/// Reports the panic on the serial port if possible, then stops. The engine
/// does not panic on any validated blob; this is for bugs.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    board::panic(info)
}
