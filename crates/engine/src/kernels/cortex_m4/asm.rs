//! The Cortex-M4 micro-kernels in Thumb-2 assembly (naked functions with
//! the AAPCS calling convention: arguments in r0-r3, r4-r11 saved).
//!
//! Written in assembly rather than Rust with intrinsics because the inner
//! loops need all 14 general registers (four accumulators, eight operand
//! words, two pointers), which the compiler does not give up around inline
//! `asm!` blocks (r6, r7 and r11 are reserved there), and because the
//! DSP intrinsics are unstable.

use core::arch::naked_asm;

/// Arguments of [`gemm_2x2`], read once at entry.
#[repr(C)]
pub(super) struct GemmArgs {
    /// Two pixels, widened: per group of 4, `[p0 even, p0 odd, p1 even, p1 odd]`.
    pub x: *const u32,
    /// Channel pair records: `[bias0, bias1]`, then per group
    /// `[c0 even, c0 odd, c1 even, c1 odd]`, then `[mult0, shc1_0, mult1, shc1_1]`.
    pub w: *const u32,
    /// Groups of 4 values in the reduction.
    pub k4: u32,
    pub out0: *mut i8,
    pub out1: *mut i8,
    pub pairs: u32,
}

/// Widens `groups` groups of 4 int8 from `a` and `b` (unaligned) into
/// `[sxtb16(a), sxtb16(a ror 8), sxtb16(b), sxtb16(b ror 8)]` per group.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn interleave(
    a: *const i8,
    b: *const i8,
    dst: *mut u32,
    groups: usize,
) {
    naked_asm!(
        "push {{r4-r8, lr}}",
        "cbz r3, 2f",
        "1:",
        "ldr r12, [r0], #4",
        "ldr lr, [r1], #4",
        "sxtb16 r4, r12",
        "sxtb16 r5, r12, ror #8",
        "sxtb16 r6, lr",
        "sxtb16 r7, lr, ror #8",
        "stm r2!, {{r4-r7}}",
        "subs r3, r3, #1",
        "bne 1b",
        "2:",
        "pop {{r4-r8, pc}}",
    )
}

/// Two pixels x all channel pairs: accumulate, requantize, store.
///
/// Registers in the multiply loop: r0-r3 accumulators (c0p0, c0p1, c1p0,
/// c1p1), r4-r7 the pixels' words, r8-r11 the channels' words, r12 the pixel
/// pointer, lr the record pointer (it runs on from pair to pair). Frame:
/// [sp] x start, [sp+4] where the multiply starts, [sp+8] end of the
/// whole loops of 8 groups, [sp+12] entry into the unrolled tail,
/// [sp+16] out0, [sp+20] out1, [sp+24] out0 end.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn gemm_2x2(args: *mut GemmArgs) {
    naked_asm!(
        "push {{r4-r11, lr}}",
        "sub sp, sp, #36",
        "ldm r0, {{r1-r6}}",
        "str r1, [sp, #0]",
        // Groups in whole loops of 8, and where to enter the unrolled tail
        // for the rest (each group's code is 10 wide instructions, 40 bytes);
        // with fewer than 8 groups the multiply starts in the tail.
        "bic r8, r3, #7",
        "add r9, r1, r8, lsl #4",
        "str r9, [sp, #8]",
        "and r7, r3, #7",
        "rsb r7, r7, #7",
        "adr r10, 3f",
        "mov r11, #40",
        "mla r10, r7, r11, r10",
        "str r10, [sp, #12]",
        "adr r11, 1f",
        "cmp r8, #0",
        "it eq",
        "moveq r11, r10",
        "str r11, [sp, #4]",
        "strd r4, r5, [sp, #16]",
        "add r6, r4, r6, lsl #1",
        "str r6, [sp, #24]",
        "mov lr, r2",
        "cmp r4, r6",
        "beq 9f",
        ".macro GEMMSTEP",
        "ldm.w r12!, {{r4-r7}}",
        "ldm.w lr!, {{r8-r11}}",
        "smlad r0, r4, r8, r0",
        "smlad r0, r5, r9, r0",
        "smlad r1, r6, r8, r1",
        "smlad r1, r7, r9, r1",
        "smlad r2, r4, r10, r2",
        "smlad r2, r5, r11, r2",
        "smlad r3, r6, r10, r3",
        "smlad r3, r7, r11, r3",
        ".endm",
        // One pair of output channels: biases, then the multiply.
        "5:",
        "ldrd r0, r2, [lr], #8",
        "mov r1, r0",
        "mov r3, r2",
        "ldrd r12, r4, [sp, #0]",
        "mov pc, r4",
        "1:",
        ".rept 8",
        "GEMMSTEP",
        ".endr",
        "ldr r4, [sp, #8]",
        "cmp r12, r4",
        "bne 1b",
        "ldr r4, [sp, #12]",
        "mov pc, r4",
        "3:",
        ".rept 7",
        "GEMMSTEP",
        ".endr",
        ".purgem GEMMSTEP",
        // Requantize: r4 = 2^30, r5/r6 and r7/r8 the channels' constants,
        // r9/r10 the output pointers, r11/r12 the 64-bit sum.
        "ldm lr!, {{r5-r8}}",
        "ldrd r9, r10, [sp, #16]",
        "mov r4, #0x40000000",
        "asr r12, r0, #31",
        "add r11, r4, r12, lsl #31",
        "smlal r11, r12, r0, r5",
        "asr r12, r12, r6",
        "add r12, r12, r6, asr #8",
        "ssat r12, #8, r12, asr #1",
        "strb r12, [r9], #1",
        "asr r12, r2, #31",
        "add r11, r4, r12, lsl #31",
        "smlal r11, r12, r2, r7",
        "asr r12, r12, r8",
        "add r12, r12, r8, asr #8",
        "ssat r12, #8, r12, asr #1",
        "strb r12, [r9], #1",
        "asr r12, r1, #31",
        "add r11, r4, r12, lsl #31",
        "smlal r11, r12, r1, r5",
        "asr r12, r12, r6",
        "add r12, r12, r6, asr #8",
        "ssat r12, #8, r12, asr #1",
        "strb r12, [r10], #1",
        "asr r12, r3, #31",
        "add r11, r4, r12, lsl #31",
        "smlal r11, r12, r3, r7",
        "asr r12, r12, r8",
        "add r12, r12, r8, asr #8",
        "ssat r12, #8, r12, asr #1",
        "strb r12, [r10], #1",
        "strd r9, r10, [sp, #16]",
        "ldr r11, [sp, #24]",
        "cmp r9, r11",
        "bne 5b",
        "9:",
        "add sp, sp, #36",
        "pop {{r4-r11, pc}}",
    )
}

/// Arguments of [`depthwise_3x3_row`].
#[repr(C)]
pub(super) struct DepthwiseArgs {
    /// The widened band at the window's top row, first quad, column 0:
    /// per row, per quad, per column two words `(sxtb16(x), sxtb16(x ror 8))`.
    pub band: *const u32,
    /// Bytes from one band row to the next.
    pub row: u32,
    /// Bytes from one output pixel's window to the next (stride * 8).
    pub step: u32,
    pub pixels: u32,
    /// Per quad of channels, 30 words: biases (4), tap pairs (0,1) (2,3)
    /// (4,5) (6,7) as `w_a | w_b << 16` per channel (16), tap 8 as
    /// `c0 | c2 << 16`, `c1 | c3 << 16` (2), then mult, shc1 per channel (8).
    pub quads: *const i32,
    pub nq: u32,
    pub out: *mut i8,
    /// Bytes from the end of one pixel's block of outputs to the next pixel's.
    pub out_skip: u32,
    /// Bytes from the window's bottom row of one quad to the top row of the next.
    pub qnext: u32,
}

/// One output row of a 3x3 depthwise convolution for a block of channel
/// quads. Per quad: r0-r3 accumulators, r4-r7 two taps' widened words,
/// r8 a paired tap, r9/r10 weights, r11 the window (moves down the rows),
/// r12 the quad records, lr the row stride. A tap pair costs two `LDRD`,
/// four `PKH` (one per channel: `(tap a, tap b)` halves), two `LDM` of
/// weights and four `SMLAD`. Frame: [sp] records end, [sp+4] records
/// start, [sp+8] window of the current pixel, [sp+12] step, [sp+16] pixels
/// left, [sp+20] out, [sp+24] out skip, [sp+28] next-quad offset.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn depthwise_3x3_row(args: *mut DepthwiseArgs) {
    naked_asm!(
        "push {{r4-r11, lr}}",
        "sub sp, sp, #36",
        "ldm r0, {{r1-r9}}",
        "mov r10, #120",
        "mla r10, r6, r10, r5",
        "str r10, [sp, #0]",
        "str r5, [sp, #4]",
        "str r1, [sp, #8]",
        "str r3, [sp, #12]",
        "str r4, [sp, #16]",
        "str r7, [sp, #20]",
        "str r8, [sp, #24]",
        "str r9, [sp, #28]",
        "mov lr, r2",
        "cmp r4, #0",
        "beq 9f",
        "cmp r6, #0",
        "beq 9f",
        "5:",
        "ldr r11, [sp, #8]",
        "ldr r12, [sp, #4]",
        "6:",
        "ldm r12!, {{r0-r3}}",
        ".macro TSPAIR",
        "pkhbt r8, r4, r6, lsl #16",
        "pkhtb r4, r6, r4, asr #16",
        "pkhbt r6, r5, r7, lsl #16",
        "pkhtb r5, r7, r5, asr #16",
        "ldm r12!, {{r9, r10}}",
        "smlad r0, r8, r9, r0",
        "smlad r1, r6, r10, r1",
        "ldm r12!, {{r9, r10}}",
        "smlad r2, r4, r9, r2",
        "smlad r3, r5, r10, r3",
        ".endm",
        // (0,0) (0,1)
        "ldrd r4, r5, [r11]",
        "ldrd r6, r7, [r11, #8]",
        "TSPAIR",
        // (0,2) (1,0)
        "ldrd r4, r5, [r11, #16]",
        "add r11, r11, lr",
        "ldrd r6, r7, [r11]",
        "TSPAIR",
        // (1,1) (1,2)
        "ldrd r4, r5, [r11, #8]",
        "ldrd r6, r7, [r11, #16]",
        "TSPAIR",
        // (2,0) (2,1)
        "add r11, r11, lr",
        "ldrd r4, r5, [r11]",
        "ldrd r6, r7, [r11, #8]",
        "TSPAIR",
        ".purgem TSPAIR",
        // (2,2): r4 = channels (0, 2), r5 = (1, 3).
        "ldrd r4, r5, [r11, #16]",
        "ldm r12!, {{r9, r10}}",
        "smlabb r0, r4, r9, r0",
        "smlatt r2, r4, r9, r2",
        "smlabb r1, r5, r10, r1",
        "smlatt r3, r5, r10, r3",
        "ldr r9, [sp, #28]",
        "add r11, r11, r9",
        // Requantize: r4 = 2^30, r5/r6 constants, r7/r8 64-bit sum, r10 out.
        "ldr r10, [sp, #20]",
        "mov r4, #0x40000000",
        ".irp acc,r0,r1,r2,r3",
        "ldm r12!, {{r5, r6}}",
        "asr r8, \\acc, #31",
        "add r7, r4, r8, lsl #31",
        "smlal r7, r8, \\acc, r5",
        "asr r8, r8, r6",
        "add r8, r8, r6, asr #8",
        "ssat r8, #8, r8, asr #1",
        "strb r8, [r10], #1",
        ".endr",
        "str r10, [sp, #20]",
        "ldr r9, [sp, #0]",
        "cmp r12, r9",
        "bne 6b",
        // Next pixel.
        "ldr r9, [sp, #24]",
        "add r10, r10, r9",
        "str r10, [sp, #20]",
        "ldrd r9, r10, [sp, #8]",
        "add r9, r9, r10",
        "str r9, [sp, #8]",
        "ldr r9, [sp, #16]",
        "subs r9, r9, #1",
        "str r9, [sp, #16]",
        "bne 5b",
        "9:",
        "add sp, sp, #36",
        "pop {{r4-r11, pc}}",
    )
}

/// Widens `cols` pixels of one input row into a band row: for each pixel,
/// `nq` words of 4 channels (then `src_skip` bytes to the next pixel), each
/// stored as `(sxtb16(x), sxtb16(x ror 8))` at `dst + pixel * 8 + quad * qw`.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn widen_row(
    src: *const i8,
    dst: *mut u32,
    cols: u32,
    nq: u32,
    qw: u32,
    src_skip: u32,
) {
    naked_asm!(
        "push {{r4-r10, lr}}",
        "ldr r4, [sp, #32]",
        "ldr r5, [sp, #36]",
        "cbz r2, 9f",
        "1:",
        "mov r6, r1",
        "mov r7, r3",
        "2:",
        "ldr r8, [r0], #4",
        "sxtb16 r9, r8",
        "sxtb16 r10, r8, ror #8",
        "strd r9, r10, [r6]",
        "add r6, r6, r4",
        "subs r7, r7, #1",
        "bne 2b",
        "add r0, r0, r5",
        "add r1, r1, #8",
        "subs r2, r2, #1",
        "bne 1b",
        "9:",
        "pop {{r4-r10, pc}}",
    )
}

/// [`interleave`] that also sums each source's bytes; returns the sum of
/// `a` in the low word and of `b` in the high word.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn interleave_sum(
    a: *const i8,
    b: *const i8,
    dst: *mut u32,
    groups: usize,
) -> u64 {
    naked_asm!(
        "push {{r4-r10, lr}}",
        "movs r8, #0",
        "movs r9, #0",
        "mov r10, #0x00010001",
        "cbz r3, 2f",
        "1:",
        "ldr r12, [r0], #4",
        "ldr lr, [r1], #4",
        "sxtb16 r4, r12",
        "sxtb16 r5, r12, ror #8",
        "sxtb16 r6, lr",
        "sxtb16 r7, lr, ror #8",
        "stm r2!, {{r4-r7}}",
        "smlad r8, r4, r10, r8",
        "smlad r8, r5, r10, r8",
        "smlad r9, r6, r10, r9",
        "smlad r9, r7, r10, r9",
        "subs r3, r3, #1",
        "bne 1b",
        "2:",
        "mov r0, r8",
        "mov r1, r9",
        "pop {{r4-r10, pc}}",
    )
}

/// Dot products of one row of int8 `x`, each value plus the input offset
/// (in both 16-bit lanes of `offset2`), with two rows of int8 weights, over
/// `groups` groups of 4; the first in the low word. 17 instructions per 8
/// MACs: one load per row, `SXTB16` and `SADD16` on `x` once for both rows.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn dot_2(
    x: *const i8,
    w0: *const i8,
    w1: *const i8,
    groups: usize,
    offset2: u32,
) -> u64 {
    naked_asm!(
        "push {{r4-r10, lr}}",
        "ldr r10, [sp, #32]",
        "movs r8, #0",
        "movs r9, #0",
        "cbz r3, 2f",
        "1:",
        "ldr r12, [r0], #4",
        "ldr r6, [r1], #4",
        "ldr r7, [r2], #4",
        "sxtb16 r4, r12",
        "sxtb16 r5, r12, ror #8",
        "sadd16 r4, r4, r10",
        "sadd16 r5, r5, r10",
        "sxtb16 r12, r6",
        "sxtb16 r6, r6, ror #8",
        "smlad r8, r4, r12, r8",
        "smlad r8, r5, r6, r8",
        "sxtb16 r12, r7",
        "sxtb16 r7, r7, ror #8",
        "smlad r9, r4, r12, r9",
        "smlad r9, r5, r7, r9",
        "subs r3, r3, #1",
        "bne 1b",
        "2:",
        "mov r0, r8",
        "mov r1, r9",
        "pop {{r4-r10, pc}}",
    )
}

/// Copies `rows` runs of `run` bytes from `src` (runs `stride` bytes apart)
/// to `dst` back to back, with unaligned word moves: a patch's kernel rows
/// are 9 bytes in the first layer, too short for `memcpy`'s set-up.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn copy_rows(
    dst: *mut i8,
    src: *const i8,
    run: u32,
    rows: u32,
    stride: u32,
) {
    naked_asm!(
        "push {{r4-r7, lr}}",
        "ldr r4, [sp, #20]",
        "cbz r3, 9f",
        "1:",
        "mov r5, r1",
        "subs r6, r2, #4",
        "blt 3f",
        "2:",
        "ldr r7, [r5], #4",
        "str r7, [r0], #4",
        "subs r6, r6, #4",
        "bge 2b",
        "3:",
        "adds r6, r6, #4",
        "beq 5f",
        "4:",
        "ldrb r7, [r5], #1",
        "strb r7, [r0], #1",
        "subs r6, r6, #1",
        "bne 4b",
        "5:",
        "add r1, r1, r4",
        "subs r3, r3, #1",
        "bne 1b",
        "9:",
        "pop {{r4-r7, pc}}",
    )
}

/// Zeroes `words` words at a word-aligned `dst`, eight per `STM`: the
/// kernels clear their stack scratch on every call (in-place layers call
/// them once per output row), and `memset` stores one word at a time.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn zero_words(dst: *mut u32, words: usize) {
    naked_asm!(
        "push {{r4-r9, lr}}",
        "movs r2, #0",
        "movs r3, #0",
        "movs r4, #0",
        "movs r5, #0",
        "movs r6, #0",
        "movs r7, #0",
        "movs r8, #0",
        "movs r9, #0",
        "subs r1, r1, #8",
        "blt 2f",
        "1:",
        "stm r0!, {{r2-r9}}",
        "subs r1, r1, #8",
        "bge 1b",
        "2:",
        "adds r1, r1, #8",
        "beq 4f",
        "3:",
        "str r2, [r0], #4",
        "subs r1, r1, #1",
        "bne 3b",
        "4:",
        "pop {{r4-r9, pc}}",
    )
}

/// Clamps `len` signed bytes at `dst` (any alignment) to `[lo, hi]`, four
/// per step: `SSUB8` sets a GE flag per byte where `x >= bound`, `SEL`
/// picks per byte. A leftover byte goes through the same four instructions.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn clamp_bytes(dst: *mut i8, len: usize, lo: i32, hi: i32) {
    naked_asm!(
        "push {{r4, r5, lr}}",
        "uxtb r2, r2",
        "orr r2, r2, r2, lsl #8",
        "orr r2, r2, r2, lsl #16",
        "uxtb r3, r3",
        "orr r3, r3, r3, lsl #8",
        "orr r3, r3, r3, lsl #16",
        "subs r1, r1, #4",
        "blt 2f",
        "1:",
        "ldr r4, [r0]",
        "ssub8 r5, r4, r2",
        "sel r4, r4, r2",
        "ssub8 r5, r4, r3",
        "sel r4, r3, r4",
        "str r4, [r0], #4",
        "subs r1, r1, #4",
        "bge 1b",
        "2:",
        "adds r1, r1, #4",
        "beq 4f",
        "3:",
        "ldrb r4, [r0]",
        "ssub8 r5, r4, r2",
        "sel r4, r4, r2",
        "ssub8 r5, r4, r3",
        "sel r4, r3, r4",
        "strb r4, [r0], #1",
        "subs r1, r1, #1",
        "bne 3b",
        "4:",
        "pop {{r4, r5, pc}}",
    )
}
