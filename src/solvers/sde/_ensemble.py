"""``ensemble``: one SDE ensemble split into chunks of paths, locally or over a Dask client.

Path ``p`` always draws from child ``p`` of the root stream (``solve_sde(path_offset=...)``),
and its computation touches no other path, so the result for a seed is bit-identical in one
process, in chunks, or on a cluster.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from probspace import to_numpy
from probspace.random import as_stream

from ._solve import SDEResult, solve_sde

__all__ = ["ensemble"]


def _solve_chunk(drift, diffusion, t_span, y0_chunk, stream, offset, kwargs):
    r = solve_sde(drift, diffusion, t_span, y0_chunk, seed=stream, path_offset=offset, **kwargs)
    return (to_numpy(r.y), to_numpy(r.t), r.backend, to_numpy(r.nsteps), to_numpy(r.status),
            np.asarray(r.message), to_numpy(r.t_final), to_numpy(r.y_final))


def ensemble(drift, diffusion, t_span, y0, /, *, n_paths=None, seed=None, client=None,
             chunk_size=None, **solve_kwargs):
    """Solve an SDE ensemble in chunks of paths, optionally over a Dask ``client``.

    Parameters
    ----------
    drift, diffusion, t_span :
        As for :func:`solve_sde`.
    y0 : array, shape (d,) or (n_paths, d)
        One initial state for every path (with ``n_paths``) or one per path.
    n_paths : int, optional
        Number of paths when ``y0`` has shape ``(d,)``.
    seed : int, Stream or None
        Root stream; ``None`` draws one key once, shared by all chunks (read it from ``.seed``).
    client : dask.distributed.Client, optional
        Chunks are submitted to it (functions are pickled with cloudpickle); without a client
        the chunks run one after the other in this process.
    chunk_size : int, optional
        Paths per chunk (default: all paths in one chunk locally, ``ceil(n / (2 * n_workers))``
        with a client).
    **solve_kwargs :
        Passed to :func:`solve_sde` (``method``, ``noise``, ``dt``, ``t_eval``, ``symbols``, ...).

    Returns
    -------
    SDEResult
        ``y`` of shape ``(n_paths, n_times, d)`` (NumPy), ``t``, ``t_final``, ``y_final``,
        ``nsteps``, ``status``, ``message``, ``success`` (per path, as :func:`solve_sde`),
        ``nchunks``, ``backend`` (of the first chunk), ``seed``.
    """
    for bad in ("brownian", "path_offset"):
        if bad in solve_kwargs:
            raise ValueError(f"{bad} is not supported by ensemble (paths are addressed by index)")
    y0 = np.asarray(to_numpy(y0), dtype=np.float64) if not isinstance(y0, np.ndarray) else y0
    if y0.ndim == 1:
        if n_paths is None or isinstance(n_paths, bool) or not isinstance(n_paths, numbers.Integral) or n_paths < 1:
            raise ValueError(f"n_paths must be a positive integer when y0 has shape (d,), got {n_paths!r}")
        y0 = np.broadcast_to(y0, (int(n_paths), y0.shape[0]))
    elif y0.ndim == 2:
        if n_paths is not None and n_paths != y0.shape[0]:
            raise ValueError(f"n_paths={n_paths} disagrees with y0 of shape {y0.shape}")
    else:
        raise ValueError(f"y0 must have shape (d,) or (n_paths, d), got {y0.shape}")
    n = y0.shape[0]
    stream = as_stream(seed)
    if chunk_size is None:
        if client is None:
            chunk_size = n
        else:
            nw = max(1, len(client.scheduler_info().get("workers", {})))
            chunk_size = math.ceil(n / (2 * nw))
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    starts = list(range(0, n, int(chunk_size)))
    pieces = [np.ascontiguousarray(y0[s:s + chunk_size]) for s in starts]
    if client is None:
        outs = [_solve_chunk(drift, diffusion, t_span, p, stream, s, solve_kwargs)
                for s, p in zip(starts, pieces)]
    else:
        futs = [client.submit(_solve_chunk, drift, diffusion, t_span, p, stream, s, solve_kwargs,
                              pure=False) for s, p in zip(starts, pieces)]
        outs = client.gather(futs)
    y = np.concatenate([o[0] for o in outs], axis=0)
    status = np.concatenate([o[4] for o in outs])
    return SDEResult(t=outs[0][1], y=y, nsteps=np.concatenate([o[3] for o in outs]),
                     t_final=np.concatenate([o[6] for o in outs]),
                     y_final=np.concatenate([o[7] for o in outs], axis=0),
                     status=status, success=status >= 0,
                     message=np.concatenate([o[5] for o in outs]),
                     backend=outs[0][2], nchunks=len(starts),
                     seed=stream.seed, method=solve_kwargs.get("method", "euler_maruyama"),
                     noise=solve_kwargs.get("noise", "diagonal"),
                     calculus=solve_kwargs.get("calculus", "ito"))
