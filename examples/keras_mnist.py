"""A Keras-style MNIST classifier, as in the tutorials, running on minidl alone.

    python examples/keras_mnist.py [--epochs N] [--model cnn|mlp] [--download] [--save PATH]

It reads MNIST from ``$MINIDL_DATA/mnist`` (IDX ``.gz`` files or Keras' ``mnist.npz``); ``--download`` fetches
the files (SHA-256 checked). Without them it says so and trains on the offline ``digits`` set (8x8 images
shipped with minidl) instead, so it always runs.
"""
import argparse
import sys

import minidl.keras as keras
from minidl.keras import layers


def load(download):
    """(x_train, y_train), (x_test, y_test), name: MNIST as float images (N, H, W, 1) in [0, 1]."""
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(download=download)
        name, scale = "mnist", 255.0
    except FileNotFoundError as e:
        print(f"notice: MNIST is not available here ({str(e).splitlines()[0]})\n"
              "notice: training on the offline 'digits' set (8x8 images) instead; pass --download or put the MNIST "
              "files in $MINIDL_DATA/mnist for the real thing", flush=True)
        from minidl.datasets import digits  # noqa: PLC0415
        (x_train, y_train), (x_test, y_test) = digits.load_data()
        name, scale = "digits", 16.0
    x_train = x_train.reshape(*x_train.shape, 1).astype("float32") / scale
    x_test = x_test.reshape(*x_test.shape, 1).astype("float32") / scale
    return (x_train, y_train), (x_test, y_test), name


def build(kind, input_shape, num_classes=10):
    if kind == "mlp":
        return keras.Sequential([
            keras.Input(shape=input_shape),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(num_classes, activation="softmax"),
        ])
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(32, kernel_size=(3, 3), padding="same", activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), padding="same", activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("cnn", "mlp"), default="cnn")
    parser.add_argument("--epochs", type=int, help="default: 3 on MNIST, 15 on digits")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--download", action="store_true", help="fetch MNIST when its files are absent")
    parser.add_argument("--save", metavar="PATH", help="save the trained model (.keras)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test), name = load(args.download)
    print(f"{name}: x_train {x_train.shape}, x_test {x_test.shape}")

    model = build(args.model, x_train.shape[1:])
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    epochs = args.epochs or (3 if name == "mnist" else 15)
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=epochs, validation_split=0.1,
              callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)])
    score = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test loss: {score[0]:.4f}")
    print(f"Test accuracy: {score[1]:.4f}")
    if args.save:
        model.save(args.save)
        print(f"saved to {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
