/*
 * tinystudio.h: the TinyStudio int8 engine as a C library (libtinystudio.a).
 *
 * Nothing here allocates. You own three blocks of memory and hand their
 * addresses in once, at ts_init:
 *   - the model blob (model.tsmb; model_data.c has it as a const array,
 *     8-byte aligned so the engine's constants are word-aligned in flash),
 *   - the tensor arena, at least ts_arena_size(blob) bytes
 *     (TS_MODEL_ARENA_SIZE in model_data.h),
 *   - a ts_context.
 * The blob and the arena must stay alive and untouched while the context is
 * used. One context per model; the functions are not reentrant per context.
 *
 *   static ts_context ctx;
 *   static uint8_t arena[TS_MODEL_ARENA_SIZE] __attribute__((aligned(16)));
 *   ts_init(&ctx, ts_model_blob, ts_model_blob_len, arena, sizeof arena);
 *   ts_set_input_pixels(&ctx, pixels, ts_input_size(&ctx)); // already resized
 *   ts_invoke(&ctx);
 *   float scores[TS_MODEL_CLASS_COUNT];
 *   ts_scores(&ctx, scores, TS_MODEL_CLASS_COUNT);
 *
 * The outputs are those of the studio's host engine, byte for byte, on
 * every target the library is built for (Cortex-M4F with its SIMD kernels,
 * Cortex-M0+ with the portable ones).
 *
 * Keep in step with crates/clib/src/lib.rs (the definitions).
 */
#ifndef TINYSTUDIO_H
#define TINYSTUDIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Size of ts_context in 8-byte words. */
#define TS_CONTEXT_WORDS 96

/* One model's state; its contents are private to the library. */
typedef struct ts_context {
    uint64_t opaque[TS_CONTEXT_WORDS];
} ts_context;

typedef enum ts_status {
    TS_OK = 0,
    /* A null pointer, or a context ts_init did not set up. */
    TS_ERR_INVALID_ARGUMENT = 1,
    /* The blob is not a usable model (bad magic, checksum or format version,
       an operator the engine lacks, no pixel scaling for pixel input). */
    TS_ERR_INVALID_MODEL = 2,
    /* The arena is smaller than ts_arena_size says. */
    TS_ERR_ARENA_TOO_SMALL = 3,
    /* A buffer's length does not match what the model expects. */
    TS_ERR_LENGTH_MISMATCH = 4,
    /* The scratch buffer is smaller than ts_scratch_size says. */
    TS_ERR_SCRATCH_TOO_SMALL = 5,
    /* The picture cannot be preprocessed (no pixels, a side too long, an
       unknown pixel format or resize mode). */
    TS_ERR_BAD_IMAGE = 6,
    /* The engine failed while running (details: ts_last_error). */
    TS_ERR_ENGINE = 7
} ts_status;

/* Pixel layouts ts_set_input_image reads. */
typedef enum ts_pixel_format {
    TS_PIXEL_RGB888 = 0, /* 3 bytes per pixel: R, G, B; row-major, no padding */
    TS_PIXEL_GRAY8 = 1   /* 1 byte per pixel */
} ts_pixel_format;

/* Edge Impulse's resize modes, as the impulse was trained with. */
typedef enum ts_resize_mode {
    TS_RESIZE_SQUASH = 0,       /* stretch to the input, ignoring the aspect ratio */
    TS_RESIZE_FIT_SHORTEST = 1, /* cover the input, keep the centre */
    TS_RESIZE_FIT_LONGEST = 2   /* fit inside the input, pad with black */
} ts_resize_mode;

/* Bytes of tensor arena the model needs; 0 if blob is not a valid model. */
size_t ts_arena_size(const uint8_t *blob, size_t blob_len);

/* Sets up ctx for the model (verified here once: checksum, every operator). */
ts_status ts_init(ts_context *ctx, const uint8_t *blob, size_t blob_len,
                  uint8_t *arena, size_t arena_len);

/* The model's input: height, width, channels (1 grayscale, 3 RGB). Any out
   pointer may be NULL. */
ts_status ts_input_shape(const ts_context *ctx, uint32_t *height, uint32_t *width,
                         uint32_t *channels);
/* Bytes of the input tensor (height * width * channels). */
size_t ts_input_size(const ts_context *ctx);
/* Number of scores (classes) the model outputs. */
size_t ts_output_size(const ts_context *ctx);
/* Number of labels the blob records. */
size_t ts_label_count(const ts_context *ctx);
/* Copies label `index` into buf (NUL-terminated, cut to buf_len - 1 bytes);
   returns its full length, 0 if there is no such label. */
size_t ts_label(const ts_context *ctx, size_t index, char *buf, size_t buf_len);

/* The int8 input tensor inside the arena, to fill in place. */
int8_t *ts_input(ts_context *ctx);
/* Copies an int8 input tensor in (len == ts_input_size). */
ts_status ts_set_input_int8(ts_context *ctx, const int8_t *input, size_t len);
/* Pixels already at the model's size and colour (HWC, len == ts_input_size),
   through the model's pixel scaling. */
ts_status ts_set_input_pixels(ts_context *ctx, const uint8_t *pixels, size_t len);
/* Scratch bytes ts_set_input_image needs for a width x height picture. */
size_t ts_scratch_size(const ts_context *ctx, uint32_t width, uint32_t height);
/* A picture of any size, resized and converted exactly as the studio does
   for an upload (resize_mode: TS_MODEL_RESIZE_MODE from model_data.h), then
   through the pixel scaling. scratch: ts_scratch_size bytes or more. */
ts_status ts_set_input_image(ts_context *ctx, const uint8_t *pixels, uint32_t width,
                             uint32_t height, uint32_t pixel_format,
                             uint32_t resize_mode, uint8_t *scratch, size_t scratch_len);

/* Runs the model on the input tensor. */
ts_status ts_invoke(ts_context *ctx);
/* The int8 output tensor after ts_invoke (ts_output_size bytes). */
const int8_t *ts_output(const ts_context *ctx);
/* Dequantized scores after ts_invoke; count == ts_output_size. */
ts_status ts_scores(const ts_context *ctx, float *scores, size_t count);

/* Why the latest call on ctx failed (the engine's own message),
   NUL-terminated into buf; returns the message's full length. Empty (0)
   when it succeeded or failed on an argument (the status says it all).
   Calls that only read (ts_scores, the sizes) leave it. */
size_t ts_last_error(const ts_context *ctx, char *buf, size_t buf_len);
/* "TS_OK", "TS_ERR_ARENA_TOO_SMALL", ... */
const char *ts_status_name(uint32_t status);
/* "tinystudio <version>" */
const char *ts_version(void);

#ifdef __cplusplus
}
#endif

#endif /* TINYSTUDIO_H */
