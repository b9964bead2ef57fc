"""Tokenize a corpus over a Dask ``distributed`` client."""
from __future__ import annotations

import numbers

__all__ = ["dask_encode"]


def _encode_chunk(model, texts, first, kwargs):
    return model._encode_chunk(texts, first, **kwargs)


def dask_encode(client, texts, model, /, *, chunk_size=10_000, alpha=None, method="perfect",
                seed=None, out="ids"):
    """Encode ``texts`` in chunks on the workers of ``client``; returns the list of encodings.

    The model is scattered once to every worker.  Text ``i`` of the corpus uses child stream
    ``i`` of ``seed`` whatever the chunking, so the result equals
    ``model.encode(texts, alpha=alpha, method=method, seed=seed, out=out)`` exactly.

    Parameters
    ----------
    client : distributed.Client
        The user's client (the library never creates clusters).
    texts : sequence of str
    model : UnigramModel
    chunk_size : int
        Texts per task (each task is one compiled batch call on a worker).
    """
    from probspace.random import as_stream
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of str, not a str")
    texts = list(texts)
    stream = as_stream(seed)
    kwargs = {"alpha": alpha, "method": method, "seed": stream, "out": out}
    # validate once locally (fast failure with a clear message)
    model.encode(texts[:1], **kwargs)
    remote = client.scatter(model, broadcast=True)
    futures = [client.submit(_encode_chunk, remote, texts[a:a + chunk_size], a, kwargs, pure=False)
               for a in range(0, len(texts), chunk_size)]
    res = []
    for chunk in client.gather(futures):
        res.extend(chunk)
    return res
