"""Optimizer step cost: numopt.optim (pure init/update + apply_updates) vs a hand-written
in-place NumPy loop and (when it installs) optax under jax.jit on the CPU.

Parameters: a dict of 10 float32 arrays of 1e5 .. 1e6 entries (5.5M floats in all).
One "step" = compute the update from a fixed gradient and produce the new parameters.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import fmt_time, measure, pip_install, table, write_section  # noqa: E402

from numopt import optim  # noqa: E402

SIZES = [int(s) for s in np.linspace(1e5, 1e6, 10)]
DT = np.float32


def make_tree(seed):
    rng = np.random.default_rng(seed)
    return {f"p{i}": rng.normal(size=n).astype(DT) for i, n in enumerate(SIZES)}


# ---- hand-written in-place NumPy steps (the strongest plain-NumPy baseline) ---------------

class NumpyAdam:
    def __init__(self, params, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.01):
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.tmp = {k: np.empty_like(v) for k, v in params.items()}
        self.t, self.lr, self.b1, self.b2, self.eps, self.wd = 0, lr, b1, b2, eps, wd

    def step(self, params, grads):
        self.t += 1
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        for k, p in params.items():
            g, m, v, tmp = grads[k], self.m[k], self.v[k], self.tmp[k]
            m *= self.b1
            m += (1 - self.b1) * g
            np.multiply(g, g, out=tmp)
            tmp *= 1 - self.b2
            v *= self.b2
            v += tmp
            np.divide(v, c2, out=tmp)
            np.sqrt(tmp, out=tmp)
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= 1 / c1
            p *= 1 - self.lr * self.wd
            tmp *= self.lr
            p -= tmp


class NumpyLion:
    def __init__(self, params, lr, b1=0.9, b2=0.99, wd=0.01):
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.tmp = {k: np.empty_like(v) for k, v in params.items()}
        self.tmp2 = {k: np.empty_like(v) for k, v in params.items()}
        self.lr, self.b1, self.b2, self.wd = lr, b1, b2, wd

    def step(self, params, grads):
        for k, p in params.items():
            g, m, tmp, tmp2 = grads[k], self.m[k], self.tmp2[k], self.tmp[k]
            np.multiply(m, self.b1, out=tmp2)
            tmp2 += (1 - self.b1) * g
            np.sign(tmp2, out=tmp)   # not in place: numpy's in-place sign is ~10x slower here
            p *= 1 - self.lr * self.wd
            tmp *= self.lr
            p -= tmp
            m *= self.b2
            m += (1 - self.b2) * g


class NumpyTiger(NumpyLion):
    def __init__(self, params, lr, beta=0.965, wd=0.01):
        super().__init__(params, lr, beta, beta, wd)

    def step(self, params, grads):
        for k, p in params.items():
            g, m, tmp = grads[k], self.m[k], self.tmp[k]
            m *= self.b2
            m += (1 - self.b2) * g
            np.sign(m, out=tmp)
            p *= 1 - self.lr * self.wd
            tmp *= self.lr
            p -= tmp


def ours(opt, params, grads, inplace=False):
    box = {"p": {k: v.copy() for k, v in params.items()}}
    box["s"] = opt.init(box["p"])

    def step():
        u, box["s"] = opt.update(grads, box["s"], box["p"])
        box["p"] = optim.apply_updates(box["p"], u, inplace=inplace)
    return step


def optax_step(name, params, grads):
    import jax
    import jax.numpy as jnp
    import optax
    tx = {"adam": optax.adamw(1e-3, weight_decay=0.01),
          "lion": optax.lion(1e-4, weight_decay=0.01),
          "tiger": optax.lion(1e-4, b1=0.965, b2=0.965, weight_decay=0.01)}[name]
    p = {k: jnp.asarray(v) for k, v in params.items()}
    g = {k: jnp.asarray(v) for k, v in grads.items()}
    box = {"p": p, "s": tx.init(p)}

    @jax.jit
    def f(p, s, g):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    def step():
        box["p"], box["s"] = f(box["p"], box["s"], g)
        jax.block_until_ready(box["p"])
    return step


def best(fn, n=15, warmup=3):
    """Minimum over ``n`` single runs (robust on a busy shared machine)."""
    return min(measure(fn, repeat=1, warmup=warmup if i == 0 else 0) for i in range(n))


def main():
    params = make_tree(0)
    grads = make_tree(1)
    have_optax = True
    try:
        import optax  # noqa: F401
        import jax  # noqa: F401
    except ImportError:
        have_optax = pip_install("optax", "jax")
    rows = []
    cases = [("adam (AdamW)", "adam", lambda **kw: optim.adam(1e-3, weight_decay=0.01, **kw),
              NumpyAdam(params, 1e-3)),
             ("lion", "lion", lambda **kw: optim.lion(1e-4, weight_decay=0.01, **kw),
              NumpyLion(params, 1e-4)),
             ("tiger (labels=None)", "tiger", lambda **kw: optim.tiger(1e-4, weight_decay=0.01, **kw),
              NumpyTiger(params, 1e-4))]
    import probspace
    for label, key, make, ref in cases:
        t_pure = best(ours(make(), params, grads))
        t_inpl = best(ours(make(inplace=True), params, grads, inplace=True))
        with probspace.use_backend("generic"):
            t_gen = best(ours(make(), params, grads))
        pnp = {k: v.copy() for k, v in params.items()}
        t_np = best(lambda: ref.step(pnp, grads))
        row = [label, fmt_time(t_pure), fmt_time(t_inpl), fmt_time(t_gen), fmt_time(t_np),
               f"{t_np / t_pure:.2f}", f"{t_np / t_inpl:.2f}"]
        if have_optax:
            t_ox = best(optax_step(key, params, grads))
            row += [fmt_time(t_ox), f"{t_ox / t_inpl:.2f}"]
        else:
            row += ["n/a", "n/a"]
        rows.append(row)
        print(row, flush=True)
    header = ["optimizer", "numopt pure (Numba)", "numopt inplace=True (Numba)",
              "numopt pure (generic rung)", "NumPy in-place loop", "ratio NumPy/pure",
              "ratio NumPy/inplace", "optax jit (CPU)", "ratio optax/inplace"]
    body = (f"One step (update + apply_updates) on a dict of 10 float32 arrays of "
            f"{SIZES[0]:.0e}..{SIZES[-1]:.0e} entries ({sum(SIZES) / 1e6:.1f}M floats). "
            "'pure' returns new parameter/state arrays every step (optax semantics; the cost is "
            "mostly fresh-page allocation); 'inplace=True' reuses the state buffers and "
            "`apply_updates(..., inplace=True)` adds into the parameters. The NumPy baseline "
            "updates in place with preallocated scratch (about a dozen array passes; numopt's "
            "Numba kernels make one fused pass). optax: `optax.adamw`/`optax.lion` (Tiger = "
            "lion with b1 = b2) under `jax.jit` on the CPU (jax may use both cores). "
            "Minimum of 15 single steps after warm-up (robust to other jobs on the machine; "
            "Numba compile time excluded).\n\n"
            + table(header, rows))
    write_section("optim", "numopt.optim: optimizer step cost", body)


if __name__ == "__main__":
    main()
