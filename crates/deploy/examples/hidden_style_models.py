"""Writes int8 .tflite models of the kinds people bring (issue 18): a residual
network with ADD (MLPerf Tiny's ResNet-8), a depthwise-separable keyword
spotter (MLPerf Tiny's DS-CNN), fully connected stacks (MLPerf Tiny's
anomaly-detection autoencoder, and a small classifier), a 1-D convolutional
network over audio features (Keras' Conv1D: EXPAND_DIMS, CONV_2D, SQUEEZE;
global pooling as MEAN), and depthwise layers with depth multipliers 2 and 3.

All but fc_autoencoder are committed as test fixtures in
crates/engine/tests/models/ (made by this script with TensorFlow 2.15).

Usage: python3 hidden_style_models.py OUT_DIR
Needs TensorFlow (2.15 here). The weights are random and a few steps of
training on random data move the batch norms, so the quantization
parameters are those TensorFlow's converter picks for such layers; the
models are for measuring the engine (speed, fast-path share, exactness),
not for accuracy. bench_vww measures each: `cargo run --release -p
tinystudio-deploy --example bench_vww -- DIR OUT_DIR/*.tflite`.
"""
import os
import sys

import numpy as np
import tensorflow as tf

L = tf.keras.layers


def resnet8():
    x = inp = L.Input((32, 32, 3))
    x = L.Conv2D(16, 3, padding="same")(x)
    x = L.ReLU()(L.BatchNormalization()(x))
    for filters, stride in [(16, 1), (32, 2), (64, 2)]:
        y = L.Conv2D(filters, 3, strides=stride, padding="same")(x)
        y = L.ReLU()(L.BatchNormalization()(y))
        y = L.BatchNormalization()(L.Conv2D(filters, 3, padding="same")(y))
        if stride != 1:
            x = L.Conv2D(filters, 1, strides=stride)(x)
        x = L.ReLU()(L.Add()([x, y]))
    x = L.AveragePooling2D(8)(x)
    x = L.Dense(10, activation="softmax")(L.Flatten()(x))
    return tf.keras.Model(inp, x)


def ds_cnn():
    x = inp = L.Input((49, 10, 1))
    x = L.Conv2D(64, (10, 4), strides=(2, 2), padding="same")(x)
    x = L.ReLU()(L.BatchNormalization()(x))
    for _ in range(4):
        x = L.DepthwiseConv2D(3, padding="same")(x)
        x = L.ReLU()(L.BatchNormalization()(x))
        x = L.Conv2D(64, 1)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
    x = L.AveragePooling2D((25, 5))(x)
    x = L.Dense(12, activation="softmax")(L.Flatten()(x))
    return tf.keras.Model(inp, x)


def fc_autoencoder():
    x = inp = L.Input((640,))
    for units in [128, 128, 128, 128, 8, 128, 128, 128, 128]:
        x = L.ReLU()(L.BatchNormalization()(L.Dense(units)(x)))
    x = L.Dense(640)(x)
    return tf.keras.Model(inp, x)


def fc_stack():
    # A small fully connected classifier over 64 features (the committed
    # test fixture; fc_autoencoder is the benchmark's full-size stack).
    x = inp = L.Input((64,))
    for units in [48, 48, 32]:
        x = L.ReLU()(L.BatchNormalization()(L.Dense(units)(x)))
    x = L.Dense(10, activation="softmax")(x)
    return tf.keras.Model(inp, x)


def conv1d_audio():
    x = inp = L.Input((49, 40))
    x = L.Conv1D(32, 5, padding="same", activation="relu")(x)
    x = L.DepthwiseConv1D(5, padding="same", activation="relu")(x)
    x = L.Conv1D(64, 1, activation="relu")(x)
    x = L.MaxPooling1D(2)(x)
    x = L.Conv1D(64, 3, padding="same", activation="relu")(x)
    x = L.GlobalAveragePooling1D()(x)
    x = L.Dense(12, activation="softmax")(x)
    return tf.keras.Model(inp, x)


def depth_multiplier():
    x = inp = L.Input((32, 32, 8))
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(16, 1, activation="relu6")(x)
    x = L.DepthwiseConv2D(3, strides=2, depth_multiplier=3, padding="same", activation="relu6")(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(4, activation="softmax")(x)
    return tf.keras.Model(inp, x)


def convert(model, rng):
    shape = (64,) + tuple(model.input_shape[1:])
    data = rng.normal(size=shape).astype(np.float32)
    target = model.predict(data, verbose=0)
    # Moves the batch norms' statistics away from their initial values.
    model.compile("adam", "mse")
    model.fit(data, target + rng.normal(scale=0.1, size=target.shape), epochs=2, verbose=0)

    def representative():
        for i in range(32):
            yield [data[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    tf.keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    for name, build in [
        ("resnet8", resnet8),
        ("ds_cnn", ds_cnn),
        ("fc_autoencoder", fc_autoencoder),
        ("fc_stack", fc_stack),
        ("conv1d_audio", conv1d_audio),
        ("depth_multiplier", depth_multiplier),
    ]:
        path = os.path.join(out, name + ".tflite")
        with open(path, "wb") as f:
            f.write(convert(build(), rng))
        print(path)


if __name__ == "__main__":
    main()
