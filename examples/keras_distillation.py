"""keras.io's "Knowledge Distillation" example with `distill.Distiller` in place of its class.

    python examples/keras_distillation.py [--samples 6000] [--epochs 3] [--width 1.0]

The code below the data set is keras.io's (Kenneth Borup, 2020), written
for tf_keras: the same teacher and student, the same ``compile`` arguments
(``alpha=0.1``, ``temperature=10``, Keras' own losses with their default
reduction), ``fit`` and ``evaluate``. MNIST is replaced by a synthetic
ten-class image set (no download): each class is a fixed random 28 x 28
pattern, each image its class pattern plus Gaussian noise. ``--width``
scales every layer's filters (1.0 is keras.io's size).
"""

from __future__ import annotations

import argparse

import link_sim  # noqa: F401  (first: makes tf.keras tf_keras)

import numpy as np
import tf_keras as keras
from tf_keras import layers

from distill import Distiller


def synthetic_digits(samples: int, seed: int = 0, noise: float = 2.0):
    """Ten classes of 28 x 28 x 1 images: a class pattern plus noise; labels 0-9."""
    rng = np.random.default_rng(seed)
    patterns = rng.normal(size=(10, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, samples)
    x = patterns[y] + noise * rng.normal(size=(samples, 28, 28, 1)).astype("float32")
    return x, y


def build(name: str, filters: tuple[int, int]) -> keras.Model:
    """keras.io's teacher (256, 512 filters) or student (16, 32 filters)."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(filters[0], (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(alpha=0.2),
        layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
        layers.Conv2D(filters[1], (3, 3), strides=(2, 2), padding="same"),
        layers.Flatten(),
        layers.Dense(10),
    ], name=name)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=6000, help="training images (as many for test)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--width", type=float, default=1.0, help="filters x keras.io's")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    x, y = synthetic_digits(2 * args.samples)
    n = args.samples
    (x_train, y_train), (x_test, y_test) = (x[:n], y[:n]), (x[n:], y[n:])
    width = lambda n: max(1, round(n * args.width))  # noqa: E731

    teacher = build("teacher", (width(256), width(512)))
    student = build("student", (width(16), width(32)))
    student_scratch = keras.models.clone_model(student)

    # keras.io, "Train the teacher"
    teacher.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    teacher.fit(x_train, y_train, epochs=args.epochs, verbose=2)
    teacher.evaluate(x_test, y_test, verbose=0)

    # keras.io, "Distill teacher to student"
    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile(
        optimizer=keras.optimizers.Adam(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=keras.losses.KLDivergence(),
        alpha=0.1,
        temperature=10,
    )
    distiller.fit(x_train, y_train, epochs=args.epochs, verbose=2)
    distilled = dict(zip(distiller.metrics_names, distiller.evaluate(x_test, y_test, verbose=0)))

    # keras.io, "Train student from scratch for comparison"
    student_scratch.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    student_scratch.fit(x_train, y_train, epochs=args.epochs, verbose=2)
    scratch = dict(zip(student_scratch.metrics_names, student_scratch.evaluate(x_test, y_test, verbose=0)))

    for name, logs in (("distilled student", distilled), ("student from scratch", scratch)):
        print(f"{name:<22} " + ", ".join(f"{k} {v:.4f}" for k, v in logs.items()))
    return {"distilled": distilled, "scratch": scratch}


if __name__ == "__main__":
    main()
