/*
 * Classifies an input with the TinyStudio model every two seconds and
 * prints Edge Impulse-style predictions on the serial port (115200 baud).
 *
 * For a model of pictures the input here is mid grey; put your camera's
 * frame into `pixels` (resized to the model's input), or hand a frame of
 * any size to ts_set_input_image, which resizes it as the studio does. For
 * a model of raw tensors (TS_MODEL_TAKES_PIXELS 0: audio features, sensor
 * data) the input is int8 zeros; put your features into `pixels`, each
 * byte an int8.
 */
#include <tinystudio.h>
#include <tinystudio_model.h>

static ts_context ctx;
alignas(16) static uint8_t arena[TS_MODEL_ARENA_SIZE];
static uint8_t pixels[TS_MODEL_INPUT_HEIGHT * TS_MODEL_INPUT_WIDTH * TS_MODEL_INPUT_CHANNELS];
static bool ready = false;

static void print_error(const char *what, ts_status status)
{
    char message[160];
    ts_last_error(&ctx, message, sizeof message);
    Serial.print("error: ");
    Serial.print(what);
    Serial.print(": ");
    Serial.print(ts_status_name(status));
    Serial.print(": ");
    Serial.println(message);
}

void setup()
{
    Serial.begin(115200);
    while (!Serial && millis() < 5000) {
    }
    ts_status status = ts_init(&ctx, ts_model_blob, ts_model_blob_len, arena, sizeof arena);
    if (status != TS_OK) {
        print_error("init", status);
        return;
    }
    memset(pixels, TS_MODEL_TAKES_PIXELS ? 128 : 0, sizeof pixels);
    Serial.print(ts_version());
    Serial.println(" ready");
    ready = true;
}

void loop()
{
    if (!ready) {
        delay(1000);
        return;
    }
    unsigned long start = micros();
#if TS_MODEL_TAKES_PIXELS
    ts_status status = ts_set_input_pixels(&ctx, pixels, sizeof pixels);
#else
    ts_status status = ts_set_input_int8(&ctx, (const int8_t *)pixels, sizeof pixels);
#endif
    unsigned long preprocessed = micros();
    if (status == TS_OK) {
        status = ts_invoke(&ctx);
    }
    unsigned long classified = micros();
    if (status != TS_OK) {
        print_error("classify", status);
        delay(2000);
        return;
    }
    float scores[TS_MODEL_CLASS_COUNT];
    ts_scores(&ctx, scores, TS_MODEL_CLASS_COUNT);

    Serial.print("Predictions (DSP: ");
    Serial.print((preprocessed - start) / 1000);
    Serial.print(" ms., Classification: ");
    Serial.print((classified - preprocessed) / 1000);
    Serial.println(" ms., Anomaly: 0 ms.):");
    for (size_t i = 0; i < TS_MODEL_CLASS_COUNT; i++) {
        Serial.print("  ");
        Serial.print(ts_model_labels[i]);
        Serial.print(": ");
        Serial.println(scores[i], 5);
    }
    delay(2000);
}
