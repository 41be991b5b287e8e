"""The core's line budget (ARCHITECTURE B5.12): raise MAX_CORE_LINES only in a reviewed change that says why."""
import ast
import io
import pathlib
import tokenize

import minidl

# measured 2199 when the core engine landed (issue 2), +10%; raised for issue 13 (2999 measured): the reference
# kernels are the spec of every C++ kernel, and issue 13 added six families of them (whole-sequence RNN/LSTM/GRU with
# BPTT, the fused optimizer steps moved out of optim/, elementwise/sum/softmax/cross-entropy, linear, conv bias)
# plus ops/rnn.py's composed fallback; +5% headroom. Raised for issue 14 (4079 measured): PyTorch programs must run
# unchanged, which put PyTorch's type promotion in dtypes.py, Tensor.data/.array, about 35 of PyTorch's tensor ops
# (ops/extra.py), einsum with its own backward, tensor hooks in the engine, rounding division and remainders; +5%.
# Raised again in issue 14 (4300 measured): in-place ops recorded in graphs (ops/inplace.py, Tensor._record_inplace),
# grad_fn.next_functions, anomaly detection in the engine, PyTorch's legacy Tensor constructor, the size=/generator=
# keywords of the creation functions. The wider tensor API (about 1,100 lines) went to tensor_api/, outside; +4%.
# Raised for issue 16 (4533 measured): scaled-dot-product attention as one op over a fused kernel pair (PyTorch's
# mask broadcasting, grouped heads, the composed path for dropout/create_graph) and the attention and layer-norm
# reference kernels that specify the fused C++ and CUDA ones; +3.5%
MAX_CORE_LINES = 4690
CORE = ("tensor.py", "creation.py", "dtypes.py", "device.py", "autograd", "ops", "backends")
# Provider bindings are not engine: each is a thin adapter to its own kernels, and adding a provider (issue 5's
# cuda glue, say) must not eat the engine's budget. The dispatcher and the reference kernels stay counted.
PROVIDER_ADAPTERS = ("backends/ops_*.py", "backends/_cuda_glue*.py")  # _cuda_glue.py, _cuda_glue_attention.py


def code_lines(path):
    """Lines holding code: not blank, not only a comment, not inside a docstring."""
    src = path.read_text()
    doc_lines = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                doc_lines.update(range(first.lineno, first.end_lineno + 1))
    code = set()
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                            tokenize.ENDMARKER):
            code.update(range(tok.start[0], tok.end[0] + 1))
    return len(code - doc_lines)


def core_files():
    root = pathlib.Path(minidl.__file__).parent
    adapters = {f for pattern in PROVIDER_ADAPTERS for f in root.glob(pattern)}
    for name in CORE:
        p = root / name
        yield from (f for f in (sorted(p.rglob("*.py")) if p.is_dir() else [p]) if f not in adapters)


def test_code_lines_ignores_docstrings_comments_and_blanks():
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        f = pathlib.Path(d) / "m.py"
        f.write_text('"""doc\nmore"""\n\n# c\ndef f():\n    """d"""\n    return 1  # x\n')
        assert code_lines(f) == 2


def test_core_stays_within_its_line_budget():
    total = sum(code_lines(p) for p in core_files())
    assert 1000 < total <= MAX_CORE_LINES, f"core has {total} code lines, budget {MAX_CORE_LINES}"
