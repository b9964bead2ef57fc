"""The CuPy rung of :func:`solvers.solve_ode`: a fused RawKernel, one thread per trajectory.

Only right-hand sides given as sympy expressions (:func:`solvers.ode_from_sympy`) reach this
rung: their CUDA C code is generated and inlined into an explicit Runge-Kutta kernel in
which each thread integrates one member with its own adaptive step size and writes its
dense output at ``t_eval`` (the design of DiffEqGPU's ``EnsembleGPUKernel``).  The
arithmetic mirrors the Numba kernel (``_numba``) step for step, in double precision.

The member routine is plain C, so the same source also compiles on the host (see
``host_source``) — the test-suite runs it there with a C compiler when no GPU is present.
"""
from __future__ import annotations

import numpy as np

from ._common import (BETA, FAC_MAX, FAC_MIN, NONFINITE_SHRINK, SAFE, STATUS_MAX_STEPS,
                          STATUS_NONFINITE, STATUS_SUCCESS, STATUS_UNDERFLOW, Controller)

__all__ = ["cuda_source", "host_source", "integrate_cupy"]

_TEMPLATE = r'''
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#ifndef M_E
#define M_E 2.71828182845904523536
#endif
#define D {D}
#define S {S}
#define NP {NP}
#define MP {MP}

DEV void ps_rhs(double t, const double* y, double* k, const double* p) {{
{PARAMS}
{RHS}
}}

DEV void ps_dense(const double* y, double hs, const double k[S][D], double theta, double* out) {{
    const double P[S][MP] = {PMAT};
    for (int q = 0; q < D; ++q) out[q] = 0.0;
    for (int s = 0; s < S; ++s) {{
        double w = 0.0;
        for (int j = MP - 1; j >= 0; --j) w = w * theta + P[s][j];
        w = w * theta;
        if (w != 0.0) for (int q = 0; q < D; ++q) out[q] += w * k[s][q];
    }}
    for (int q = 0; q < D; ++q) out[q] = y[q] + hs * out[q];
}}

DEV void ps_stage(double t, const double* y, double hs, double k[S][D], int s, const double* p,
                  double* ytmp) {{
    const double A[S][S] = {AMAT};
    const double C[S] = {CVEC};
    for (int q = 0; q < D; ++q) {{
        double acc = 0.0;
        for (int j = 0; j < s; ++j) if (A[s][j] != 0.0) acc += A[s][j] * k[j][q];
        ytmp[q] = y[q] + hs * acc;
    }}
    ps_rhs(t + C[s] * hs, ytmp, k[s], p);
}}

DEV void ps_adaptive_member(long long i, const double* y0, const double* params, long long B,
        double t0, double t1, const double* t_out, long long nout, long long n_start,
        double rtol, double atol, double dt0, double max_step, long long max_steps,
        double expo1, double* yout, int* status, long long* nfev, long long* nsteps,
        long long* nreject, double* t_final, double* y_final) {{
    const double Bw[S] = {BVEC};
    const double Ew[S] = {EVEC};
    const double eps = 2.220446049250313e-16;
    double y[D], ynew[D], ytmp[D], k[S][D], p[NP > 0 ? NP : 1];
    for (int j = 0; j < NP; ++j) p[j] = params[j * B + i];
    for (int q = 0; q < D; ++q) y[q] = y0[i * D + q];
    for (long long kk = 0; kk < n_start; ++kk)
        for (int q = 0; q < D; ++q) yout[(i * nout + kk) * D + q] = y[q];
    long long ptr = n_start, nf = 1, ns = 0, nr = 0;
    int st = 99;
    double t = t0, tf = t0;
    ps_rhs(t, y, k[0], p);
    for (int q = 0; q < D; ++q) if (!isfinite(k[0][q])) st = {NONFINITE};
    double h = dt0;
    if (st == 99 && dt0 <= 0.0) {{
        double d0 = 0.0, d1 = 0.0, d2 = 0.0, f1[D];
        for (int q = 0; q < D; ++q) {{
            double sc = atol + fabs(y[q]) * rtol;
            d0 += (y[q] / sc) * (y[q] / sc);
            d1 += (k[0][q] / sc) * (k[0][q] / sc);
        }}
        d0 = sqrt(d0 / D); d1 = sqrt(d1 / D);
        double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
        h0 = fmin(h0, t1 - t0);
        for (int q = 0; q < D; ++q) ytmp[q] = y[q] + h0 * k[0][q];
        ps_rhs(t0 + h0, ytmp, f1, p);
        nf += 1;
        for (int q = 0; q < D; ++q) {{
            double sc = atol + fabs(y[q]) * rtol;
            d2 += ((f1[q] - k[0][q]) / sc) * ((f1[q] - k[0][q]) / sc);
        }}
        d2 = sqrt(d2 / D) / h0;
        double dm = fmax(d1, d2);
        double h1 = (dm <= 1e-15) ? fmax(1e-6, h0 * 1e-3) : pow(0.01 / dm, 1.0 / {ORDER});
        h = fmin(100.0 * h0, h1);
        if (!isfinite(h)) h = h0;
    }}
    h = fmin(h, max_step);
    double facold = 1e-4;
    int last_rej = 0, last_nonfinite = 0;
    while (st == 99) {{
        if (ns + nr >= max_steps) {{ st = {MAXSTEPS}; tf = t; break; }}
        double remaining = t1 - t;
        int last = h >= remaining - 16.0 * eps * fmax(fabs(t1), 1.0);
        double hs = last ? remaining : h;
        if (!last && hs <= 10.0 * eps * fabs(t)) {{ st = {UNDERFLOW}; tf = t; break; }}
        for (int s = 1; s < S; ++s) ps_stage(t, y, hs, k, s, p, ytmp);
        nf += S - 1;
        double errn = 0.0;
        int finite = 1;
        for (int q = 0; q < D; ++q) {{
            double acc = 0.0, acce = 0.0;
            for (int s = 0; s < S; ++s) {{
                if (Bw[s] != 0.0) acc += Bw[s] * k[s][q];
                if (Ew[s] != 0.0) acce += Ew[s] * k[s][q];
            }}
            ynew[q] = y[q] + hs * acc;
            double sc = atol + rtol * fmax(fabs(y[q]), fabs(ynew[q]));
            errn += (hs * acce / sc) * (hs * acce / sc);
            if (!(isfinite(ynew[q]) && isfinite(k[S - 1][q]))) finite = 0;
        }}
        errn = sqrt(errn / D);
        if (!isfinite(errn)) finite = 0;
        if (finite && errn <= 1.0) {{
            double t_new = last ? t1 : t + hs;
            while (ptr < nout && t_out[ptr] <= t_new) {{
                if (t_out[ptr] == t_new) {{
                    for (int q = 0; q < D; ++q) yout[(i * nout + ptr) * D + q] = ynew[q];
                }} else {{
                    double theta = fmin(fmax((t_out[ptr] - t) / hs, 0.0), 1.0);
                    ps_dense(y, hs, k, theta, ytmp);
                    for (int q = 0; q < D; ++q) yout[(i * nout + ptr) * D + q] = ytmp[q];
                }}
                ptr += 1;
            }}
            double fac11 = pow(errn, expo1);
            double fac = fac11 / pow(facold, {BETA});
            fac = fmin(fmax(fac / {SAFE}, 1.0 / {FAC_MAX}), 1.0 / {FAC_MIN});
            double hnew = hs / fac;
            if (last_rej) hnew = fmin(hnew, hs);
            facold = fmax(errn, 1e-4);
            for (int q = 0; q < D; ++q) {{ y[q] = ynew[q]; k[0][q] = k[S - 1][q]; }}
            t = t_new;
            ns += 1;
            last_rej = 0; last_nonfinite = 0;
            h = fmin(hnew, max_step);
            if (t_new >= t1) {{ st = {SUCCESS}; tf = t1; break; }}
        }} else {{
            double hnew;
            if (finite) hnew = hs / fmin(1.0 / {FAC_MIN}, pow(errn, expo1) / {SAFE});
            else hnew = hs * {SHRINK};
            nr += 1;
            last_rej = 1; last_nonfinite = !finite;
            h = fmin(hnew, max_step);
            if (h <= 10.0 * eps * fmax(fabs(t), 1e-300)) {{
                st = last_nonfinite ? {NONFINITE} : {UNDERFLOW};
                tf = t;
                break;
            }}
        }}
    }}
    for (int q = 0; q < D; ++q) y_final[i * D + q] = y[q];
    status[i] = st; nfev[i] = nf; nsteps[i] = ns; nreject[i] = nr; t_final[i] = tf;
}}

DEV void ps_fixed_member(long long i, const double* y0, const double* params, long long B,
        const double* ts, const double* hs_, const long long* ks_out, long long nst,
        long long n_start, long long nout, int hit_max, double* yout, int* status,
        long long* nfev, long long* nsteps, double* t_final, double* y_final) {{
    const double Bw[S] = {BVEC};
    double y[D], ytmp[D], k[S][D], p[NP > 0 ? NP : 1];
    for (int j = 0; j < NP; ++j) p[j] = params[j * B + i];
    for (int q = 0; q < D; ++q) y[q] = y0[i * D + q];
    for (long long kk = 0; kk < n_start; ++kk)
        for (int q = 0; q < D; ++q) yout[(i * nout + kk) * D + q] = y[q];
    int st = 0;
    long long ns = 0;
    double tf = nst > 0 ? ts[0] : 0.0;
    for (long long n = 0; n < nst; ++n) {{
        double t = ts[n], h = hs_[n];
        ps_rhs(t, y, k[0], p);
        for (int s = 1; s < S; ++s) ps_stage(t, y, h, k, s, p, ytmp);
        int good = 1;
        for (int q = 0; q < D; ++q) {{
            double acc = 0.0;
            for (int s = 0; s < S; ++s) if (Bw[s] != 0.0) acc += Bw[s] * k[s][q];
            ytmp[q] = y[q] + h * acc;
            if (!isfinite(ytmp[q])) good = 0;
        }}
        if (!good) {{ st = {NONFINITE}; break; }}
        for (int q = 0; q < D; ++q) y[q] = ytmp[q];
        ns += 1;
        tf = t + h;
        if (ks_out[n] >= 0)
            for (int q = 0; q < D; ++q) yout[(i * nout + ks_out[n]) * D + q] = y[q];
    }}
    if (st == 0 && hit_max) st = {MAXSTEPS};
    status[i] = st; nsteps[i] = ns; nfev[i] = (ns + (st == {NONFINITE} ? 1 : 0)) * S;
    t_final[i] = tf;
    for (int q = 0; q < D; ++q) y_final[i * D + q] = y[q];
}}
'''

_GLOBALS = r'''
extern "C" __global__ void ps_ode_adaptive(const double* y0, const double* params, long long B,
        double t0, double t1, const double* t_out, long long nout, long long n_start,
        double rtol, double atol, double dt0, double max_step, long long max_steps,
        double expo1, double* yout, int* status, long long* nfev, long long* nsteps,
        long long* nreject, double* t_final, double* y_final) {
    long long i = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (i >= B) return;
    ps_adaptive_member(i, y0, params, B, t0, t1, t_out, nout, n_start, rtol, atol, dt0, max_step,
                       max_steps, expo1, yout, status, nfev, nsteps, nreject, t_final, y_final);
}

extern "C" __global__ void ps_ode_fixed(const double* y0, const double* params, long long B,
        const double* ts, const double* hs, const long long* ks_out, long long nst,
        long long n_start, long long nout, int hit_max, double* yout, int* status,
        long long* nfev, long long* nsteps, double* t_final, double* y_final) {
    long long i = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (i >= B) return;
    ps_fixed_member(i, y0, params, B, ts, hs, ks_out, nst, n_start, nout, hit_max, yout, status,
                    nfev, nsteps, t_final, y_final);
}
'''

_HOST_LOOPS = r'''
extern "C" void host_adaptive(const double* y0, const double* params, long long B,
        double t0, double t1, const double* t_out, long long nout, long long n_start,
        double rtol, double atol, double dt0, double max_step, long long max_steps,
        double expo1, double* yout, int* status, long long* nfev, long long* nsteps,
        long long* nreject, double* t_final, double* y_final) {
    for (long long i = 0; i < B; ++i)
        ps_adaptive_member(i, y0, params, B, t0, t1, t_out, nout, n_start, rtol, atol, dt0,
                           max_step, max_steps, expo1, yout, status, nfev, nsteps, nreject,
                           t_final, y_final);
}

extern "C" void host_fixed(const double* y0, const double* params, long long B,
        const double* ts, const double* hs, const long long* ks_out, long long nst,
        long long n_start, long long nout, int hit_max, double* yout, int* status,
        long long* nfev, long long* nsteps, double* t_final, double* y_final) {
    for (long long i = 0; i < B; ++i)
        ps_fixed_member(i, y0, params, B, ts, hs, ks_out, nst, n_start, nout, hit_max, yout,
                        status, nfev, nsteps, t_final, y_final);
}
'''


def _carr(values):
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 1:
        return "{" + ", ".join(repr(float(v)) for v in a) + "}"
    return "{" + ", ".join(_carr(row) for row in a) + "}"


def _body(sym, tab):
    c, a, b, e, P = tab.arrays()
    params = "\n".join(f"    const double p{j} = p[{j}];" for j in range(len(sym.params)))
    rhs = "\n".join("    " + line for line in sym.cuda_statements(out="k", y="y", t="t",
                                                                    params="p").splitlines())
    if not params:
        params = "    (void)p;"
    return _TEMPLATE.format(
        D=sym.d, S=tab.stages, NP=len(sym.params), MP=P.shape[1], PARAMS=params, RHS=rhs,
        PMAT=_carr(P), AMAT=_carr(a), CVEC=_carr(c), BVEC=_carr(b), EVEC=_carr(e),
        NONFINITE=STATUS_NONFINITE, MAXSTEPS=STATUS_MAX_STEPS, SUCCESS=STATUS_SUCCESS,
        UNDERFLOW=STATUS_UNDERFLOW, BETA=repr(BETA), SAFE=repr(SAFE), FAC_MAX=repr(FAC_MAX),
        FAC_MIN=repr(FAC_MIN), SHRINK=repr(NONFINITE_SHRINK), ORDER="5.0")


def cuda_source(sym, tab):
    """CUDA C source (for ``cupy.RawModule``) of the fused kernels for ``sym`` and ``tab``."""
    return "#define DEV __device__\n" + _body(sym, tab) + _GLOBALS


def host_source(sym, tab):
    """The same member routines as plain C++ with serial host loops (for testing on a CPU)."""
    return ("#include <cmath>\nusing std::isfinite; using std::fabs; using std::fmin; "
            "using std::fmax; using std::sqrt; using std::pow; using std::exp; using std::log;\n"
            "using std::sin; using std::cos; using std::tan; using std::tanh; using std::atan;\n"
            "#define DEV static inline\n" + _body(sym, tab) + _HOST_LOOPS)


_MODULES: dict = {}


def _module(sym, tab):
    import cupy as cp
    from probspace.random._cupy import NVCC_OPTIONS
    key = (id(sym), tab.name)
    mod = _MODULES.get(key)
    if mod is None or mod[0] is not sym:
        mod = (sym, cp.RawModule(code=cuda_source(sym, tab), options=tuple(NVCC_OPTIONS)))
        _MODULES[key] = mod
    return mod[1]


def params_matrix(cargs, nparams, xp):
    """Parameters as (n_params, B) float64 on the device: numbers broadcast to every member,
    :func:`solvers.per_member` arrays (of the batch shape) one value per member."""
    if len(cargs.raw) != nparams:
        raise TypeError(f"the sympy right-hand side takes {nparams} parameter(s) (args), got "
                        f"{len(cargs.raw)}")
    B = cargs.n_members
    rows = []
    for a, fl in zip(cargs.vectorized(), cargs.flags):
        arr = xp.asarray(a, dtype=xp.float64)
        rows.append(xp.reshape(arr, (B,)) if fl else xp.full((B,), float(arr), dtype=xp.float64))
    if not rows:
        return xp.zeros((1, B), dtype=xp.float64)
    return xp.stack(rows, axis=0)


def integrate_cupy(sym, t0, t1, y0, tab, *, dt0, rtol, atol, t_out, cargs, max_steps, max_step,
                   xp, grid=None):
    """One thread per member; returns the fields of the generic rung (device arrays)."""
    import cupy as cp
    batch = tuple(y0.shape[:-1])
    d = y0.shape[-1]
    B = int(np.prod(batch)) if batch else 1
    y0f = cp.ascontiguousarray(cp.asarray(y0, dtype=cp.float64).reshape(B, d))
    params = cp.ascontiguousarray(params_matrix(cargs, len(sym.params), cp))
    nout = int(t_out.size)
    yout = cp.full((B, nout, d), cp.nan, dtype=cp.float64)
    status = cp.zeros(B, dtype=cp.int32)
    nfev = cp.zeros(B, dtype=cp.int64)
    nsteps = cp.zeros(B, dtype=cp.int64)
    nreject = cp.zeros(B, dtype=cp.int64)
    t_final = cp.zeros(B, dtype=cp.float64)
    y_final = cp.zeros((B, d), dtype=cp.float64)
    mod = _module(sym, tab)
    threads = 128
    blocks = (B + threads - 1) // threads
    if tab.adaptive:
        n_start = int(np.sum(t_out <= t0))
        kern = mod.get_function("ps_ode_adaptive")
        kern((blocks,), (threads,), (
            y0f, params, np.int64(B), np.float64(t0), np.float64(t1),
            cp.asarray(t_out, dtype=cp.float64), np.int64(nout), np.int64(n_start),
            np.float64(rtol), np.float64(atol), np.float64(-1.0 if dt0 is None else dt0),
            np.float64(max_step), np.int64(max_steps), np.float64(Controller(tab.error_order).expo1),
            yout, status, nfev, nsteps, nreject, t_final, y_final))
    else:
        ts, hs, ks_out, n_start = grid
        kern = mod.get_function("ps_ode_fixed")
        kern((blocks,), (threads,), (
            y0f, params, np.int64(B), cp.asarray(ts), cp.asarray(hs), cp.asarray(ks_out),
            np.int64(ts.size), np.int64(n_start), np.int64(nout), np.int32(0), yout, status,
            nfev, nsteps, t_final, y_final))
    dtype = y0.dtype
    # rows reached: the leading rows that are not NaN (accepted states are always finite)
    reached = ~cp.all(cp.isnan(yout), axis=-1) if d else cp.ones((B, nout), dtype=bool)
    n_out = cp.asnumpy(cp.cumprod(reached, axis=1).sum(axis=1)).astype(np.int64)
    return dict(y=xp.astype(yout.reshape(batch + (nout, d)), dtype),
                status=cp.asnumpy(status).reshape(batch),
                nfev=cp.asnumpy(nfev).reshape(batch), nsteps=cp.asnumpy(nsteps).reshape(batch),
                nreject=cp.asnumpy(nreject).reshape(batch),
                t_final=cp.asnumpy(t_final).reshape(batch),
                y_final=xp.astype(y_final.reshape(batch + (d,)), dtype), events=None,
                n_out=n_out.reshape(batch))
