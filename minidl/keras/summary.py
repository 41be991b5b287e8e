"""``model.summary()``: Keras' table of layers, output shapes and parameter counts."""

def _size(n_params, bytes_per):
    size = float(n_params * bytes_per)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024


def _rows(model):
    """Each layer's ``_summary_row()``, plus the layers it is connected to in a graph where some layer takes
    several inputs."""
    graph = model._graph
    connected = graph is not None and any(len(t.parents) > 1 for t in graph[2])
    rows = []
    for layer in model.layers:
        row = layer._summary_row()
        if connected:
            # one call with several outputs (return_state) counts once
            sources = list({id(getattr(t, "_node", t)): t for t in graph[2] if t.layer is layer}.values())
            names = [p.layer.name if p.layer is not None else getattr(p, "name", "input") for t in sources
                     for p in t.parents]
            row.append(", ".join(names) or "-")
        rows.append(row)
    return rows, connected


def print_summary(model, line_length, print_fn):
    rows, connected = _rows(model)
    header = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if connected else [])
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) + 3 if rows else len(header[i]) + 3
              for i in range(len(header))]
    widths[0] = max(widths[0], 29)
    widths[1] = max(widths[1], 26)
    total = sum(widths)

    def line(cells):
        return "".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * total)
    print_fn(line(header))
    print_fn("=" * total)
    for i, row in enumerate(rows):
        print_fn(line(row))
        if i < len(rows) - 1:
            print_fn("_" * total if connected else "")
    print_fn("=" * total)
    if all(layer.built for layer in model._sublayers()) and model.built:
        trainable, frozen = model._param_counts()
        per = 8 if any(getattr(la, "dtype_name", "float32") == "float64" for la in model._sublayers()) else 4
        print_fn(f"Total params: {trainable + frozen:,} ({_size(trainable + frozen, per)})")
        print_fn(f"Trainable params: {trainable:,} ({_size(trainable, per)})")
        print_fn(f"Non-trainable params: {frozen:,} ({_size(frozen, per)})")
    else:
        print_fn("Total params: unknown until the model is built (give an input_shape or call it on data)")
    print_fn("_" * total)
