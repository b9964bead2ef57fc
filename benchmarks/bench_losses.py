"""numopt.losses: every loss + gradient against plain NumPy code for the same loss and PyTorch
CPU, float32 and float64, quiet and with a competing busy process; EXACT's accuracy/cost.

1. Throughput.  Shapes 4096 x 100 and 65536 x 1000.  For each loss a NumPy implementation of
   the same loss and gradient as a user would write it (vectorized, no Python loop over samples,
   max-shifted so that it does not overflow) is timed side by side with ours
   (``return_grad=True``, reduction "mean"); both results are checked to agree first.  PyTorch
   (``torch.nn.functional`` forward + ``backward()``) where it has the loss: cross_entropy
   (with label_smoothing, with class probabilities), binary_cross_entropy_with_logits and
   multi_margin_loss (= Weston-Watkins hinge divided by C: the same work).
2. Contention.  The ours/NumPy rows are run again while ``python -c "while True: pass"`` holds
   a core; "busy ratio / quiet ratio" should stay above 0.5.
3. EXACT (multiclass): error of loss and gradient against a 512-node reference, and time, as
   ``n_points`` grows; scipy's ``multivariate_normal.cdf`` as the peer.

Run ``python benchmarks/bench_losses.py`` (all rows, ~30 min on 2 cores), or with
``--small`` (4096 x 100 only) or ``--only NAME`` (rows whose name contains NAME).
"""
from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import time

import numba
import numpy as np
import scipy.special as sc
import scipy.stats as st

from _harness import fmt_time, measure, table, write_section
from numopt.losses import (emo, exact, hinge, sigmoid_cross_entropy, smoothed_accuracy,
                           smoothed_f1, softmax_cross_entropy, zlpr, zlpr_soft)

try:
    import torch
    import torch.nn.functional as F
except ImportError:          # the torch column is left empty
    torch = None


# ---- plain NumPy peers: the same losses, as a user would write them ----------------------------
def _softmax(z):
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    return e / s, np.log(s[:, 0]) + m[:, 0]


def np_softmax_ce(z, y):
    n = len(y)
    ar = np.arange(n)
    p, lse = _softmax(z)
    loss = np.mean(lse - z[ar, y])
    p[ar, y] -= 1
    return loss, p / n


def np_softmax_ce_smooth(z, y, eps=0.1):
    n, C = z.shape
    t = np.full_like(z, eps / C)
    t[np.arange(n), y] += 1 - eps
    p, lse = _softmax(z)
    loss = np.mean(lse - (t * z).sum(axis=1))
    return loss, (p - t) / n


def np_softmax_ce_probs(z, t):
    n = len(z)
    p, lse = _softmax(z)
    loss = np.mean(lse * t.sum(axis=1) - (t * z).sum(axis=1))
    return loss, (p * t.sum(axis=1, keepdims=True) - t) / n


def np_sigmoid_ce(z, t):
    e = np.exp(-np.abs(z))
    loss = np.mean(np.maximum(z, 0) - t * z + np.log1p(e))
    g = np.where(z >= 0, 1.0, e) / (1 + e) - t
    return loss, g / z.size


def np_hinge_binary(z, t):
    viol = 1 - t * z
    loss = np.maximum(viol, 0).mean()
    return loss, np.where(viol > 0, -t, 0).astype(z.dtype) / z.size


def np_crammer_singer(z, y):
    n = len(y)
    ar = np.arange(n)
    zy = z[ar, y]
    other = z.copy()
    other[ar, y] = -np.inf
    j = other.argmax(axis=1)
    worst = 1 + other[ar, j] - zy
    loss = np.maximum(worst, 0).mean()
    g = np.zeros_like(z)
    on = worst > 0
    g[ar[on], j[on]] = 1
    g[ar[on], y[on]] = -1
    return loss, g / n


def np_weston_watkins(z, y):
    n = len(y)
    ar = np.arange(n)
    viol = 1 + z - z[ar, y][:, None]
    viol[ar, y] = 0
    act = viol > 0
    loss = np.where(act, viol, 0).sum(axis=1).mean()
    g = act.astype(z.dtype)
    g[ar, y] = -act.sum(axis=1)
    return loss, g / n


def np_smoothed_accuracy(z, y):
    n = len(y)
    ar = np.arange(n)
    p, _ = _softmax(z)
    py = p[ar, y]
    loss = np.mean(1 - py)
    g = p * py[:, None]
    g[ar, y] -= py
    return loss, g / n


def np_smoothed_f1(z, y):
    n, C = z.shape
    p, _ = _softmax(z)
    t = np.zeros_like(z)
    t[np.arange(n), y] = 1
    A = (t * p).sum(axis=0)
    B = t.sum(axis=0) + p.sum(axis=0)
    loss = np.mean(1 - 2 * A / B)
    gp = -(2 * t / B - 2 * A / B ** 2) / C
    return loss, p * (gp - (p * gp).sum(axis=1, keepdims=True))


def _lse_with_one(u):
    """log(1 + sum exp(u)) per row and its weights, u with -inf for masked entries."""
    m = np.maximum(u.max(axis=1, keepdims=True), 0)
    e = np.exp(u - m)
    s = np.exp(-m) + e.sum(axis=1, keepdims=True)
    return (m + np.log(s))[:, 0], e / s


def np_zlpr(z, t):
    pos = t == 1
    l1, w1 = _lse_with_one(np.where(pos, -np.inf, z))
    l2, w2 = _lse_with_one(np.where(pos, -z, -np.inf))
    return np.mean(l1 + l2), (w1 - w2) / len(z)


def np_zlpr_threshold(z, t):
    s = z - z[:, :1]
    pos = t == 1
    pos[:, 0] = False
    neg = ~pos
    neg[:, 0] = False
    l1, w1 = _lse_with_one(np.where(neg, s, -np.inf))
    l2, w2 = _lse_with_one(np.where(pos, -s, -np.inf))
    g = w1 - w2
    g[:, 0] = -g.sum(axis=1)
    return np.mean(l1 + l2), g / len(z)


def np_zlpr_topk(z, t, k):
    """Su's recipe: Newton's identities on x = exp(z - max)."""
    m = z.max(axis=1, keepdims=True)
    x = np.exp(z - m)
    S = [None] + [(x ** i).sum(axis=1) for i in range(1, k + 1)]
    Z = [np.ones(len(z), z.dtype)]
    for mm in range(1, k + 1):
        Z.append(sum((-1) ** (i - 1) * Z[mm - i] * S[i] for i in range(1, mm + 1)) / mm)
    loss = np.mean(np.log(Z[k]) + k * m[:, 0] - (t * z).sum(axis=1))
    e = sum((-x) ** j * Z[k - 1 - j][:, None] for j in range(k))
    return loss, (x * e / Z[k][:, None] - t) / len(z)


def np_zlpr_topk_recursion(z, t, k):
    """The stable route: the elementary-symmetric recursion in the log domain, vectorized over
    the samples (a loop over the classes is inherent to it), forward-backward for the gradient."""
    n, C = z.shape
    init = np.full((n, k + 1), -np.inf, z.dtype)
    init[:, 0] = 0

    def step(f, zi):
        g = f.copy()
        g[:, 1:] = np.logaddexp(f[:, 1:], zi[:, None] + f[:, :-1])
        return g
    fwd = [init]
    for i in range(C):
        fwd.append(step(fwd[-1], z[:, i]))
    bwd = [None] * (C + 1)
    bwd[C] = init
    for i in range(C - 1, -1, -1):
        bwd[i] = step(bwd[i + 1], z[:, i])
    logz = fwd[C][:, k]
    incl = np.empty_like(z)
    for i in range(C):
        a = fwd[i][:, :k] + bwd[i + 1][:, k - 1::-1]
        m = a.max(axis=1)
        incl[:, i] = np.exp(z[:, i] + m + np.log(np.exp(a - m[:, None]).sum(axis=1)) - logz)
    return np.mean(logz - (t * z).sum(axis=1)), (incl - t) / n


def np_zlpr_soft(z, t):
    l1, w1 = _lse_with_one(np.where(t > 0, np.log(np.where(t > 0, t, 1)) - z, -np.inf))
    l2, w2 = _lse_with_one(np.where(t < 1, np.log1p(-np.where(t < 1, t, 0)) + z, -np.inf))
    return np.mean(l1 + l2), (w2 - w1) / len(z)


def np_emo_cost(z, y, cost):
    n = len(y)
    p, _ = _softmax(z)
    G = cost.T[y]                      # cost of each class to the target
    per = (p * G).sum(axis=1)
    return per.mean(), p * (G - per[:, None]) / n


def np_emo_embeddings_mix1(z, y, E, cap=3.0):
    n = len(y)
    ar = np.arange(n)
    Eh = E / np.linalg.norm(E, axis=1, keepdims=True)
    p, lse = _softmax(z)
    v = Eh[y]
    per = 1 - ((p @ Eh) * v).sum(axis=1)
    gp = 1 - v @ Eh.T
    g_emo = p * (gp - (p * gp).sum(axis=1, keepdims=True))
    ce = lse - z[ar, y]
    r = np.minimum(ce / per, cap)
    g_ce = p.copy()
    g_ce[ar, y] -= 1
    return np.mean(0.5 * (r * per + ce)), 0.5 * (r[:, None] * g_emo + g_ce) / n


def np_exact(z, y, n_points=32, sigma=1.0):
    """Gauss-Hermite quadrature of the one-factor integral, vectorized over samples."""
    n, C = z.shape
    ar = np.arange(n)
    x, w = sc.roots_hermitenorm(n_points)
    w = w / w.sum()
    a = (z[ar, y][:, None] - z) / sigma
    is_y = np.zeros((n, C), bool)
    is_y[ar, y] = True
    loss = np.zeros(n)
    dp = np.zeros((n, C))
    for xk, wk in zip(x, w):
        lphi = np.where(is_y, 0.0, sc.log_ndtr(a + xk))
        s = lphi.sum(axis=1)
        loss += wk * -np.expm1(s)
        dens = -0.5 * (a + xk) ** 2 - 0.5 * np.log(2 * np.pi)
        dp += wk * np.where(is_y, 0.0, np.exp(s[:, None] + dens - lphi))
    g = dp / sigma
    g[ar, y] = -g.sum(axis=1)
    return loss.mean(), g / n


# ---- PyTorch peers ------------------------------------------------------------------------------
def torch_case(fn, z, *args):
    if torch is None:
        return None
    zt = torch.from_numpy(z)
    targs = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]

    def run():
        x = zt.detach().requires_grad_()
        loss = fn(x, *targs)
        loss.backward()
        return loss.detach().numpy(), x.grad.numpy()
    return run


# ---- cases --------------------------------------------------------------------------------------
def make_cases(n, C, dtype, rng):
    z = (rng.normal(size=(n, C)) * 3).astype(dtype)
    y = rng.integers(0, C, size=n)
    probs = rng.dirichlet(np.ones(C), size=n).astype(dtype)
    labels = (rng.random((n, C)) < 0.3).astype(dtype)
    pm1 = (2 * (rng.random((n, C)) < 0.5) - 1).astype(dtype)
    multi = (rng.random((n, C)) < 0.05).astype(dtype)
    soft = rng.random((n, C)).astype(dtype)
    k = 3
    topk = np.zeros((n, C), dtype)
    topk[np.arange(n)[:, None], np.argsort(rng.random((n, C)), axis=1)[:, :k]] = 1
    cost = np.abs(rng.normal(size=(C, C))).astype(dtype)
    emb = rng.normal(size=(C, 64)).astype(dtype)
    yt = None if torch is None else torch.from_numpy(y)
    cases = [
        ("softmax_cross_entropy", lambda: softmax_cross_entropy(z, y, return_grad=True),
         lambda: np_softmax_ce(z, y), torch_case(lambda x: F.cross_entropy(x, yt), z)),
        ("softmax_cross_entropy, label_smoothing=0.1",
         lambda: softmax_cross_entropy(z, y, label_smoothing=0.1, return_grad=True),
         lambda: np_softmax_ce_smooth(z, y),
         torch_case(lambda x: F.cross_entropy(x, yt, label_smoothing=0.1), z)),
        ("softmax_cross_entropy, class probabilities",
         lambda: softmax_cross_entropy(z, probs, return_grad=True),
         lambda: np_softmax_ce_probs(z, probs),
         torch_case(lambda x, t: F.cross_entropy(x, t), z, probs)),
        ("sigmoid_cross_entropy (elementwise)",
         lambda: sigmoid_cross_entropy(z, labels, return_grad=True),
         lambda: np_sigmoid_ce(z, labels),
         torch_case(lambda x, t: F.binary_cross_entropy_with_logits(x, t), z, labels)),
        ("hinge, binary (elementwise)", lambda: hinge(z, pm1, return_grad=True),
         lambda: np_hinge_binary(z, pm1), None),
        ("hinge, Crammer-Singer", lambda: hinge(z, y, return_grad=True),
         lambda: np_crammer_singer(z, y), None),
        ("hinge, Weston-Watkins (torch: multi_margin_loss = WW / C)",
         lambda: hinge(z, y, multiclass="weston_watkins", return_grad=True),
         lambda: np_weston_watkins(z, y), torch_case(lambda x: F.multi_margin_loss(x, yt), z)),
        ("smoothed_accuracy", lambda: smoothed_accuracy(z, y, return_grad=True),
         lambda: np_smoothed_accuracy(z, y), None),
        ("smoothed_f1 (macro)", lambda: smoothed_f1(z, y, return_grad=True),
         lambda: np_smoothed_f1(z, y), None),
        ("zlpr", lambda: zlpr(z, multi, return_grad=True), lambda: np_zlpr(z, multi), None),
        ("zlpr, threshold class", lambda: zlpr(z, multi, threshold_index=0, return_grad=True),
         lambda: np_zlpr_threshold(z, multi), None),
        (f"zlpr, k={k} (recursion; peer: Newton's identities)",
         lambda: zlpr(z, topk, k=k, return_grad=True), lambda: np_zlpr_topk(z, topk, k), None),
        (f"zlpr, k={k}, topk_method='newton'",
         lambda: zlpr(z, topk, k=k, topk_method="newton", return_grad=True),
         lambda: np_zlpr_topk(z, topk, k), None),
        ("zlpr_soft", lambda: zlpr_soft(z, soft, return_grad=True),
         lambda: np_zlpr_soft(z, soft), None),
        ("emo, 0/1 cost", lambda: emo(z, y, return_grad=True),
         lambda: np_smoothed_accuracy(z, y), None),
        ("emo, cost matrix", lambda: emo(z, y, cost=cost, return_grad=True),
         lambda: np_emo_cost(z, y, cost), None),
        ("emo, embeddings d=64, mix=1",
         lambda: emo(z, y, embeddings=emb, mix=1, return_grad=True),
         lambda: np_emo_embeddings_mix1(z, y, emb), None),
    ]
    if n * C <= 1 << 20:
        # 65536 x 1000: the NumPy recursion keeps 2 x 1001 arrays of (n, k + 1) (4 GB) and
        # EXACT takes minutes per call in NumPy (seconds here)
        cases.insert(-5, (f"zlpr, k={k} (recursion; peer: the same recursion)",
                          lambda: zlpr(z, topk, k=k, return_grad=True),
                          lambda: np_zlpr_topk_recursion(z, topk, k), None))
        cases.append(("exact, n_points=32", lambda: exact(z, y, return_grad=True),
                      lambda: np_exact(z, y), None))
    return cases


def _check(name, ours, peer, dtype):
    """Our value and gradient agree with the peer (so both compute the same loss)."""
    v0, g0 = ours
    v1, g1 = peer
    v1 = float(v1)
    tol = 1e-3 if dtype == np.float32 else 1e-6
    if "k=" in name:     # the peer's float32 Newton sums lose digits (its gradient is ~5% off)
        tol = 1e-1 if dtype == np.float32 else 1e-6
    scale = float(np.max(np.abs(g0)))
    ok = abs(float(v0) - v1) <= tol * max(1.0, abs(v1)) and \
        float(np.max(np.abs(np.asarray(g0, np.float64) - np.asarray(g1, np.float64)))) <= tol * scale
    if not ok:
        raise AssertionError(f"{name}: ours and the NumPy peer disagree "
                             f"({float(v0)!r} vs {v1!r})")


class Busy:
    """A competing process that keeps one core busy."""

    def __enter__(self):
        self.p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.p.kill()
        self.p.wait()


def throughput(shapes, only):
    rng = np.random.default_rng(0)
    rows = []
    threads = numba.get_num_threads()
    for n, C in shapes:
        rep = 7 if n * C <= 1 << 20 else 3
        for dtype in (np.float32, np.float64):
            dname = np.dtype(dtype).name
            cases = [c for c in make_cases(n, C, dtype, rng) if only in c[0]]
            for name, ours, peer, tfn in cases:
                _check(name, ours(), peer(), dtype)
                t_ours = measure(ours, repeat=rep)
                numba.set_num_threads(1)
                t_one = measure(ours, repeat=rep)
                numba.set_num_threads(threads)
                t_np = measure(peer, repeat=rep)
                t_torch = measure(tfn, repeat=rep) if tfn is not None else None
                with Busy():
                    tb_ours = measure(ours, repeat=rep)
                    tb_np = measure(peer, repeat=rep)
                q, b = t_np / t_ours, tb_np / tb_ours
                rows.append([name, f"{n} x {C}", dname, fmt_time(t_ours), fmt_time(t_one),
                             fmt_time(t_np), f"{q:.2f}",
                             fmt_time(t_torch) if t_torch else "-",
                             f"{t_torch / t_ours:.2f}" if t_torch else "-",
                             f"{b:.2f}", f"{b / q:.2f}"])
                print(" | ".join(rows[-1]), flush=True)
                gc.collect()
    return table(["loss + gradient", "shape", "dtype", "ours", f"ours, 1 thread",
                  "NumPy", "NumPy / ours", "torch", "torch / ours",
                  "busy: NumPy / ours", "busy / quiet"], rows)


def exact_accuracy_section():
    rng = np.random.default_rng(1)
    out = []
    for (n, c, scale) in ((1024, 10, 2.0), (1024, 100, 3.0)):
        z = rng.normal(size=(n, c)) * scale
        y = rng.integers(0, c, size=n)
        ref_v, ref_g = exact(z, y, n_points=512, reduction="none", return_grad=True)
        rows = []
        for npts in (4, 8, 16, 32, 64, 128):
            v, g, e = exact(z, y, n_points=npts, reduction="none", return_grad=True,
                            return_error=True)
            t = measure(lambda: exact(z, y, n_points=npts, return_grad=True), repeat=3)
            rows.append([npts, f"{np.max(np.abs(v - ref_v)):.1e}", f"{np.max(e):.1e}",
                         f"{np.max(np.abs(g - ref_g)):.1e}", fmt_time(t),
                         f"{t / n * 1e6:.2f}"])
        if c <= 10:  # method="qmc" costs O(n_points C^3) with the gradient
            for npts in (16, 64, 256, 1024):
                v, g, e = exact(z, y, n_points=npts, method="qmc", reduction="none",
                                return_grad=True, return_error=True)
                t = measure(lambda: exact(z, y, n_points=npts, method="qmc",
                                          return_grad=True), repeat=3)
                rows.append([f"qmc {npts} (Genz + Sobol)", f"{np.max(np.abs(v - ref_v)):.1e}",
                             f"{np.max(e):.1e} (std err)", f"{np.max(np.abs(g - ref_g)):.1e}",
                             fmt_time(t), f"{t / n * 1e6:.2f}"])
        # Peer: scipy's multivariate normal CDF (Genz QMC) of the same orthant, value only.
        m = 20 if c <= 10 else 2
        cov = np.eye(c - 1) + np.ones((c - 1, c - 1))
        mvn = st.multivariate_normal(np.zeros(c - 1), cov, seed=0)
        t0 = time.perf_counter()
        peer = np.array([mvn.cdf((z[i, y[i]] - np.delete(z[i], y[i]))) for i in range(m)])
        t_peer = (time.perf_counter() - t0) / m
        err_peer = np.max(np.abs((1 - peer) - ref_v[:m]))
        rows.append(["scipy mvn.cdf (peer, value only)", f"{err_peer:.1e}", "-", "-",
                     fmt_time(t_peer * n) + " (extrap.)", f"{t_peer * 1e6:.0f}"])
        out.append(f"**{n} samples x {c} classes, logits N(0, {scale:g}^2), sigma = 1** "
                   "(errors: max over samples vs the 512-node rule)\n\n" + table(
                       ["n_points", "max |loss err|", "max reported err", "max |grad err|",
                        "time (loss+grad)", "us / sample"], rows))
    return "\n\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="4096 x 100 only")
    ap.add_argument("--only", default="", help="only rows whose name contains this")
    ap.add_argument("--no-exact-accuracy", action="store_true")
    args = ap.parse_args()
    shapes = [(4096, 100)] if args.small else [(4096, 100), (65536, 1000)]
    from probspace._parallel import free_cores
    free_before = free_cores()
    t1 = throughput(shapes, args.only)
    free_after = free_cores()
    t2 = "" if args.no_exact_accuracy else exact_accuracy_section()
    torch_line = (f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)"
                  if torch is not None else "PyTorch not installed")
    body = f"""Loss + gradient, reduction "mean", logits N(0, 3^2).  Medians of 7 runs (3 for
65536 x 1000) after a warm-up; compile time excluded.  "ours" uses the library's default
threads ({numba.get_num_threads()}): row chunks on a small pool of non-spinning Python threads
(``probspace/_pool.py``, shared with ``probspace.random`` and ``solvers.diffusion``; Numba's own threading layer is not used), only for calls with
enough work (a calibrated single-thread time of 0.3 ms or more) and only on cores that no other runnable thread occupies at the time of the call
(``probspace._parallel.ThreadGate``).  Free cores seen at the start / end of the run:
{free_before} / {free_after} (the machine line gives the load average).  "ours, 1 thread" is the same kernels with
``numba.set_num_threads(1)``.  NumPy is single-threaded; {torch_line}.  Ratios above 1: ours
faster.  Every NumPy peer is checked to give our value and gradient before it is timed.
"busy" reruns ours and NumPy while ``python -c "while True: pass"`` holds one core;
"busy / quiet" is the ratio of the two NumPy/ours ratios (goal: above 0.5).

### Loss + gradient throughput

{t1}
"""
    if t2:
        body += f"""
### EXACT: integration accuracy against cost

The multiclass EXACT probability is a one-dimensional Gauss-Hermite integral (see
``numopt/losses/_exact.py``); the error falls geometrically with ``n_points``.  "max reported
err" is the ``return_error=True`` estimate ``|L_n - L_2n|``.  The "qmc" rows are our
``method="qmc"``: the EXACT paper's route, Genz's separation of variables on the (C-1)-dimensional
orthant with scrambled Sobol points (8 randomizations; the reported error is their standard
error).  The scipy row integrates the same orthant with its own Genz QMC, one sample at a time.

{t2}
"""
    if args.only or args.small:
        print(body)
        return
    write_section("losses", "numopt.losses: loss + gradient against NumPy and PyTorch; EXACT "
                            "accuracy/cost", body)


if __name__ == "__main__":
    main()
