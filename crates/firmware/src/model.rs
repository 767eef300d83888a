//! The model blob built into the flash image, and the tensor arena sized
//! from it at compile time.

/// Aligns the blob so the engine's constants (8-byte aligned inside the
/// blob) are aligned in flash too, letting kernels use word loads.
#[repr(C, align(8))]
struct Aligned<B: ?Sized>(B);

static BLOB: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.tsmb")));

/// Arena bytes the blob's planner asked for (build.rs has validated the blob).
pub const ARENA_SIZE: usize = tinystudio_engine::blob::arena_size_const(include_bytes!(concat!(
    env!("OUT_DIR"),
    "/model.tsmb"
)));

/// The model blob in flash.
pub fn blob() -> &'static [u8] {
    &BLOB.0
}
