"""A Keras-style IMDB sentiment classifier (Embedding + LSTM), as in the tutorials, running on minidl alone.

    python examples/keras_imdb.py [--epochs N] [--download]

It reads ``imdb.npz`` from ``$MINIDL_DATA/imdb``; ``--download`` fetches it. Without it, it says so and trains on
minidl's synthetic "reviews" (integer sequences whose label a few sentiment words decide) instead.
"""
import argparse
import sys

import minidl.keras as keras
from minidl.keras import layers


def load(download, max_features, maxlen):
    """(x_train, y_train), (x_test, y_test), vocabulary size, name; sequences padded to ``maxlen``."""
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data(num_words=max_features,
                                                                             download=download)
        name = "imdb"
    except FileNotFoundError as e:
        print(f"notice: IMDB is not available here ({str(e).splitlines()[0]})\n"
              "notice: training on minidl's synthetic sentiment reviews instead; pass --download or put imdb.npz in "
              "$MINIDL_DATA/imdb for the real thing", flush=True)
        from minidl.datasets import synthetic  # noqa: PLC0415
        max_features, maxlen = 200, 40
        (x_train, y_train), (x_test, y_test) = synthetic.sentiment(n=2500, maxlen=maxlen, vocab_size=max_features)
        name = "synthetic"
    x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
    x_test = keras.utils.pad_sequences(x_test, maxlen=maxlen)
    return (x_train, y_train), (x_test, y_test), max_features, name


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, help="default: 2 on IMDB, 6 on the synthetic reviews")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-features", type=int, default=20000, help="vocabulary size (IMDB)")
    parser.add_argument("--maxlen", type=int, default=200, help="words kept per review (IMDB)")
    parser.add_argument("--download", action="store_true", help="fetch imdb.npz when it is absent")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test), vocab, name = load(args.download, args.max_features, args.maxlen)
    print(f"{name}: {len(x_train)} training and {len(x_test)} test sequences of length {x_train.shape[1]}")

    inputs = keras.Input(shape=(None,), dtype="int32")        # variable-length sequences of word indices
    x = layers.Embedding(vocab, 64)(inputs)
    x = layers.LSTM(32)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.summary()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    epochs = args.epochs or (2 if name == "imdb" else 6)
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=epochs, validation_data=(x_test, y_test))
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test loss: {loss:.4f}")
    print(f"Test accuracy: {accuracy:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
