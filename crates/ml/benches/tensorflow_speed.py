"""TensorFlow's side of `cargo bench -p tinystudio-ml --bench speed`.

Times Keras' MobileNetV1 0.25 at 96x96x3 on the same images the Rust bench
uses (CIFAR-3's train and test JPEGs, upscaled bilinearly to 96x96 and
repeated), with the same batch sizes, and prints images/s per case:

- forward: the backbone with global average pooling, batch 64, inference mode;
- a training step (forward, backward, Adam) of backbone + head (dense 16,
  ReLU, dropout 0.1, dense 3, softmax cross-entropy), batch 32, with the last
  N blocks trainable (N = 4 and 13; batch norm in inference mode with its
  scale and offset trainable, as Keras' fine-tuning guide does). Two ways:
  `full`, the whole network run every step as a Keras model does, and `tail`,
  only the layers from the first trainable block on, started from the
  activation there (what TinyStudio does: it runs the frozen part once per
  image and caches it).

Measurement only: TensorFlow is not a dependency of the project.

    python3 -m pip install tensorflow-cpu==2.15.1
    python3 crates/ml/benches/tensorflow_speed.py [--repeats 5]

Needs the shared data folder at ../shared from the repository root.
"""

import argparse
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared"
IMAGES = 1000
SIZE = 96
CLASSES = ["airplane", "ship", "horse"]
STRIDE2 = {2, 4, 6, 12}


def load_images():
    files = []
    for split in ["train", "test"]:
        for label, cls in enumerate(CLASSES):
            d = SHARED / "datasets" / "cifar3" / split / cls
            files += [(p, label) for p in sorted(d.iterdir())]
    xs, ys = [], []
    for i in range(IMAGES):
        path, label = files[i % len(files)]
        img = Image.open(path).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
        xs.append(np.asarray(img, dtype=np.float32) / 127.5 - 1.0)
        ys.append(label)
    return np.stack(xs), np.array(ys, dtype=np.int32)


def backbone():
    base = tf.keras.applications.MobileNet(
        alpha=0.25,
        input_shape=(SIZE, SIZE, 3),
        include_top=False,
        weights=None,
        pooling="avg",
    )
    h5 = SHARED / "backbones" / "mobilenet_v1_0.25_224_imagenet.h5"
    # The file is a full model with the ImageNet head; load the backbone's
    # layers by name.
    base.load_weights(str(h5), by_name=True, skip_mismatch=True)
    return base


def first_layer_of_block(base, block):
    name = f"conv_pad_{block}" if block in STRIDE2 else f"conv_dw_{block}"
    return [layer.name for layer in base.layers].index(name)


def head(features):
    x = tf.keras.layers.Dense(16, activation="relu")(features)
    x = tf.keras.layers.Dropout(0.1)(x)
    return tf.keras.layers.Dense(len(CLASSES))(x)


def train_model(blocks, tail_only):
    """Backbone (or its tail from the cut) + head, and the input the step feeds it."""
    base = backbone()
    cut = first_layer_of_block(base, 13 - blocks + 1)
    for i, layer in enumerate(base.layers):
        layer.trainable = i >= cut
    if tail_only:
        inp = tf.keras.Input(shape=base.layers[cut].input.shape[1:])
        x = inp
        for layer in base.layers[cut:]:
            x = layer(x, training=False)
        stem = tf.keras.Model(base.input, base.layers[cut - 1].output)
    else:
        inp = tf.keras.Input(shape=(SIZE, SIZE, 3))
        x = base(inp, training=False)
        stem = None
    return tf.keras.Model(inp, head(x)), stem


def timed(step, batches, repeats):
    """Images/s of the fastest of `repeats` passes over `batches`, after a warm-up."""
    for b in batches[:3]:
        step(*b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for b in batches:
            out = step(*b)
        float(np.asarray(out).ravel()[0])
        best = min(best, time.perf_counter() - t)
    return sum(len(b[0]) for b in batches) / best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--forward-batch", type=int, default=64)
    ap.add_argument("--train-batch", type=int, default=32)
    args = ap.parse_args()
    x, y = load_images()

    base = backbone()
    forward = tf.function(lambda b: base(b, training=False))
    fb = args.forward_batch
    batches = [(tf.constant(x[i : i + fb]),) for i in range(0, IMAGES - fb + 1, fb)]
    print(f"tensorflow {tf.__version__}, threads intra {tf.config.threading.get_intra_op_parallelism_threads()}")
    print(f"forward, batch {fb}: {timed(forward, batches, args.repeats):.0f} images/s")

    tb = args.train_batch
    for blocks in [4, 13]:
        for tail_only in [False, True]:
            model, stem = train_model(blocks, tail_only)
            inputs = x if stem is None else stem.predict(x, batch_size=128, verbose=0)
            opt = tf.keras.optimizers.Adam(5e-4, epsilon=1e-7)
            loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

            @tf.function
            def step(xb, yb, model=model, opt=opt, loss_fn=loss_fn):
                with tf.GradientTape() as tape:
                    loss = loss_fn(yb, model(xb, training=True))
                grads = tape.gradient(loss, model.trainable_variables)
                opt.apply_gradients(zip(grads, model.trainable_variables))
                return loss

            batches = [
                (tf.constant(inputs[i : i + tb]), tf.constant(y[i : i + tb]))
                for i in range(0, IMAGES - tb + 1, tb)
            ]
            how = "tail from cached activation" if tail_only else "full network"
            print(
                f"train step, last {blocks} blocks, batch {tb}, {how}: "
                f"{timed(step, batches, args.repeats):.0f} images/s"
            )


if __name__ == "__main__":
    main()
