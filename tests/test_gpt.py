"""md.models.GPT, md.datasets.addition, `minidl train gpt` and `minidl generate` (issue 16).

The GPT is checked against a PyTorch re-implementation with copied weights (logits, loss and every gradient in
float64), for causality, weight tying, the answer-only loss, and generation (cropping to block_size, greedy
determinism, seeded sampling). The addition data set is checked for correct sums, a held-out split that shares no
problem with training in either operand order, and determinism. The command line is run on a tiny configuration
(a few steps) that writes a checkpoint `minidl generate` samples from; damaged and foreign checkpoints are refused
with one clear line.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl import cli
from minidl.datasets import addition
from minidl.models.gpt import GPT, load_checkpoint, save_checkpoint
from minidl.train import gpt_command

torch = pytest.importorskip("torch")


def small(seed=0, **kw):
    md.manual_seed(seed)
    cfg = dict(vocab_size=12, block_size=10, n_layer=2, n_head=2, n_embd=16)
    cfg.update(kw)
    return GPT(**cfg)


def ids(*shape, high=12, seed=0):
    return md.tensor(np.random.default_rng(seed).integers(0, high, shape), dtype=md.int64)


# --- the model --------------------------------------------------------------------------------------------------
def test_shapes_and_parameter_count():
    m = small()
    logits, loss = m(ids(3, 7))
    assert logits.shape == (3, 7, 12) and loss is None
    logits, loss = m(ids(3, 7), targets=ids(3, 7, seed=1))
    assert loss.shape == () and math.isfinite(loss.item())
    c = 16
    per_block = 2 * 2 * c + (c * 3 * c + 3 * c) + (c * c + c) + (c * 4 * c + 4 * c) + (4 * c * c + c)
    assert m.num_parameters() == 12 * c + 10 * c + 2 * per_block + 2 * c          # the head adds nothing: tied
    assert GPT(**m.config).num_parameters() == m.num_parameters()


def test_weight_tying_is_one_parameter():
    m = small()
    assert m.head.weight is m.tok_emb.weight
    params = list(m.parameters())
    assert sum(p is m.tok_emb.weight for p in params) == 1
    assert len({id(p) for p in params}) == len(params)
    _, loss = m(ids(2, 5), targets=ids(2, 5, seed=1))
    loss.backward()
    g_both = m.tok_emb.weight.grad.numpy().copy()
    # the gradient holds both uses: the head's share alone differs from it
    m.zero_grad()
    with md.no_grad():
        h = m.ln_f(m.blocks[1](m.blocks[0](m.tok_emb(ids(2, 5)) + m.pos_emb(md.arange(5)))))
    logits = md.nn.functional.linear(h.detach(), m.tok_emb.weight)
    md.nn.functional.cross_entropy(logits.reshape(10, 12), ids(2, 5, seed=1).reshape(10)).backward()
    assert not np.allclose(g_both, m.tok_emb.weight.grad.numpy())


CAUSAL_MODEL = small(n_layer=2)


@settings(max_examples=15, deadline=None)
@given(b=st.integers(1, 3), t=st.integers(2, 10), data=st.data())
def test_causal_future_tokens_do_not_change_earlier_logits(b, t, data):
    m = CAUSAL_MODEL
    pos = data.draw(st.integers(1, t - 1))
    x = ids(b, t, seed=pos).numpy()
    y = x.copy()
    y[:, pos:] = (y[:, pos:] + 1 + np.arange(t - pos)) % 12          # change every token from `pos` on
    lx, _ = m(md.tensor(x))
    ly, _ = m(md.tensor(y))
    np.testing.assert_allclose(lx.numpy()[:, :pos], ly.numpy()[:, :pos], rtol=0, atol=1e-6)
    assert not np.allclose(lx.numpy()[:, pos], ly.numpy()[:, pos])


def test_loss_is_cross_entropy_over_answer_tokens_only():
    m = small(block_size=11, n_embd=16).double()
    (x, y), _ = addition.load_data(digits=3, n_train=6, n_test=2, seed=3)
    logits, loss = m(md.tensor(x), targets=md.tensor(y))
    z = logits.numpy()
    logp = z - z.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    keep = y != -100
    assert keep.sum(1).tolist() == [4] * 6                        # "dddd" of the answer, nothing of the prompt
    by_hand = -np.take_along_axis(logp, np.where(keep, y, 0)[..., None], -1)[..., 0][keep].mean()
    assert loss.item() == pytest.approx(by_hand, rel=1e-12)


def test_input_errors_name_the_problem():
    m = small()
    with pytest.raises(ValueError, match="longer than block_size 10"):
        m(ids(1, 11))
    with pytest.raises(ValueError, match="integer token ids of shape"):
        m(md.randn(2, 3))
    with pytest.raises(ValueError, match="targets of shape"):
        m(ids(2, 3), targets=ids(2, 4))
    with pytest.raises(ValueError, match="not divisible by n_head 3"):
        GPT(12, 8, n_head=3, n_embd=16)
    with pytest.raises(ValueError, match="block_size must be an int >= 1"):
        GPT(12, 0)
    with pytest.raises(ValueError, match="temperature"):
        m.generate(ids(1, 3), 2, temperature=0.0)
    with pytest.raises(ValueError, match="top_k"):
        m.generate(ids(1, 3), 2, top_k=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        m.generate(ids(1, 3), -1)


# --- generation -------------------------------------------------------------------------------------------------
def test_generate_lengths_cropping_and_greedy_determinism():
    m = small(block_size=6)
    prompt = ids(2, 9)                                            # longer than block_size: cropped to the last 6
    out = m.generate(prompt, 8, greedy=True)
    assert out.shape == (2, 17) and out.dtype == md.int64
    np.testing.assert_array_equal(out.numpy()[:, :9], prompt.numpy())
    np.testing.assert_array_equal(out.numpy(), m.generate(prompt, 8, greedy=True).numpy())
    cropped = m.generate(md.tensor(prompt.numpy()[:, -6:]), 8, greedy=True)
    np.testing.assert_array_equal(out.numpy()[:, 9:], cropped.numpy()[:, 6:])
    # step by step: each new token is the argmax of the logits at the last of the (at most 6) visible tokens
    seq = prompt.numpy()
    for _ in range(8):
        logits, _ = m(md.tensor(seq[:, -6:]))
        seq = np.concatenate([seq, logits.numpy()[:, -1].argmax(-1)[:, None]], axis=1)
    np.testing.assert_array_equal(out.numpy(), seq)
    assert m.generate(prompt, 0).shape == (2, 9)
    m.train()
    m.generate(prompt, 1)
    assert m.training                                             # the mode is restored


def test_sampling_is_seeded_and_top_k_1_is_greedy():
    m = small()
    prompt = ids(4, 3)
    a = m.generate(prompt, 6, temperature=1.5, generator=md.Generator().manual_seed(7)).numpy()
    b = m.generate(prompt, 6, temperature=1.5, generator=md.Generator().manual_seed(7)).numpy()
    np.testing.assert_array_equal(a, b)
    md.manual_seed(3)
    c = m.generate(prompt, 6).numpy()
    md.manual_seed(3)
    np.testing.assert_array_equal(c, m.generate(prompt, 6).numpy())
    np.testing.assert_array_equal(m.generate(prompt, 6, top_k=1).numpy(), m.generate(prompt, 6, greedy=True).numpy())
    assert a.min() >= 0 and a.max() < 12


def test_sampling_follows_the_softmax_of_the_top_k():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    from minidl.models.gpt import _sample
    draws = np.array([_sample(logits, 1.0, 2, rng)[0] for _ in range(4000)])
    assert set(draws.tolist()) == {0, 1}
    assert abs((draws == 0).mean() - 0.5 / 0.8) < 0.03


# --- PyTorch re-implementation with copied weights ----------------------------------------------------------------
class TorchGPT(torch.nn.Module):
    """The same architecture in PyTorch, with md's parameter names (so md's state dict loads as is)."""

    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, dropout=0.0, bias=True):
        super().__init__()
        nn = torch.nn
        self.h = n_head
        self.tok_emb, self.pos_emb = nn.Embedding(vocab_size, n_embd), nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList()
        for _ in range(n_layer):
            blk = nn.Module()
            blk.ln1, blk.ln2 = nn.LayerNorm(n_embd, bias=bias), nn.LayerNorm(n_embd, bias=bias)
            blk.attn = nn.Module()
            blk.attn.qkv, blk.attn.proj = nn.Linear(n_embd, 3 * n_embd, bias=bias), nn.Linear(n_embd, n_embd, bias=bias)
            blk.mlp = nn.Module()
            blk.mlp.fc, blk.mlp.proj = nn.Linear(n_embd, 4 * n_embd, bias=bias), nn.Linear(4 * n_embd, n_embd, bias=bias)
            self.blocks.append(blk)
        self.ln_f = nn.LayerNorm(n_embd, bias=bias)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight

    def forward(self, idx):
        F = torch.nn.functional
        t = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(t))
        for blk in self.blocks:
            b, _, c = x.shape
            q, k, v = blk.attn.qkv(blk.ln1(x)).split(c, dim=2)
            q, k, v = (z.reshape(b, t, self.h, c // self.h).transpose(1, 2) for z in (q, k, v))
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, c)
            x = x + blk.attn.proj(a)
            x = x + blk.mlp.proj(F.gelu(blk.mlp.fc(blk.ln2(x))))
        return self.head(self.ln_f(x))


@pytest.mark.parametrize("bias", [True, False])
def test_matches_pytorch_with_copied_weights_float64(bias):
    m = small(seed=1, n_layer=2, n_head=4, n_embd=16, bias=bias).double()
    for p in m.parameters():                  # move off the init (zero biases, unit LayerNorm) to test every term
        p.data.add_(md.tensor(np.random.default_rng(p.numel()).normal(0, 0.05, p.shape)))
    ref = TorchGPT(**m.config).double()
    state = {k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()}
    ref.load_state_dict(state)
    x = np.random.default_rng(5).integers(0, 12, (3, 10))
    y = np.where(np.arange(10) < 6, -100, np.random.default_rng(6).integers(0, 12, (3, 10)))
    logits, loss = m(md.tensor(x), targets=md.tensor(y))
    rlogits = ref(torch.tensor(x))
    rloss = torch.nn.functional.cross_entropy(rlogits.reshape(30, 12), torch.tensor(y).reshape(30))
    np.testing.assert_allclose(logits.numpy(), rlogits.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert loss.item() == pytest.approx(rloss.item(), rel=1e-10)
    loss.backward()
    rloss.backward()
    grads = dict(ref.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name].grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=name)


def test_block_gradcheck_float64():
    m = small(n_layer=1, n_head=2, n_embd=4, block_size=3).double()
    for p in m.parameters():
        p.data.add_(md.tensor(np.random.default_rng(p.numel()).normal(0, 0.2, p.shape)))
    x = md.tensor(np.random.default_rng(1).normal(size=(1, 3, 4)), requires_grad=True)
    assert md.autograd.gradcheck(lambda z: m.blocks[0](z), (x,))


# --- the addition data set ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("digits,n_train,n_test,carry", [(1, 30, 20, 0.0), (2, 3000, 500, 0.0), (3, 1500, 300, 0.0),
                                                          (1, 30, 20, 0.3), (3, 1500, 300, 0.25)])
def test_addition_split_and_sums(digits, n_train, n_test, carry):
    train, test = addition.problems(digits, n_train, n_test, seed=4, carry_fraction=carry)
    assert train.shape == (n_train, 2) and test.shape == (n_test, 2)
    unordered = {(min(a, b), max(a, b)) for a, b in test.tolist()}
    assert not any((min(a, b), max(a, b)) in unordered for a, b in train.tolist())
    assert len({tuple(p) for p in train.tolist()}) == n_train and len({tuple(p) for p in test.tolist()}) == n_test
    for reverse in (False, True):
        seqs = addition.tokens(np.concatenate([train, test]), digits, reverse)
        texts = addition.strings(np.concatenate([train, test]), digits, reverse)
        assert seqs.shape == (n_train + n_test, 3 * digits + 3)
        for (a, b), s, text in zip(np.concatenate([train, test]).tolist(), seqs, texts):
            assert addition.decode(s) == text
            prompt, answer = text[:2 * digits + 2], text[2 * digits + 2:]
            assert prompt == f"{a:0{digits}d}+{b:0{digits}d}=" and len(answer) == digits + 1
            assert addition.parse_answer(answer, reverse) == a + b


def test_carry_fraction_enriches_carries_through_nines():
    def nines(pairs):          # columns whose digits sum to 9: a carry arriving there runs on
        cols = 10 ** np.arange(3)
        return ((pairs[:, :1] // cols % 10 + pairs[:, 1:] // cols % 10) == 9).sum()

    plain, test = addition.problems(3, 4000, 500, seed=1)
    rich, test2 = addition.problems(3, 4000, 500, seed=1, carry_fraction=0.25)
    np.testing.assert_array_equal(test, test2)                     # the held-out problems stay uniform
    assert nines(rich) > 1.5 * nines(plain)
    again, _ = addition.problems(3, 4000, 500, seed=1, carry_fraction=0.25)
    np.testing.assert_array_equal(rich, again)
    with pytest.raises(ValueError, match="carry_fraction"):
        addition.problems(3, 10, 1, carry_fraction=1.5)


def test_addition_is_deterministic_and_masks_the_prompt():
    (x1, y1), (t1, u1) = addition.load_data(digits=2, n_train=500, n_test=100, seed=9)
    (x2, y2), (t2, u2) = addition.load_data(digits=2, n_train=500, n_test=100, seed=9)
    for a, b in ((x1, x2), (y1, y2), (t1, t2), (u1, u2)):
        np.testing.assert_array_equal(a, b)
    (x3, _), _ = addition.load_data(digits=2, n_train=500, n_test=100, seed=10)
    assert not np.array_equal(x1, x3)
    assert x1.shape == y1.shape == (500, 8)
    assert (y1[:, :5] == -100).all() and (y1[:, 5:] >= 0).all()
    np.testing.assert_array_equal(y1[:, 5:-1], x1[:, 6:])          # targets are the inputs shifted by one
    assert addition.format_problem(123, 456, 3) == ("123+456=", "9750")
    assert addition.format_problem(123, 456, 3, reverse=False) == ("123+456=", "0579")
    np.testing.assert_array_equal(addition.encode("12+34="), [1, 2, 10, 3, 4, 11])


def test_addition_errors():
    with pytest.raises(ValueError, match="do not fit"):
        addition.problems(1, 90, 10)
    with pytest.raises(ValueError, match="digits must be an int"):
        addition.problems(0, 10, 1)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        addition.encode("1-2=")
    with pytest.raises(ValueError, match="token ids must be in"):
        addition.decode([12])


def test_teacher_forced_exact_match_equals_greedy_decoding():
    m = small(block_size=11)
    _, test = addition.problems(3, 10, 40, seed=2)
    seqs = addition.tokens(test, 3, reverse=False)
    prompts = md.tensor(seqs[:, :8])
    greedy = m.generate(prompts, 4, greedy=True).numpy()             # the model's own answers: all "right"
    x, y = addition.inputs_targets(greedy, 3)
    logits, _ = m(md.tensor(x))
    assert gpt_command.exact_match(y, logits).tolist() == [1.0] * 40
    y[::2, -1] = (y[::2, -1] + 1) % 10                               # half the rows: last digit wrong
    assert gpt_command.exact_match(y, logits).tolist() == [0.0, 1.0] * 20


# --- checkpoints and the command line ------------------------------------------------------------------------------
def test_checkpoint_round_trip(tmp_path):
    m = small(block_size=11)
    path = tmp_path / "g.safetensors"
    save_checkpoint(m, path, addition.VOCAB, task="addition", digits=3, max_new_tokens=4)
    back, vocab, info = load_checkpoint(path)
    assert vocab == addition.VOCAB and info == {"task": "addition", "digits": 3, "max_new_tokens": 4}
    assert back.config == m.config and not back.training and back.head.weight is back.tok_emb.weight
    x = ids(2, 11)
    np.testing.assert_array_equal(back(x)[0].numpy(), m.eval()(x)[0].numpy())
    with pytest.raises(ValueError, match="12 distinct characters"):
        save_checkpoint(m, path, "0123")


@pytest.fixture
def tiny_run(monkeypatch):
    """`minidl train gpt` shrunk to a few steps: 2-digit sums, 192 training problems, a one-layer model."""
    monkeypatch.setattr(gpt_command, "DIGITS", 2)
    monkeypatch.setattr(gpt_command, "N_TRAIN", 192)
    monkeypatch.setattr(gpt_command, "N_TEST", 40)
    monkeypatch.setattr(gpt_command, "MODEL", dict(n_layer=1, n_head=2, n_embd=16, dropout=0.0))
    monkeypatch.setattr(gpt_command, "WARMUP_STEPS", 2)


def test_cli_train_then_generate(tiny_run, tmp_path, capsys):
    path = str(tmp_path / "gpt.safetensors")
    assert cli.main(["train", "gpt", "--epochs", "2", "--batch-size", "64", "--seed", "3", "--save", path,
                     "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "training gpt on addition: 2-digit sums" in out and "(6 steps)" in out
    assert f"saved model, config and vocabulary to {path}" in out
    line = out.strip().splitlines()[-1]
    assert line.startswith("held-out exact match: ") and line.endswith("of 40 unseen sums, greedy decoding)")
    model, vocab, info = load_checkpoint(path)
    assert info["task"] == "addition" and info["digits"] == 2 and info["max_new_tokens"] == 3
    assert info["held_out_exact_match"] == pytest.approx(float(line.split()[3]), abs=1e-4)

    assert cli.main(["generate", "--checkpoint", path, "--prompt", "7+34=", "--greedy"]) == 0
    sample = capsys.readouterr().out.strip()
    assert sample.startswith("07+34=") and len(sample) == 9 and set(sample) <= set(vocab)
    expect = model.generate(md.tensor(addition.encode("07+34=")[None]), 3, greedy=True).numpy()[0]
    assert sample == addition.decode(expect)

    argv = ["generate", "--checkpoint", path, "--prompt", "12+34=", "--top-k", "3", "--temperature", "0.8",
            "--seed", "5", "--max-new-tokens", "12"]
    assert cli.main(argv) == 0
    first = capsys.readouterr().out.strip()
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.strip() == first and len(first) == 6 + 12


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign", "garbage", "missing", "config"])
def test_generate_refuses_bad_checkpoints(damage, tmp_path, capsys):
    path = tmp_path / "gpt.safetensors"
    m = small(block_size=11)
    save_checkpoint(m, path, addition.VOCAB, task="addition", digits=3, max_new_tokens=4)
    blob = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(blob[:len(blob) // 2])
    elif damage == "flip":
        path.write_bytes(blob[:3] + bytes([blob[3] ^ 0x40]) + blob[4:])
    elif damage == "foreign":
        md.save({"weight": md.zeros(3)}, path)
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    elif damage == "missing":
        path = tmp_path / "nothing-here.safetensors"
    else:        # weights that do not fit the stored config
        state = m.state_dict()
        state["pos_emb.weight"] = md.zeros(5, 16)
        md.save({"format": "minidl.gpt", "version": 1, "config": m.config, "vocab": addition.VOCAB, "info": {},
                 "model": state}, path)
    assert cli.main(["generate", "--checkpoint", str(path), "--prompt", "1+2="]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minidl generate: error: ") and str(path) in err[0]
    if damage in ("foreign", "config"):
        assert "is not a GPT checkpoint written by minidl" in err[0]


def test_generate_refuses_a_prompt_outside_the_vocabulary(tmp_path, capsys):
    path = tmp_path / "gpt.safetensors"
    save_checkpoint(small(block_size=11), path, addition.VOCAB, task="addition", digits=3, max_new_tokens=4)
    assert cli.main(["generate", "--checkpoint", str(path), "--prompt", "1-2="]) == 1
    assert "outside the model's vocabulary" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["generate", "--checkpoint", str(path), "--prompt", "1+2=", "--temperature", "0"])
    assert exc.value.code == 2
    assert "expected a finite number > 0" in capsys.readouterr().err


@pytest.mark.parametrize("argv,fragment", [
    (["--distributed"], "--distributed is not supported for the gpt family"),
    (["--dataset", "digits"], "does not fit the gpt family"),
    (["--data-path", "/tmp"], "addition is generated"),
])
def test_train_gpt_usage_errors(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "gpt", *argv])
    assert exc.value.code == 2
    assert fragment in capsys.readouterr().err
