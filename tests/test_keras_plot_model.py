"""keras.utils.plot_model: the layer graph drawn with matplotlib to PNG, SVG and PDF files. The files are checked as
images (PNG read back, SVG parsed), the SVG's text names every layer, and the layout puts each layer below (or, with
rankdir="LR", to the right of) the layers it takes its inputs from."""
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import minidl.keras as mk
from minidl.keras import layers
from minidl.keras.utils_plot import model_layout

from keras_helpers import fresh_session  # noqa: F401 -- fixture



def _branchy():
    inp = mk.Input((8,), name="features")
    a = layers.Dense(4, activation="relu", name="left")(inp)
    b = layers.Dense(4, name="right")(inp)
    merged = layers.Add(name="merge")([a, b])
    deep = layers.Dense(4, name="deep")(merged)
    skip = layers.Concatenate(name="skip")([deep, inp])         # an edge that skips two ranks
    return mk.Model(inp, layers.Dense(1, name="out")(skip))


def _svg_text(path):
    """{first text line: (x, y)} of an SVG written by plot_model (text kept as text)."""
    root = ET.parse(path).getroot()
    out = {}
    for el in root.iter("{http://www.w3.org/2000/svg}text"):
        if el.text and el.text not in out:
            out[el.text] = (float(el.get("x")), float(el.get("y")))
    return out


def test_png_is_a_valid_image(tmp_path):
    import matplotlib.image  # noqa: PLC0415
    path = tmp_path / "model.png"
    assert mk.utils.plot_model(_branchy(), to_file=str(path), show_shapes=True, dpi=50) is None
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(str(path))
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    assert np.any(image[..., :3] < 0.5)         # something is drawn


def test_svg_names_every_layer_and_puts_each_below_its_inputs(tmp_path):
    model = _branchy()
    path = tmp_path / "model.svg"
    mk.utils.plot_model(model, to_file=path, show_layer_names=True, show_shapes=True, show_dtype=True,
                        show_layer_activations=True, show_trainable=True)
    texts = _svg_text(path)
    titles = {name.split(" (")[0]: xy for name, xy in texts.items() if " (" in name}
    for layer in model.layers:
        assert f"{layer.name} ({type(layer).__name__})" in texts
    assert "features (InputLayer)" in texts
    assert any("Output shape: (None, 4)" in t for t in texts)
    assert any("Activation: relu" in t for t in texts)
    _, edges = model_layout(model)
    assert len(edges) == 8
    for src, dst in edges:          # SVG y grows downwards: each layer is drawn lower than its inputs
        assert titles[dst.replace("input:", "")][1] > titles[src.replace("input:", "")][1], (src, dst)


def test_rankdir_lr_puts_each_layer_right_of_its_inputs(tmp_path):
    model = _branchy()
    path = tmp_path / "model.svg"
    mk.utils.plot_model(model, to_file=path, show_layer_names=True, rankdir="LR")
    titles = {name.split(" (")[0]: xy for name, xy in _svg_text(path).items()}
    for src, dst in model_layout(model)[1]:
        assert titles[dst.replace("input:", "")][0] > titles[src.replace("input:", "")][0]


def test_layout_ranks_follow_the_graph():
    ranks, edges = model_layout(_branchy())
    for src, dst in edges:
        assert ranks[dst][0] > ranks[src][0]
    assert ranks["out"][0] == 5 and ranks["left"][0] == ranks["right"][0] == 1


def test_sequential_and_nested_models(tmp_path):
    seq = mk.Sequential([mk.Input((5,), dtype="int32"), layers.Embedding(10, 4, mask_zero=True), layers.LSTM(3),
                         layers.Dense(1)], name="stack")
    inp = mk.Input((5,), dtype="int32")
    outer = mk.Model(inp, layers.Dense(2, name="head")(seq(inp)))
    flat, nested = tmp_path / "flat.svg", tmp_path / "nested.svg"
    mk.utils.plot_model(outer, to_file=flat, show_layer_names=True)
    mk.utils.plot_model(outer, to_file=nested, show_layer_names=True, expand_nested=True)
    flat_text, nested_text = _svg_text(flat), _svg_text(nested)
    assert "stack (Sequential)" in flat_text and "lstm (LSTM)" not in flat_text
    assert "lstm (LSTM)" in nested_text and "stack (Sequential)" in nested_text       # the frame's title
    ranks, edges = model_layout(outer, expand_nested=True)
    assert ("stack/dense", "head") in edges and ranks["head"][0] > ranks["stack/lstm"][0]
    seq_png = tmp_path / "seq.png"
    mk.utils.plot_model(seq, to_file=seq_png)
    assert seq_png.read_bytes()[:4] == b"\x89PNG"
    assert [e for e in model_layout(seq)[1]] == [("input:" + seq.inputs[0].name, "embedding"),
                                                  ("embedding", "lstm"), ("lstm", "dense")]


def test_pdf_and_a_call_with_several_outputs(tmp_path):
    enc = mk.Input((None, 3))
    _, h, c = layers.LSTM(4, return_state=True, name="encoder")(enc)
    dec = mk.Input((None, 3))
    out = layers.LSTM(4, return_sequences=True, name="decoder")(dec, initial_state=[h, c])
    model = mk.Model([enc, dec], out)
    path = tmp_path / "s2s.pdf"
    mk.utils.plot_model(model, to_file=path)
    assert path.read_bytes()[:5] == b"%PDF-"
    ranks, edges = model_layout(model)
    assert sum(1 for k in ranks if k == "encoder") == 1 and ("encoder", "decoder") in edges


def test_errors(tmp_path, monkeypatch):
    model = _branchy()
    with pytest.raises(ValueError, match=r"\.png, \.svg and \.pdf"):
        mk.utils.plot_model(model, to_file=tmp_path / "model.gif")
    with pytest.raises(ValueError, match="rankdir"):
        mk.utils.plot_model(model, to_file=tmp_path / "m.png", rankdir="XY")
    with pytest.raises(ValueError, match="unrecognized keyword"):
        mk.utils.plot_model(model, to_file=tmp_path / "m.png", colour=True)
    with pytest.raises(ValueError, match="not yet been built"):
        mk.utils.plot_model(mk.Sequential([layers.Dense(2)]), to_file=tmp_path / "m.png")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"minidl\[bench\]"):
        mk.utils.plot_model(model, to_file=tmp_path / "m.png")
