//! The model blob built into the flash image, and the tensor arena sized
//! from it at compile time.

/// Aligns the blob so the engine's constants (8-byte aligned inside the
/// blob) are aligned in flash too, letting kernels use word loads.
#[repr(C, align(8))]
struct Aligned<B: ?Sized>(B);

static BLOB: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.tsmb")));

/// Arena bytes the blob's planner asked for (build.rs has validated the
/// blob), and room for the kernels' scratch where the layers leave too
/// little free (`crate::kernels::ARENA_EXTRA`): the kernels keep no
/// scratch on the stack.
pub const ARENA_SIZE: usize = tinystudio_engine::blob::arena_size_const(include_bytes!(concat!(
    env!("OUT_DIR"),
    "/model.tsmb"
))) + crate::kernels::ARENA_EXTRA;

/// The model blob in flash.
pub fn blob() -> &'static [u8] {
    &BLOB.0
}
