"""Process bodies for tests/test_programs_vis.py's multiprocessing tests: a module of its own, so that a spawned
child imports only minidl (and not PyTorch, which the test module imports)."""
import minidl as md


def sgd_steps(model, x, y, steps):
    """The hogwild child's loop in small: SGD with momentum on one batch."""
    opt = md.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    for _ in range(steps):
        opt.zero_grad()
        md.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def add_one(t, q):
    t.add_(1)
    q.put((t.is_shared(), float(t.sum())))


def write_rank(i, t, scale):
    t[i] = (i + 1) * scale


def fail_on_rank_one(i):
    if i == 1:
        raise ValueError(f"rank {i} failed")


def exit_three(i):
    import sys  # noqa: PLC0415
    sys.exit(3)
