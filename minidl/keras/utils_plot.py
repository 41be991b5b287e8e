"""``keras.utils.plot_model``: draw a model's layer graph to a PNG, SVG or PDF file.

Keras draws through pydot and Graphviz's ``dot`` program; md.keras lays the graph out itself (each layer one rank
below the deepest of its inputs, ranks ordered to keep edges short) and draws it with matplotlib, an optional extra
(``pip install "minidl[bench]"``). Input layers, functional graphs (several inputs and outputs, shared layers, calls
with several outputs), ``Sequential`` stacks and nested models (one box, or their own layers in a frame with
``expand_nested=True``) are drawn.
"""
import os

from .layers.base import shape_str

_FORMATS = ("png", "svg", "pdf")


class _Graph:
    def __init__(self):
        self.nodes, self.edges, self.clusters = {}, [], []     # key -> label lines; (src, dst); (title, keys)

    def node(self, key, lines):
        self.nodes.setdefault(key, lines)
        return key

    def edge(self, src, dst):
        if (src, dst) not in self.edges and src != dst:
            self.edges.append((src, dst))


def _shape_text(shape):
    if shape is None:
        return "?"
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return ", ".join(shape_str(s) for s in shape)
    return shape_str(shape)


def _label(layer, opts, in_shape=None, out_shape=None, class_name=None, name=None):
    class_name = class_name or type(layer).__name__
    name = name if name is not None else layer.name
    lines = [f"{name} ({class_name})" if opts["show_layer_names"] else class_name]
    activation = getattr(layer, "activation", None)
    if opts["show_layer_activations"] and activation is not None:
        name_of = activation if isinstance(activation, str) else getattr(activation, "__name__", activation)
        lines.append(f"Activation: {name_of}")
    if opts["show_shapes"]:
        lines.append(f"Input shape: {_shape_text(in_shape)}  |  Output shape: {_shape_text(out_shape)}")
    details = []
    if opts["show_dtype"]:
        details.append(f"dtype: {getattr(layer, 'dtype_name', None) or getattr(layer, 'dtype', '?')}")
    if opts["show_trainable"]:
        details.append(f"Trainable: {'T' if getattr(layer, 'trainable', True) else 'F'}")
    if details:
        lines.append("  |  ".join(details))
    return lines


def _input_label(t, opts):
    class InputLayer:           # the label of a functional input: Keras draws an InputLayer node
        name = getattr(t, "name", "input_layer")
        dtype_name = t.dtype
        trainable = True
    return _label(InputLayer, opts, t.shape, t.shape, "InputLayer", InputLayer.name)


def _add_model(graph, model, opts, prefix=""):
    """Add ``model``'s layers to ``graph``; returns (entry keys, one per model input; exit keys, one per output)."""
    from .model import Model, _symbolic_graph  # noqa: PLC0415
    symbolic = _symbolic_graph(model) if model.built or model._graph is not None else None
    if symbolic is None:            # a subclassed model: its layers, in order; its call is Python, so no edges
        keys = [graph.node(prefix + layer.name, _label(layer, opts, layer.input_shape, layer.output_shape))
                for layer in model.layers]
        return keys[:1], keys[-1:]
    ins, outs = symbolic[0], symbolic[1]
    from .model import _topological  # noqa: PLC0415
    order = _topological(outs, {id(t) for t in ins})
    keys = {}           # id(KerasTensor) -> the node key that produces it
    entries = []
    for t in ins:
        keys[id(t)] = graph.node(prefix + "input:" + getattr(t, "name", str(id(t))), _input_label(t, opts))
        entries.append(keys[id(t)])
    calls = {}          # id(layer) -> (exit keys of that layer's node, for nested models: entry keys)
    for t in order:
        layer = t.layer
        if id(layer) not in calls:
            first = [p.shape for p in t.parents]
            node = getattr(t, "_node", t)
            out_shape = [tuple(s) for s in node.shape] if hasattr(t, "_node") else t.shape
            in_shape = first[0] if len(first) == 1 else first
            if isinstance(layer, Model) and opts["expand_nested"]:
                inner = _Graph()
                inner_in, inner_out = _add_model(inner, layer, opts, prefix + layer.name + "/")
                graph.nodes.update(inner.nodes)
                graph.edges.extend(e for e in inner.edges if e not in graph.edges)
                graph.clusters.extend(inner.clusters)
                graph.clusters.append((f"{layer.name} ({type(layer).__name__})", list(inner.nodes)))
                calls[id(layer)] = (inner_in, inner_out)
            else:
                key = graph.node(prefix + layer.name, _label(layer, opts, in_shape, out_shape))
                calls[id(layer)] = ([key], [key])
        entry, exits = calls[id(layer)]
        keys[id(t)] = exits[getattr(t, "_index", 0)] if len(exits) > 1 else exits[0]
        for i, p in enumerate(t.parents):
            graph.edge(keys[id(p)], entry[i] if len(entry) == len(t.parents) else entry[0])
    return entries, [keys[id(t)] for t in outs]


def _layout(graph):
    """Ranks (each node one below the deepest of its inputs) and positions inside each rank (ordered by the mean
    position of the inputs, to keep edges short). An edge that skips ranks passes through a waypoint in each rank
    between (as Graphviz routes it), so it goes around the boxes there. Returns ({key: (rank, position)} for the
    nodes and the waypoints, {edge: [waypoint keys]})."""
    rank = dict.fromkeys(graph.nodes, 0)
    changed = True
    while changed:
        changed = False
        for a, b in graph.edges:
            if rank[b] < rank[a] + 1:
                rank[b], changed = rank[a] + 1, True
    parents = {k: [] for k in graph.nodes}
    routes = {}
    for a, b in graph.edges:
        prev, route = a, []
        for r in range(rank[a] + 1, rank[b]):
            way = ("~", a, b, r)
            rank[way], parents[way] = r, [prev]
            route.append(way)
            prev = way
        parents[b].append(prev)
        routes[(a, b)] = route
    rows = {}
    for k in rank:
        rows.setdefault(rank[k], []).append(k)
    pos = {}
    for r in sorted(rows):
        row = rows[r]
        if r > 0:
            def centre(k):
                ps = [pos[p][1] for p in parents[k] if p in pos]
                return sum(ps) / len(ps) if ps else 0.0
            row.sort(key=centre)
        for i, k in enumerate(row):
            pos[k] = (r, i - (len(row) - 1) / 2)
    return pos, routes


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False, rankdir="TB",
               expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False, splines="ortho",
               **kwargs):
    """Draw ``model``'s layer graph to ``to_file`` (``.png``, ``.svg`` or ``.pdf``, from its extension; no
    extension: PNG): a box per layer (and per input), an arrow from each layer to the layers it feeds, inputs at the
    top (``rankdir="TB"``) or on the left (``"LR"``). ``show_shapes``, ``show_dtype``, ``show_layer_names``,
    ``show_layer_activations`` and ``show_trainable`` add those to the boxes; ``expand_nested`` draws a nested
    model's own layers in a frame. Needs matplotlib (``pip install "minidl[bench]"``); returns None.

    Example:
        >>> inputs = md.keras.Input(shape=(784,))
        >>> outputs = md.keras.layers.Dense(10)(md.keras.layers.Dense(64, activation="relu")(inputs))
        >>> md.keras.utils.plot_model(md.keras.Model(inputs, outputs), "model.png", show_shapes=True)
    """
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("plot_model: argument `layer_range` is no longer supported (as in Keras 3)")
    if kwargs:
        raise ValueError(f"plot_model: unrecognized keyword arguments: {sorted(kwargs)}")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"plot_model: rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    if not getattr(model, "built", False):
        raise ValueError("This model has not yet been built. Build the model first by calling `build()` or by calling "
                         "the model on a batch of data.")
    to_file = os.fspath(to_file)
    ext = os.path.splitext(to_file)[1][1:].lower() or "png"
    if ext not in _FORMATS:
        raise ValueError(f"plot_model: cannot write {to_file!r}: md.keras draws .png, .svg and .pdf files, not ."
                         f"{ext}")
    try:
        import matplotlib  # noqa: PLC0415
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
        from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: PLC0415
    except ImportError:
        raise ImportError('plot_model needs matplotlib, an optional extra of minidl: pip install "minidl[bench]" (or '
                          "pip install matplotlib)") from None
    opts = {"show_shapes": show_shapes, "show_dtype": show_dtype, "show_layer_names": show_layer_names,
            "show_layer_activations": show_layer_activations, "show_trainable": show_trainable,
            "expand_nested": expand_nested}
    graph = _Graph()
    _add_model(graph, model, opts)
    pos, routes = _layout(graph)

    char_w, line_h, pad = 0.085, 0.2, 0.15            # inches per character, per text line; box padding
    box_w = max(max(len(s) for s in lines) for lines in graph.nodes.values()) * char_w + 2 * pad
    box_h = max(len(lines) for lines in graph.nodes.values()) * line_h + 2 * pad
    horizontal = rankdir in ("LR", "RL")
    step_rank = (box_w + 0.6) if horizontal else (box_h + 0.5)
    step_pos = (box_h + 0.3) if horizontal else (box_w + 0.4)
    dx, dy = {"TB": (0, -1), "BT": (0, 1), "LR": (1, 0), "RL": (-1, 0)}[rankdir]     # the way ranks go
    half = box_w / 2 if horizontal else box_h / 2

    def centre(key):
        r, p = pos[key]
        return (dx * r * step_rank, -p * step_pos) if horizontal else (p * step_pos, dy * r * step_rank)
    xs = [centre(k)[0] for k in pos]
    ys = [centre(k)[1] for k in pos]
    margin = 0.4
    width = max(xs) - min(xs) + box_w + 2 * margin
    height = max(ys) - min(ys) + box_h + 2 * margin
    with matplotlib.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42}):
        fig = Figure(figsize=(width, height), dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(min(xs) - box_w / 2 - margin, max(xs) + box_w / 2 + margin)
        ax.set_ylim(min(ys) - box_h / 2 - margin, max(ys) + box_h / 2 + margin)
        ax.set_axis_off()
        for title, keys in graph.clusters:
            cx, cy = [centre(k)[0] for k in keys], [centre(k)[1] for k in keys]
            ax.add_patch(Rectangle((min(cx) - box_w / 2 - 0.15, min(cy) - box_h / 2 - 0.15),
                                   max(cx) - min(cx) + box_w + 0.3, max(cy) - min(cy) + box_h + 0.45, fill=False,
                                   linestyle="--", edgecolor="0.5"))
            ax.text(min(cx) - box_w / 2 - 0.1, max(cy) + box_h / 2 + 0.12, title, fontsize=8, color="0.35",
                    va="center", ha="left")
        for a, b in graph.edges:
            (xa, ya), (xb, yb) = centre(a), centre(b)
            points = [(xa + dx * half, ya + dy * half)] + [centre(w) for w in routes[(a, b)]]
            if len(points) > 1:         # through the waypoints of the ranks it skips
                ax.plot([q[0] for q in points], [q[1] for q in points], color="0.2", linewidth=1.0, zorder=3)
            start, end = points[-1], (xb - dx * half, yb - dy * half)
            style = "arc3" if splines in ("curved", "spline") else "arc3,rad=0"
            ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>,head_length=0.6,head_width=0.3",
                                         mutation_scale=14, color="0.2", connectionstyle=style, linewidth=1.0,
                                         shrinkA=0, shrinkB=1, zorder=3))
        for key, lines in graph.nodes.items():
            x, y = centre(key)
            ax.add_patch(FancyBboxPatch((x - box_w / 2 + 0.05, y - box_h / 2 + 0.05), box_w - 0.1, box_h - 0.1,
                                        boxstyle="round,pad=0.05", facecolor="white", edgecolor="black"))
            top = y + (len(lines) - 1) * line_h / 2
            for i, text in enumerate(lines):
                ax.text(x, top - i * line_h, text, ha="center", va="center", fontsize=9,
                        fontweight="bold" if i == 0 else "normal", family="DejaVu Sans")
        fig.savefig(to_file, format=ext, dpi=dpi)
    return None


def model_layout(model, expand_nested=False):
    """The graph ``plot_model`` draws: ``{key: (rank, position)}`` and the edges ``[(from, to)]``, keys being layer
    names (``"input:<name>"`` for inputs, ``"outer/inner"`` inside an expanded nested model).

    Example:
        >>> ranks, edges = md.keras.utils_plot.model_layout(model)
    """
    opts = {"show_shapes": False, "show_dtype": False, "show_layer_names": True, "show_layer_activations": False,
            "show_trainable": False, "expand_nested": expand_nested}
    graph = _Graph()
    _add_model(graph, model, opts)
    pos = _layout(graph)[0]
    return {k: v for k, v in pos.items() if k in graph.nodes}, list(graph.edges)
