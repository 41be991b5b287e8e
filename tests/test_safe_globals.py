"""What PyTorch's word-language-model example needs besides the layers: md.nn.modules (the layers under PyTorch's
file names) and md.serialization.safe_globals for a weights-only load of a pickled model."""
import pickle
import warnings

import numpy as np
import pytest

import minidl as md

torch = pytest.importorskip("torch")


class TinyLM(md.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = md.nn.Embedding(10, 8)
        self.enc = md.nn.TransformerEncoder(md.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), 1)
        self.head = md.nn.Linear(8, 10)

    def forward(self, x):
        return self.head(self.enc(self.emb(x), mask=md.nn.Transformer.generate_square_subsequent_mask(x.shape[0])))


SAFE = [TinyLM, md.nn.functional.relu, md.nn.modules.activation.MultiheadAttention,
        md.nn.modules.container.ModuleList, md.nn.modules.dropout.Dropout, md.nn.modules.linear.Linear,
        md.nn.modules.linear.NonDynamicallyQuantizableLinear, md.nn.modules.normalization.LayerNorm,
        md.nn.modules.sparse.Embedding, md.nn.modules.transformer.TransformerEncoder,
        md.nn.modules.transformer.TransformerEncoderLayer]


def test_nn_modules_paths_are_pytorchs_and_name_minidls_classes():
    import minidl.nn.modules.rnn as rnn_module                  # a real submodule: importable by its path
    assert rnn_module.LSTM is md.nn.LSTM
    for path in ["activation.MultiheadAttention", "activation.ReLU", "activation.Softmin", "container.ModuleList",
                 "dropout.Dropout", "linear.Linear", "linear.Identity", "normalization.LayerNorm", "sparse.Embedding",
                 "transformer.TransformerEncoder", "transformer.TransformerDecoderLayer", "rnn.GRU", "conv.Conv2d",
                 "pooling.MaxPool2d", "loss.NLLLoss", "module.Module"]:
        mine = md.nn.modules
        theirs = torch.nn.modules
        for part in path.split("."):
            mine, theirs = getattr(mine, part), getattr(theirs, part)
        assert mine is getattr(md.nn, path.split(".")[-1]), path
        assert mine.__name__ == theirs.__name__
    assert isinstance(md.nn.MultiheadAttention(4, 2).out_proj, md.nn.modules.linear.NonDynamicallyQuantizableLinear)


def test_weights_only_load_of_a_pickled_model_with_safe_globals(tmp_path):
    md.manual_seed(0)
    model = TinyLM().eval()
    path = tmp_path / "model.pt"
    with open(path, "wb") as f:
        md.save(model, f)
    with pytest.raises(pickle.UnpicklingError, match="needs weights_only=False"):
        md.load(path)
    with md.serialization.safe_globals(SAFE):
        with open(path, "rb") as f:
            loaded = md.load(f)
    assert type(loaded) is TinyLM and loaded is not model
    x = md.tensor(np.array([[1, 2], [3, 4], [5, 6]]))
    np.testing.assert_array_equal(loaded(x).detach().numpy(), model(x).detach().numpy())
    assert md.serialization.get_safe_globals() == []
    with pytest.raises(pickle.UnpicklingError, match="needs weights_only=False"):   # the context ended
        md.load(path)


def test_safe_globals_refuse_an_unlisted_global_by_name(tmp_path):
    path = tmp_path / "model.pt"
    md.save(TinyLM(), path)
    missing = [g for g in SAFE if g is not md.nn.modules.linear.NonDynamicallyQuantizableLinear]
    with md.serialization.safe_globals(missing):
        with pytest.raises(pickle.UnpicklingError, match=r"refused the global minidl\.nn\.attention_layer\."
                                                         r"NonDynamicallyQuantizableLinear in the pickled .*TinyLM"):
            md.load(path)
    md.serialization.add_safe_globals(SAFE)
    try:
        assert len(md.serialization.get_safe_globals()) == len(SAFE)
        assert type(md.load(path)) is TinyLM
    finally:
        md.serialization.clear_safe_globals()
    assert md.serialization.get_safe_globals() == []
    with pytest.raises(TypeError, match=r"safe_globals: expected classes or functions"):
        md.serialization.safe_globals(["minidl.nn.Linear"])


def test_pickled_global_outside_the_list_is_never_imported(tmp_path):
    class Evil:
        def __reduce__(self):
            return (eval, ("1 + 1",))

    path = tmp_path / "evil.pt"
    md.save({"x": Evil()}, path)
    with md.serialization.safe_globals([md.nn.Linear]):
        with pytest.raises(pickle.UnpicklingError, match=r"refused the global builtins\.eval"):
            md.load(path)


def test_log_of_zero_is_minus_inf_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = md.log(md.tril(md.ones(3, 3)))
    np.testing.assert_array_equal(y.numpy(), torch.log(torch.tril(torch.ones(3, 3))).numpy())
