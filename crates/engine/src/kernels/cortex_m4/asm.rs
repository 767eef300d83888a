//! The Cortex-M4 micro-kernels in Thumb-2 assembly (naked functions with
//! the AAPCS calling convention: arguments in r0-r3, r4-r11 saved).
//!
//! Written in assembly rather than Rust with intrinsics because the inner
//! loops need all 14 general registers (six accumulators, six operand
//! words, two pointers), which the compiler does not give up around inline
//! `asm!` blocks (r6, r7 and r11 are reserved there), and because the
//! DSP intrinsics are unstable.

use core::arch::naked_asm;

/// Widens `groups` groups of 4 int8 of three pixels, `a`, `a + stride`
/// and `a + 2 * stride` (unaligned; a stride of 0 repeats one pixel), into
/// `[sxtab16(offset, p), sxtab16(offset, p ror 8)]` per pixel and group:
/// the operands of [`gemm_2x3_doubled`] and [`gemm_2x3_wide`], the input
/// offset added (`offset` holds it in both halves; a value plus the
/// offset lies in [-255, 255]), so that the filters need no sums.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn interleave3(
    a: *const i8,
    stride: usize,
    dst: *mut u32,
    groups: usize,
    offset: u32,
) {
    naked_asm!(
        "push {{r4-r10, lr}}",
        "ldr r10, [sp, #32]",
        // One group: the three loads back to back (pipelined), each into
        // the odd register of its pixel's pair.
        ".macro I3GROUP",
        "ldr r7, [r0, r1]",
        "ldr r9, [r0, r1, lsl #1]",
        "ldr r5, [r0], #4",
        "sxtab16 r4, r10, r5",
        "sxtab16 r5, r10, r5, ror #8",
        "sxtab16 r6, r10, r7",
        "sxtab16 r7, r10, r7, ror #8",
        "sxtab16 r8, r10, r9",
        "sxtab16 r9, r10, r9, ror #8",
        "stm r2!, {{r4-r9}}",
        ".endm",
        // An odd group first, then two per loop.
        "lsrs r3, r3, #1",
        "bcc 1f",
        "I3GROUP",
        "1:",
        "cbz r3, 2f",
        "3:",
        "I3GROUP",
        "I3GROUP",
        "subs r3, r3, #1",
        "bne 3b",
        "2:",
        ".purgem I3GROUP",
        "pop {{r4-r10, pc}}",
    )
}

/// Arguments of [`gemm_2x3_doubled`] and [`gemm_2x3_wide`], read once at entry.
#[repr(C)]
pub(super) struct GemmArgs {
    /// Three pixels, widened: per group of 4, `[p0 even, p0 odd, p1 even,
    /// p1 odd, p2 even, p2 odd]` ([`interleave3`]).
    pub x: *const u32,
    /// Channel pair records: `[bias0, bias1]`, then per group `[c0 even,
    /// c0 odd, c1 even, c1 odd]`, then the requantization constants (six
    /// words, see each kernel).
    pub w: *const u32,
    /// Groups of 4 values in the reduction, at least 1.
    pub k4: u32,
    /// The first pixel's output at the block's first channel; the other
    /// two follow `stride` and `2 * stride` bytes on (a stride of 0 for one
    /// pixel computed three times).
    pub out: *mut i8,
    pub stride: u32,
    pub pairs: u32,
}

/// Arguments of [`gemm_triples`]; it moves `gemm.out` and `src` on.
#[repr(C)]
pub(super) struct TriplesArgs {
    /// The GEMM's arguments: `x` the widened pixels' buffer, `out` the
    /// first triple's first output.
    pub gemm: GemmArgs,
    /// The first triple's first pixel (`gemm.k4 * 4` values a pixel).
    pub src: *const i8,
    /// Bytes from one input pixel to the next.
    pub pixel_bytes: u32,
    pub triples: u32,
    /// The input offset in both halves ([`interleave3`]).
    pub offset: u32,
    /// [`gemm_2x3_doubled`] or [`gemm_2x3_wide`].
    pub kernel: unsafe extern "C" fn(*const GemmArgs),
}

/// `triples` pixel triples of a pointwise layer, one after the other: each
/// widened by [`interleave3`] into `gemm.x`, then multiplied by `kernel`
/// into its three pixels' outputs (22 instructions a triple around the
/// two calls, where the loop in Rust took 60).
#[unsafe(naked)]
pub(super) unsafe extern "C" fn gemm_triples(args: *mut TriplesArgs) {
    naked_asm!(
        "push {{r4, r5, r6, lr}}",
        // The slot of `interleave3`'s fifth argument (the offset).
        "sub sp, sp, #8",
        "mov r4, r0",
        "ldr r5, [r4, #32]",
        "cbz r5, 9f",
        "ldr r6, [r4, #36]",
        "str r6, [sp]",
        "1:",
        "ldr r0, [r4, #24]",
        "ldr r1, [r4, #28]",
        "ldr r2, [r4, #0]",
        "ldr r3, [r4, #8]",
        "bl {interleave3}",
        "mov r0, r4",
        "ldr r12, [r4, #40]",
        "blx r12",
        "ldrd r0, r1, [r4, #24]",
        "add r1, r1, r1, lsl #1",
        "add r0, r0, r1",
        "str r0, [r4, #24]",
        "ldrd r0, r1, [r4, #12]",
        "add r1, r1, r1, lsl #1",
        "add r0, r0, r1",
        "str r0, [r4, #12]",
        "subs r5, r5, #1",
        "bne 1b",
        "9:",
        "add sp, sp, #8",
        "pop {{r4, r5, r6, pc}}",
        interleave3 = sym interleave3,
    )
}

/// Three pixels x all channel pairs: accumulate, requantize (the
/// `$requant` body: r0-r5 the sums, lr at the pair's constants; it leaves
/// each pixel's two outputs as the low halfword of r0, r1, r2), store.
///
/// The 2 x 3 block loads 10 words per 12 `SMLAD` (26 cycles per 24 MACs;
/// a 2 x 2 block took 18 per 16), and shares each channel pair's set-up
/// and loop among three pixels. Registers in the multiply loop: r0-r2
/// channel 0's accumulators (pixels 0-2), r3-r5 channel 1's, r6/r7 one
/// pixel's words, r8-r11 the channels' words, r12 the pixel pointer, lr the
/// record pointer. Frame: [sp] x start, [sp+4] where the multiply goes on
/// after the first group, [sp+8] end of the whole loops of 8 groups,
/// [sp+12] entry into the unrolled tail, [sp+16] out, [sp+20] stride,
/// [sp+24] out end.
macro_rules! gemm_2x3 {
    ($(#[$doc:meta])* $name:ident, $($requant:literal),* $(,)?) => {
        $(#[$doc])*
        #[unsafe(naked)]
        pub(super) unsafe extern "C" fn $name(args: *const GemmArgs) {
            naked_asm!(
                "push {{r4-r11, lr}}",
                "sub sp, sp, #36",
                "ldm r0, {{r1-r6}}",
                "str r1, [sp, #0]",
                // The first group is apart (it starts the sums from the
                // biases); the others in whole loops of 8 (24 bytes of
                // pixels each), and where to enter the unrolled tail for
                // the rest (each group's code is 16 wide instructions, 64
                // bytes).
                "sub r3, r3, #1",
                "bic r8, r3, #7",
                "add r9, r8, r8, lsl #1",
                "add r9, r1, r9, lsl #3",
                "add r9, r9, #24",
                "str r9, [sp, #8]",
                "and r7, r3, #7",
                "rsb r7, r7, #7",
                // (With the Thumb bit: the jumps are `LDR PC`, which
                // interworks.)
                "adr r10, 3f",
                "mov r11, #64",
                "mla r10, r7, r11, r10",
                "orr r10, r10, #1",
                "str r10, [sp, #12]",
                "adr r11, 1f",
                "orr r11, r11, #1",
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
                ".macro GEMMSTEP3",
                "ldm.w lr!, {{r8-r11}}",
                "ldrd r6, r7, [r12], #8",
                "smlad r0, r6, r8, r0",
                "smlad r0, r7, r9, r0",
                "smlad r3, r6, r10, r3",
                "smlad r3, r7, r11, r3",
                "ldrd r6, r7, [r12], #8",
                "smlad r1, r6, r8, r1",
                "smlad r1, r7, r9, r1",
                "smlad r4, r6, r10, r4",
                "smlad r4, r7, r11, r4",
                "ldrd r6, r7, [r12], #8",
                "smlad r2, r6, r8, r2",
                "smlad r2, r7, r9, r2",
                "smlad r5, r6, r10, r5",
                "smlad r5, r7, r11, r5",
                ".endm",
                // One pair of output channels: the biases (r0, r3), the
                // first group from them (pixels 1 and 2 first, so that r0
                // and r3 are still the biases), then the others.
                "5:",
                "ldrd r0, r3, [lr], #8",
                "ldr r12, [sp, #0]",
                "ldm.w lr!, {{r8-r11}}",
                "ldrd r6, r7, [r12, #8]",
                "smlad r1, r6, r8, r0",
                "smlad r1, r7, r9, r1",
                "smlad r4, r6, r10, r3",
                "smlad r4, r7, r11, r4",
                "ldrd r6, r7, [r12, #16]",
                "smlad r2, r6, r8, r0",
                "smlad r2, r7, r9, r2",
                "smlad r5, r6, r10, r3",
                "smlad r5, r7, r11, r5",
                "ldrd r6, r7, [r12], #24",
                "smlad r0, r6, r8, r0",
                "smlad r0, r7, r9, r0",
                "smlad r3, r6, r10, r3",
                "smlad r3, r7, r11, r3",
                "ldr pc, [sp, #4]",
                "1:",
                ".rept 8",
                "GEMMSTEP3",
                ".endr",
                "ldr r6, [sp, #8]",
                "cmp r12, r6",
                "bne 1b",
                "ldr pc, [sp, #12]",
                "3:",
                ".rept 7",
                "GEMMSTEP3",
                ".endr",
                ".purgem GEMMSTEP3",
                $($requant,)*
                "ldrd r3, r4, [sp, #16]",
                "strh r1, [r3, r4]",
                "strh r2, [r3, r4, lsl #1]",
                "strh r0, [r3], #2",
                "str r3, [sp, #16]",
                "ldr r4, [sp, #24]",
                "cmp r3, r4",
                "bne 5b",
                "9:",
                "add sp, sp, #36",
                "pop {{r4-r11, pc}}",
            )
        }
    };
}

gemm_2x3!(
    /// Twice the sums (doubled filters and biases), requantized as
    /// `super::requantize_doubled` does, 4 instructions per output; each
    /// pixel's two channels leave as one halfword. Constants `[mult, add,
    /// shift]` per channel: r6-r8 and r9-r11; r12 the addend with the sign.
    gemm_2x3_doubled,
    "ldm lr!, {{r6-r11}}",
    // One pixel's two channels: `a` with r6-r8, `b` with r9-r11.
    ".macro DOUBLED2 a, b",
    "add r12, r7, \\a, asr #31",
    "smmlar \\a, \\a, r6, r12",
    "asr \\a, \\a, r8",
    "ssat \\a, #8, \\a",
    "add r12, r10, \\b, asr #31",
    "smmlar \\b, \\b, r9, r12",
    "asr \\b, \\b, r11",
    "ssat \\b, #8, \\b",
    "bfi \\a, \\b, #8, #8",
    ".endm",
    "DOUBLED2 r0, r3",
    "DOUBLED2 r1, r4",
    "DOUBLED2 r2, r5",
    ".purgem DOUBLED2",
);

gemm_2x3!(
    /// The sums themselves, requantized as `super::requantize` does (any
    /// bias: the product is 64 bits), 6 instructions per output. Constants
    /// `[mult0, shc1_0, mult1, shc1_1]` (then two unused words): r6-r9;
    /// r10 = 2^30, r11/r12 the 64-bit sum.
    gemm_2x3_wide,
    "ldm lr!, {{r6-r9}}",
    "add lr, lr, #8",
    "mov r10, #0x40000000",
    ".irp acc, r0, r1, r2",
    "asr r12, \\acc, #31",
    "add r11, r10, r12, lsl #31",
    "smlal r11, r12, \\acc, r6",
    "asr r12, r12, r7",
    "add r12, r12, r7, asr #8",
    "ssat \\acc, #8, r12, asr #1",
    ".endr",
    ".irp acc, r3, r4, r5",
    "asr r12, \\acc, #31",
    "add r11, r10, r12, lsl #31",
    "smlal r11, r12, \\acc, r8",
    "asr r12, r12, r9",
    "add r12, r12, r9, asr #8",
    "ssat \\acc, #8, r12, asr #1",
    ".endr",
    "bfi r0, r3, #8, #8",
    "bfi r1, r4, #8, #8",
    "bfi r2, r5, #8, #8",
);

/// Arguments of [`depthwise_3x3_s1`] and [`depthwise_3x3_s2`].
#[repr(C)]
pub(super) struct DepthwiseArgs {
    /// The block's band at channel 0, column pair 0, slot 0: per channel,
    /// per column pair, three words (one per band slot) of two 16-bit
    /// values, columns `(2 cp, 2 cp + 1)` of the input row in that slot.
    pub band: *const u32,
    /// Per channel [`super::DW_RECORD`] words: doubled bias, shift,
    /// multiplier, rounding and zero-point addend, then the doubled taps
    /// (per window row `(w0, w1)`, `(w2, w1)`) laid out so that each slot
    /// rotation is six consecutive words.
    pub records: *const i32,
    /// Byte offset of this row's rotation in a record.
    pub rotation: u32,
    pub channels: u32,
    /// Band bytes of one channel.
    pub channel_bytes: u32,
    /// The output row at the block's first channel.
    pub out: *mut i8,
    /// Bytes from one output pixel to the next.
    pub c: u32,
    /// Output pixel pairs, then 1 if a single last pixel follows.
    pub pairs: u32,
    pub odd: u32,
}

/// One output row of a 3x3 depthwise convolution for a block of channels,
/// one channel at a time with its six tap words in registers (r4-r9),
/// two output pixels per step (the `$pair` body: r0/r1 accumulators, r2/r3
/// band words, r10 the band at the pair's first column pair, advanced by
/// `$step` bytes), then a last single pixel. Requantization
/// (`super::requantize_doubled`): r12 the multiplier, lr the addend, five
/// instructions per output. Between channels, r10 and r11 (the output)
/// move on by constants. Frame: [sp] and [sp+4] the doubled bias, [sp+8]
/// the shift, [sp+12] c, [sp+16] end of the pairs' outputs, [sp+20] odd,
/// [sp+24] rotation from the record's taps, [sp+28] next record, [sp+32]
/// end of the records, [sp+36] pairs * 2c, [sp+40] band from the end of
/// one channel's pairs to the next channel, [sp+44] the same for the
/// output.
macro_rules! depthwise_3x3 {
    ($(#[$doc:meta])* $name:ident, step = $step:literal, $($pair:literal),* $(,)?) => {
        $(#[$doc])*
        #[unsafe(naked)]
        pub(super) unsafe extern "C" fn $name(args: *const DepthwiseArgs) {
            naked_asm!(
                "push {{r4-r11, lr}}",
                "sub sp, sp, #48",
                "ldm r0, {{r1-r9}}",
                "cmp r4, #0",
                "beq 9f",
                "str r7, [sp, #12]",
                "str r9, [sp, #20]",
                "sub r3, r3, #16",
                "str r3, [sp, #24]",
                "str r2, [sp, #28]",
                "mov r0, #{record}",
                "mla r0, r4, r0, r2",
                "str r0, [sp, #32]",
                "mov r0, #{step}",
                "mls r0, r8, r0, r5",
                "str r0, [sp, #40]",
                "mul r8, r8, r7",
                "lsl r8, r8, #1",
                "str r8, [sp, #36]",
                "rsb r0, r8, #1",
                "str r0, [sp, #44]",
                "mov r10, r1",
                "mov r11, r6",
                // One channel: constants, taps, then its pixels.
                "2:",
                "ldr r2, [sp, #28]",
                "ldm r2!, {{r0, r3, r12, lr}}",
                "strd r0, r0, [sp, #0]",
                "str r3, [sp, #8]",
                "ldr r3, [sp, #24]",
                "add r3, r2, r3",
                "ldm r3, {{r4-r9}}",
                "add r2, r2, #{record} - 16",
                "str r2, [sp, #28]",
                "ldr r1, [sp, #36]",
                "add r1, r11, r1",
                "str r1, [sp, #16]",
                "cmp r11, r1",
                "beq 4f",
                "3:",
                "ldrd r0, r1, [sp, #0]",
                $($pair,)*
                "add r10, r10, #{step}",
                // Requantize both: r3 the shift, r2 the addend with the sign.
                "ldr r3, [sp, #8]",
                "add r2, lr, r0, asr #31",
                "smmlar r0, r0, r12, r2",
                "asr r0, r0, r3",
                "ssat r0, #8, r0",
                "add r2, lr, r1, asr #31",
                "smmlar r1, r1, r12, r2",
                "asr r1, r1, r3",
                "ssat r1, #8, r1",
                "ldr r2, [sp, #12]",
                "strb r0, [r11]",
                "strb r1, [r11, r2]",
                "add r11, r11, r2, lsl #1",
                "ldr r2, [sp, #16]",
                "cmp r11, r2",
                "bne 3b",
                // A last single pixel: its window starts at r10 either way.
                "4:",
                "ldr r2, [sp, #20]",
                "cmp r2, #0",
                "beq 5f",
                "ldr r0, [sp, #0]",
                "ldrd r2, r3, [r10]",
                "smlad r0, r2, r4, r0",
                "smlad r0, r3, r6, r0",
                "ldrd r2, r3, [r10, #8]",
                "smlad r0, r2, r8, r0",
                "smlabb r0, r3, r5, r0",
                "ldrd r2, r3, [r10, #16]",
                "smlabb r0, r2, r7, r0",
                "smlabb r0, r3, r9, r0",
                "ldr r3, [sp, #8]",
                "add r2, lr, r0, asr #31",
                "smmlar r0, r0, r12, r2",
                "asr r0, r0, r3",
                "ssat r0, #8, r0",
                "strb r0, [r11]",
                // Next channel.
                "5:",
                "ldrd r2, r3, [sp, #40]",
                "add r10, r10, r2",
                "add r11, r11, r3",
                "ldrd r2, r3, [sp, #28]",
                "cmp r2, r3",
                "bne 2b",
                "9:",
                "add sp, sp, #48",
                "pop {{r4-r11, pc}}",
                record = const super::DW_RECORD * 4,
                step = const $step,
            )
        }
    };
}

depthwise_3x3!(
    /// Stride 1: pixels `j, j+1` read column pairs `j/2` (`a`) and `j/2 + 1`
    /// (`b`) of each slot: `j` takes `a·(w0, w1) + b.lo·w2`, `j+1` takes
    /// `a.hi·w0 + b·(w1, w2)` (`SMLADX` with the `(w2, w1)` word).
    depthwise_3x3_s1,
    step = 12,
    // Slots 0 and 1 of `a`, then slot 2 of `a` and slot 0 of `b`, then
    // slots 1 and 2 of `b`: the six words in three `LDRD`s.
    "ldrd r2, r3, [r10]",
    "smlad r0, r2, r4, r0",
    "smlatb r1, r2, r4, r1",
    "smlad r0, r3, r6, r0",
    "smlatb r1, r3, r6, r1",
    "ldrd r2, r3, [r10, #8]",
    "smlad r0, r2, r8, r0",
    "smlatb r1, r2, r8, r1",
    "smlabb r0, r3, r5, r0",
    "smladx r1, r3, r5, r1",
    "ldrd r2, r3, [r10, #16]",
    "smlabb r0, r2, r7, r0",
    "smladx r1, r2, r7, r1",
    "smlabb r0, r3, r9, r0",
    "smladx r1, r3, r9, r1",
);

depthwise_3x3!(
    /// Stride 2: pixel `j` reads column pairs `j` (`a`) and `j + 1` (`b`),
    /// pixel `j+1` pairs `j + 1` and `j + 2` (`d`): `a·(w0, w1) + b.lo·w2`
    /// and `b·(w0, w1) + d.lo·w2`.
    depthwise_3x3_s2,
    step = 24,
    // Words in order: slots 0-2 of `a`, of `b`, of `d`.
    "ldrd r2, r3, [r10]",
    "smlad r0, r2, r4, r0",
    "smlad r0, r3, r6, r0",
    "ldrd r2, r3, [r10, #8]",
    "smlad r0, r2, r8, r0",
    "smlabb r0, r3, r5, r0",
    "smlad r1, r3, r4, r1",
    "ldrd r2, r3, [r10, #16]",
    "smlabb r0, r2, r7, r0",
    "smlad r1, r2, r6, r1",
    "smlabb r0, r3, r9, r0",
    "smlad r1, r3, r8, r1",
    "ldrd r2, r3, [r10, #24]",
    "smlabb r1, r2, r5, r1",
    "smlabb r1, r3, r7, r1",
    "ldr r2, [r10, #32]",
    "smlabb r1, r2, r9, r1",
);

/// Stores `n` int8 from `src`, sign-extended, as the 16-bit halves at
/// `dst`, `stride` bytes apart: the band's edge columns (a column pair
/// with padding in one half), one channel after the other. Four values a
/// step from one word (three instructions a value, where one at a time
/// took five), then the rest one at a time.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn widen_halves(
    src: *const i8,
    dst: *mut u16,
    n: usize,
    stride: usize,
) {
    naked_asm!(
        "push {{r4, lr}}",
        "subs r2, r2, #4",
        "blt 3f",
        "1:",
        "ldr r12, [r0], #4",
        "sxtb r4, r12",
        "strh r4, [r1]",
        "sxtb r4, r12, ror #8",
        "strh r4, [r1, r3]",
        "add r1, r1, r3, lsl #1",
        "sxtb r4, r12, ror #16",
        "strh r4, [r1]",
        "sxtb r4, r12, ror #24",
        "strh r4, [r1, r3]",
        "add r1, r1, r3, lsl #1",
        "subs r2, r2, #4",
        "bge 1b",
        "3:",
        "adds r2, r2, #4",
        "beq 9f",
        "2:",
        "ldrsb r12, [r0], #1",
        "strh r12, [r1]",
        "add r1, r1, r3",
        "subs r2, r2, #1",
        "bne 2b",
        "9:",
        "pop {{r4, pc}}",
    )
}

/// Arguments of [`widen_pairs`].
#[repr(C)]
pub(super) struct WidenArgs {
    /// The first pixel of the run, at the block's first channel.
    pub src: *const i8,
    /// The band word of the block's channel 0 at the run's first column pair.
    pub dst: *mut u32,
    pub pairs: u32,
    /// Channel quads of the block.
    pub quads: u32,
    /// Bytes from one input pixel to the next.
    pub c: u32,
    /// Band bytes of one channel.
    pub channel_bytes: u32,
}

/// Widens `pairs` pixel pairs of one input row into band words: for each
/// quad of channels, the two pixels' words `sxtb16`-split and re-paired
/// with `PKHBT`/`PKHTB` into one `(x[2k], x[2k+1])` word per channel,
/// stored `channel_bytes` apart, 12 bytes (three slots) per column pair;
/// two pairs per loop.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn widen_pairs(args: *const WidenArgs) {
    naked_asm!(
        "push {{r4-r11, lr}}",
        "ldm r0, {{r0-r5}}",
        "cmp r2, #0",
        "beq 9f",
        "cmp r3, #0",
        "beq 9f",
        // One pixel pair of the quad: r6 the pixels, r7 the band word.
        ".macro WPAIR",
        "ldr r8, [r6]",
        "ldr r9, [r6, r4]",
        "sxtb16 r10, r8",
        "sxtb16 r8, r8, ror #8",
        "sxtb16 r11, r9",
        "sxtb16 r9, r9, ror #8",
        "pkhbt r12, r10, r11, lsl #16",
        "str r12, [r7]",
        "pkhtb r12, r11, r10, asr #16",
        "pkhbt r10, r8, r9, lsl #16",
        "str r10, [r7, r5]",
        "pkhtb r8, r9, r8, asr #16",
        "add r10, r7, r5, lsl #1",
        "str r12, [r10]",
        "str r8, [r10, r5]",
        "add r7, r7, #12",
        "add r6, r6, r4, lsl #1",
        ".endm",
        // Per quad: an odd pair first, then two per loop.
        "1:",
        "mov r6, r0",
        "mov r7, r1",
        "lsrs lr, r2, #1",
        "bcc 3f",
        "WPAIR",
        "3:",
        "cmp lr, #0",
        "beq 4f",
        "2:",
        "WPAIR",
        "WPAIR",
        "subs lr, lr, #1",
        "bne 2b",
        "4:",
        "add r0, r0, #4",
        "add r1, r1, r5, lsl #2",
        "subs r3, r3, #1",
        "bne 1b",
        "9:",
        ".purgem WPAIR",
        "pop {{r4-r11, pc}}",
    )
}

/// The filter rows of `pairs` channel pairs, back to back from `rows`
/// (`4 * groups` bytes each: a pair's rows `a` and `b`, then the next
/// pair's), widened into consecutive GEMM records from `dst` (the first
/// record's filter words; a record's tail and the next one's head,
/// `PAIR_EXTRA` words, are stepped over), per group of 4 values `[sxtb16(a),
/// sxtb16(a ror 8), sxtb16(b), sxtb16(b ror 8)]`, each word then given to
/// `$scale` (the body of the assembler macro `FSCALE r`). Two groups per
/// loop (one `STM` of eight words), after an odd one: the loads are words,
/// which need no alignment (`LDRD` would). One call a block of channels:
/// a call a pair took 30 instructions more around it.
macro_rules! interleave_filters {
    ($(#[$doc:meta])* $name:ident, $scale:literal $(,)?) => {
        $(#[$doc])*
        #[unsafe(naked)]
        pub(super) unsafe extern "C" fn $name(
            rows: *const i8,
            dst: *mut u32,
            groups: usize,
            pairs: usize,
        ) {
            naked_asm!(
                ".macro FSCALE r",
                $scale,
                ".endm",
                "push {{r4-r11, lr}}",
                "cmp r3, #0",
                "beq 9f",
                "mov lr, r3",
                "mov r12, r2",
                "mov r2, r1",
                // One pair: r0 row `a`, r1 row `b`.
                "5:",
                "add r1, r0, r12, lsl #2",
                "lsrs r3, r12, #1",
                "bcc 1f",
                "ldr r5, [r0], #4",
                "ldr r7, [r1], #4",
                "sxtb16 r4, r5",
                "sxtb16 r5, r5, ror #8",
                "sxtb16 r6, r7",
                "sxtb16 r7, r7, ror #8",
                ".irp r, r4, r5, r6, r7",
                "FSCALE \\r",
                ".endr",
                "stm r2!, {{r4-r7}}",
                "1:",
                "cbz r3, 3f",
                "2:",
                "ldr r5, [r0], #4",
                "ldr r9, [r0], #4",
                "ldr r7, [r1], #4",
                "ldr r11, [r1], #4",
                "sxtb16 r4, r5",
                "sxtb16 r5, r5, ror #8",
                "sxtb16 r6, r7",
                "sxtb16 r7, r7, ror #8",
                "sxtb16 r8, r9",
                "sxtb16 r9, r9, ror #8",
                "sxtb16 r10, r11",
                "sxtb16 r11, r11, ror #8",
                ".irp r, r4, r5, r6, r7, r8, r9, r10, r11",
                "FSCALE \\r",
                ".endr",
                "stm r2!, {{r4-r11}}",
                "subs r3, r3, #1",
                "bne 2b",
                // The next pair's row `a` follows this pair's `b`.
                "3:",
                "mov r0, r1",
                "add r2, r2, #{skip}",
                "subs lr, lr, #1",
                "bne 5b",
                "9:",
                ".purgem FSCALE",
                "pop {{r4-r11, pc}}",
                skip = const super::PAIR_EXTRA * 4,
            )
        }
    };
}

interleave_filters!(
    /// For [`gemm_2x3_wide`]: the values themselves.
    interleave_filters,
    "",
);

interleave_filters!(
    /// For [`gemm_2x3_doubled`]: every value doubled (`SADD16` of each
    /// word with itself).
    interleave_filters_doubled,
    "sadd16 \\r, \\r, \\r",
);

/// Arguments of [`add_elements`], read once at entry.
#[repr(C)]
pub(super) struct AddArgs {
    pub a: *const i8,
    pub b: *const i8,
    pub out: *mut i8,
    pub len: u32,
    /// Each input's offset shifted left by 21 (`(q + offset) << 21`, the
    /// doubled `<< 20` that `SMMULR` needs).
    pub offset1: i32,
    pub offset2: i32,
    pub mult1: i32,
    pub mult2: i32,
    pub mult_out: i32,
    /// Right shifts minus one (at least 0).
    pub shift1: u32,
    pub shift2: u32,
    pub shift_out: u32,
    /// `1 + 2 * output_zero_point`.
    pub c1: i32,
}

/// ADD of two int8 tensors, 24 instructions per element (see
/// `super::add_eval` for why each step equals TFLite's):
/// `SMMULR` of `(q + offset) << 21` is `SaturatingRoundingDoublingHighMul`
/// of `(q + offset) << 20`; `((s + [s<0]·-1) >> (e-1)) + 1` cleared of its
/// low bit is twice `RoundingDivideByPOT(s, e)`; the doubled sum goes to
/// `SMMULR` as it is; the output's rounding takes the zero point in before
/// its last halving, inside `SSAT`.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn add_elements(args: *const AddArgs) {
    naked_asm!(
        "push {{r4-r11, lr}}",
        "sub sp, sp, #8",
        "ldr r12, [r0, #44]",
        "ldr lr, [r0, #48]",
        "strd r12, lr, [sp]",
        "ldm r0, {{r0-r10}}",
        "cbz r3, 2f",
        "1:",
        "ldrsb r11, [r0], #1",
        "ldrsb r12, [r1], #1",
        "add r11, r4, r11, lsl #21",
        "add r12, r5, r12, lsl #21",
        "smmulr r11, r11, r6",
        "smmulr r12, r12, r7",
        "add r11, r11, r11, asr #31",
        "add r12, r12, r12, asr #31",
        "asr r11, r11, r9",
        "asr r12, r12, r10",
        "add r11, r11, #1",
        "add r12, r12, #1",
        "bic r11, r11, #1",
        "bic r12, r12, #1",
        "add r11, r11, r12",
        "smmulr r11, r11, r8",
        "ldrd r12, lr, [sp]",
        "add r11, r11, r11, asr #31",
        "asr r11, r11, r12",
        "add r11, r11, lr",
        "ssat r11, #8, r11, asr #1",
        "strb r11, [r2], #1",
        "subs r3, r3, #1",
        "bne 1b",
        "2:",
        "add sp, sp, #8",
        "pop {{r4-r11, pc}}",
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
/// are 9 bytes in the first layer, too short for `memcpy`'s set-up. Runs
/// of 4 to 12 bytes take three words each, the last two at `min(4, run -
/// 4)` and `run - 4` (overlapping where the run is not 12 bytes: the same
/// bytes again), with no loop inside the row (10 instructions a row, where
/// the word-and-byte loop took 20); others go word by word, then byte by
/// byte.
#[unsafe(naked)]
pub(super) unsafe extern "C" fn copy_rows(
    dst: *mut i8,
    src: *const i8,
    run: u32,
    rows: u32,
    stride: u32,
) {
    naked_asm!(
        "push {{r4-r9, lr}}",
        "ldr r4, [sp, #28]",
        "cbz r3, 9f",
        "subs r8, r2, #4",
        "blt 1f",
        "cmp r2, #12",
        "bgt 1f",
        "movs r9, #4",
        "cmp r8, r9",
        "it lt",
        "movlt r9, r8",
        "6:",
        "ldr r5, [r1]",
        "ldr r6, [r1, r9]",
        "ldr r7, [r1, r8]",
        "str r5, [r0]",
        "str r6, [r0, r9]",
        "str r7, [r0, r8]",
        "add r0, r0, r2",
        "add r1, r1, r4",
        "subs r3, r3, #1",
        "bne 6b",
        "b 9f",
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
        "pop {{r4-r9, pc}}",
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
