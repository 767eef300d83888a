/*
 * The smallest program that uses the library: classify each input of
 * input_data.c (pictures, or int8 tensors for a model of raw tensors) and
 * print the predictions as Edge Impulse's firmware does, then the int8
 * output (`raw:`) for comparing with the studio's host engine.
 *
 * Output goes through printf; on the emulated board (see Makefile) newlib
 * sends it to the host by semihosting. On your board, retarget printf (or
 * replace it) as your SDK does.
 */
#include <stdint.h>
#include <stdio.h>

#include "input_data.h"
#include "model_data.h"
#include "tinystudio.h"

static ts_context ctx;
static uint8_t arena[TS_MODEL_ARENA_SIZE] __attribute__((aligned(16)));
#if TS_MODEL_TAKES_PIXELS
static uint8_t scratch[EXAMPLE_SCRATCH_BYTES] __attribute__((aligned(8)));
#endif

static void report(ts_status status, const char *what)
{
    char message[160];
    ts_last_error(&ctx, message, sizeof message);
    printf("error: %s: %s: %s\n", what, ts_status_name(status), message);
}

int main(void)
{
    ts_status status = ts_init(&ctx, ts_model_blob, ts_model_blob_len, arena, sizeof arena);
    if (status != TS_OK) {
        report(status, "init");
        return 1;
    }
    uint32_t height, width, channels;
    ts_input_shape(&ctx, &height, &width, &channels);
    printf("ready: %s input=%lux%lux%lu labels=%u arena=%u\n", ts_version(),
           (unsigned long)height, (unsigned long)width, (unsigned long)channels,
           (unsigned)ts_label_count(&ctx), (unsigned)TS_MODEL_ARENA_SIZE);

    for (size_t i = 0; i < example_image_count; i++) {
        const example_image *image = &example_images[i];
#if !TS_MODEL_TAKES_PIXELS
        /* Raw tensors (audio features, sensor data): the bytes are the
           int8 input itself. */
        status = ts_set_input_int8(&ctx, (const int8_t *)image->pixels, ts_input_size(&ctx));
#else
        if (image->width == width && image->height == height && image->channels == channels) {
            /* Already the model's size: only the pixel scaling. */
            status = ts_set_input_pixels(&ctx, image->pixels, ts_input_size(&ctx));
        } else {
            /* Any size: resized as the studio resizes uploads. */
            status = ts_set_input_image(&ctx, image->pixels, image->width, image->height,
                                        image->channels == 1 ? TS_PIXEL_GRAY8 : TS_PIXEL_RGB888,
                                        TS_MODEL_RESIZE_MODE, scratch, sizeof scratch);
        }
#endif
        if (status == TS_OK) {
            status = ts_invoke(&ctx);
        }
        if (status != TS_OK) {
            report(status, image->name);
            continue;
        }
        float scores[TS_MODEL_CLASS_COUNT];
        ts_scores(&ctx, scores, TS_MODEL_CLASS_COUNT);
        printf("Predictions (%s):\n", image->name);
        for (size_t k = 0; k < TS_MODEL_CLASS_COUNT; k++) {
            printf("  %s: %.5f\n", ts_model_labels[k], (double)scores[k]);
        }
        const int8_t *raw = ts_output(&ctx);
        printf("raw:");
        for (size_t k = 0; k < TS_MODEL_CLASS_COUNT; k++) {
            printf(" %d", raw[k]);
        }
        printf("\n");
    }
    printf("done\n");
    return 0;
}
