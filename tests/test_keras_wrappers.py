"""md.keras.layers.Bidirectional: against PyTorch's bidirectional LSTM/GRU, counts, merging, training, saving."""
import numpy as np
import pytest
import torch

import minidl as md
import minidl.keras as keras
from minidl.keras import layers
from minidl.keras.layers import Bidirectional
from minidl.testing import assert_gradcheck


@pytest.fixture(autouse=True)
def _session():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    keras.backend.set_floatx("float64")
    yield
    keras.backend.set_floatx("float32")


def _torch_bidirectional(kind, layer, n_in, units):
    """A torch bidirectional LSTM/GRU holding the wrapper's weights (Keras layouts -> PyTorch's)."""
    cls = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[kind]
    net = cls(n_in, units, batch_first=True, bidirectional=True).double()
    weights = layer.get_weights()
    half = len(weights) // 2
    with torch.no_grad():
        for suffix, (kernel, recurrent, bias) in (("", weights[:half]), ("_reverse", weights[half:])):
            if kind == "GRU":        # Keras z, r, h -> PyTorch r, z, n; bias rows: input, recurrent
                order = lambda a: np.concatenate([np.split(a, 3, axis=-1)[i] for i in (1, 0, 2)], axis=-1)
                kernel, recurrent, b_ih, b_hh = order(kernel), order(recurrent), order(bias[0]), order(bias[1])
            else:
                b_ih, b_hh = bias, np.zeros_like(bias)
            getattr(net, f"weight_ih_l0{suffix}").copy_(torch.from_numpy(kernel.T.copy()))
            getattr(net, f"weight_hh_l0{suffix}").copy_(torch.from_numpy(recurrent.T.copy()))
            getattr(net, f"bias_ih_l0{suffix}").copy_(torch.from_numpy(b_ih.copy()))
            getattr(net, f"bias_hh_l0{suffix}").copy_(torch.from_numpy(b_hh.copy()))
    return net


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_matches_pytorch_outputs_and_gradients(kind, return_sequences):
    n, steps, n_in, units = 3, 5, 4, 6
    layer = Bidirectional(getattr(layers, kind)(units, return_sequences=return_sequences))
    x = np.random.default_rng(1).standard_normal((n, steps, n_in))
    layer(x)
    layer.set_weights([np.random.default_rng(i).uniform(-0.5, 0.5, w.shape) for i, w in
                       enumerate(layer.get_weights())])
    net = _torch_bidirectional(kind, layer, n_in, units)
    xt = torch.tensor(x, requires_grad=True)
    out_t = net(xt)[0]
    if not return_sequences:          # forward's last step, backward's last step (= time 0 in time order)
        out_t = torch.cat([out_t[:, -1, :units], out_t[:, 0, units:]], dim=1)
    xm = md.tensor(x, requires_grad=True)
    out_m = layer(xm)
    np.testing.assert_allclose(out_m.numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(2).standard_normal(out_t.shape)
    out_t.backward(torch.from_numpy(g))
    out_m.backward(md.tensor(g))
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert out_m.shape == (n,) + layer.compute_output_shape((None, steps, n_in))[1:]


@pytest.mark.parametrize("mode", ["sum", "mul", "ave", "concat"])
def test_merge_modes_combine_the_two_directions(mode):
    layer = Bidirectional(layers.SimpleRNN(3, return_sequences=True), merge_mode=mode)
    x = np.random.default_rng(3).standard_normal((2, 4, 5))
    out = layer(x).numpy()
    fwd = layer.forward_layer(x).numpy()
    bwd = layer.backward_layer(x).numpy()[:, ::-1]
    want = {"sum": fwd + bwd, "mul": fwd * bwd, "ave": (fwd + bwd) / 2, "concat": np.concatenate([fwd, bwd], -1)}[mode]
    np.testing.assert_allclose(out, want, rtol=1e-12)
    assert layer.compute_output_shape((None, 4, 5)) == (None, 4, 6 if mode == "concat" else 3)


def test_parameter_count_weights_and_gradcheck():
    units, n_in = 8, 5
    layer = Bidirectional(layers.LSTM(units))
    layer.build((None, 7, n_in))
    assert layer.count_params() == 2 * 4 * (units * (n_in + units) + units)
    assert [w.shape for w in layer.get_weights()] == 2 * [(n_in, 4 * units), (units, 4 * units), (4 * units,)]
    assert layer.forward_layer.name.startswith("forward_") and layer.backward_layer.name.startswith("backward_")
    with pytest.raises(ValueError, match="expected 6 weights"):
        layer.set_weights(layer.get_weights()[:3])
    small = Bidirectional(layers.GRU(2, return_sequences=True))
    assert_gradcheck(lambda t: small(t), md.tensor(np.random.default_rng(4).standard_normal((2, 3, 2)),
                                                   requires_grad=True))


def test_bidirectional_errors():
    with pytest.raises(ValueError, match="recurrent layer"):
        Bidirectional(layers.Dense(3))
    with pytest.raises(ValueError, match="merge mode"):
        Bidirectional(layers.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="ndim=3"):
        Bidirectional(layers.LSTM(3))(np.zeros((2, 5)))


def test_bidirectional_lstm_learns_sentiment_and_saves(tmp_path):
    keras.backend.set_floatx("float32")
    (xtr, ytr), (xte, yte) = md.datasets.synthetic.sentiment(n=1200, maxlen=30, vocab_size=100)
    model = keras.Sequential([keras.Input(shape=(30,)), layers.Embedding(100, 16),
                              Bidirectional(layers.LSTM(16, kernel_regularizer=keras.regularizers.l2(1e-4))),
                              layers.Dense(1, activation="sigmoid")])
    lines = []
    model.summary(print_fn=lines.append)
    assert any("bidirectional (Bidirectional)" in ln and "(None, 32)" in ln and "4,224" in ln for ln in lines), lines
    assert len(model.losses) == 2                          # both directions' kernels are regularized
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(xtr, ytr, epochs=5, batch_size=32, verbose=0)
    assert model.evaluate(xte, yte, verbose=0)[1] >= 0.85
    model.save(tmp_path / "bi.keras")
    loaded = keras.models.load_model(tmp_path / "bi.keras")
    np.testing.assert_array_equal(loaded.predict(xte, verbose=0), model.predict(xte, verbose=0))
    frozen = Bidirectional(layers.GRU(4), trainable=False)
    frozen.build((None, 3, 2))
    assert frozen._param_counts() == (0, frozen.count_params())
