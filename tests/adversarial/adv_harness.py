"""The contract harness: mutate one argument of a valid call at a time and check the contract.

For every registered public callable (``adv_registry.REGISTRY``) the harness builds the valid
base call, runs it, then replaces one argument at a time by a value from the mutation catalog
below and classifies the outcome:

* ``same``   -- the same numbers in another memory layout or scalar type (Fortran order,
  non-contiguous or negative strides, read-only, ``np.float64`` for ``float``): the result must
  equal the base result;
* ``value``  -- a legal-looking but extreme value (0-size, one element, +-0, subnormals,
  1e+-300, float32, integers, ...): either a result that passes the entry's ``check`` (finite
  where the docstring promises, right shape and dtype, on the simplex ...) or a
  ``ValueError``/``TypeError`` whose message names the argument;
* ``reject`` -- a value that cannot be meant (complex, strings, ``None`` for a required
  argument, NaN hyper-parameters, an axis out of range ...): a ``ValueError``/``TypeError``
  naming the argument;
* ``nonfinite`` -- NaN / +-inf entries in an array argument: with the entry's
  ``nonfinite="raise"`` this is ``reject``; with ``"propagate"`` (documented NaN propagation)
  any result is accepted, but never another exception type or a crash.

Any other exception (``IndexError`` from a bounds-checked kernel, ``ZeroDivisionError``,
``AttributeError`` ...) is a finding.  The harness itself runs in a child process
(:func:`run_entries_isolated`), so a segfault or a hang in a kernel fails the one entry it
happened in instead of the test run.

Run it by hand for one entry: ``python tests/adversarial/adv_harness.py numopt.project_simplex``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ALLOWED = (ValueError, TypeError)


@dataclass
class Call:
    """A call ``fn(*positional args, **keyword args)`` with every argument named."""

    fn: Callable[..., Any]
    args: dict[str, Any]
    positional: tuple[str, ...] = ()

    def invoke(self) -> Any:
        pos = [self.args[n] for n in self.positional]
        kw = {k: v for k, v in self.args.items() if k not in self.positional}
        return self.fn(*pos, **kw)

    def replace(self, name: str, value: Any) -> "Call":
        return Call(self.fn, {**self.args, name: value}, self.positional)


@dataclass
class Entry:
    """How to call one public name validly, and what its result must satisfy.

    ``params`` maps the argument names to mutate to their kind (see ``MUTATORS``);
    ``check(result, call)`` raises ``AssertionError`` for an invalid result; ``aliases`` lists
    other words an error message may use for an argument (a docstring's name for it);
    ``skip`` maps an argument to mutation names that do not apply, each with the reason.
    Entries with ``build=None`` are public names that are not called (result classes, type
    aliases, constants): ``reason`` says why and which test exercises them instead."""

    name: str
    build: Callable[[], Call] | None = None
    params: dict[str, str] = field(default_factory=dict)
    check: Callable[[Any, Call], None] | None = None
    nonfinite: str = "raise"
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    skip: dict[str, dict[str, str]] = field(default_factory=dict)
    optional: tuple[str, ...] = ()
    reason: str = ""
    tol: float = 0.0   # relative tolerance for 'same' comparisons (0: bit-identical)


# ---- the mutation catalog ---------------------------------------------------------------------
Mutation = tuple[str, str, Any]   # (name, category, value)


def _layouts(a: np.ndarray) -> Iterator[Mutation]:
    if a.ndim >= 2:
        yield "fortran", "same", np.asfortranarray(a)
    if a.ndim >= 1 and a.size:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        big[..., ::2] = a
        yield "strided", "same", big[..., ::2]
        yield "negative_strides", "same", np.ascontiguousarray(a[::-1])[::-1]
    ro = a.copy()
    ro.flags.writeable = False
    yield "read_only", "same", ro


def _with_entry(a: np.ndarray, value: float) -> np.ndarray:
    b = np.array(a, dtype=np.float64 if a.dtype.kind != "f" else a.dtype, copy=True)
    if b.size:
        b.flat[0] = value
    return b


def mutate_array(a: Any, *, optional: bool) -> Iterator[Mutation]:
    a = np.asarray(a)
    yield from _layouts(a)
    yield "nan", "nonfinite", _with_entry(a, math.nan)
    yield "inf", "nonfinite", _with_entry(a, math.inf)
    yield "-inf", "nonfinite", _with_entry(a, -math.inf)
    yield "negative_zero", "value", _with_entry(a, -0.0)
    yield "subnormal", "value", _with_entry(a, 5e-324)
    yield "huge_entry", "value", _with_entry(a, 1e300)
    yield "huge_scale", "value", a * 1e300 if a.dtype.kind == "f" else a
    yield "tiny_scale", "value", a * 1e-300 if a.dtype.kind == "f" else a
    yield "float32", "value", a.astype(np.float32)
    yield "float16", "value", a.astype(np.float16)
    yield "int64", "value", np.round(a).astype(np.int64)
    yield "object", "value", a.astype(object)
    yield "complex", "reject", a.astype(np.complex128) + 1j
    if a.ndim >= 1:
        yield "zero_size", "value", a[..., :0]
        yield "one_element", "value", a[..., :1]
        yield "extra_axis", "value", a[None]
    yield "zero_dim", "value", np.asarray(a.flat[0] if a.size else 0.0)
    yield "string", "reject", "abc"
    yield "dict", "reject", {}
    if not optional:
        yield "none", "reject", None


def mutate_int_array(a: Any, *, optional: bool) -> Iterator[Mutation]:
    """Integer labels / indices / steps."""
    a = np.asarray(a)
    yield from _layouts(a)
    yield "int32", "same", a.astype(np.int32)
    yield "negative", "value", np.where(np.arange(a.size).reshape(a.shape) == 0, -1, a)
    yield "too_large", "value", a + 10**6
    yield "int64_max", "value", np.where(np.arange(a.size).reshape(a.shape) == 0,
                                         np.iinfo(np.int64).max, a)
    yield "float_with_fraction", "value", a + 0.5
    yield "nan", "reject", np.where(np.arange(a.size).reshape(a.shape) == 0, np.nan, a)
    yield "complex", "reject", a.astype(np.complex128) + 1j
    if a.ndim >= 1:
        yield "zero_size", "value", a[..., :0]
    yield "string", "reject", "abc"
    if not optional:
        yield "none", "reject", None


def mutate_float(x: Any, *, optional: bool) -> Iterator[Mutation]:
    if x is not None:
        yield "np_float64", "same", np.float64(x)
    yield "nan", "reject", math.nan
    yield "np_nan", "reject", np.float32("nan")
    yield "inf", "value", math.inf
    yield "-inf", "value", -math.inf
    yield "zero", "value", 0.0
    yield "negative_zero", "value", -0.0
    yield "negative", "value", -1.0
    yield "huge", "value", 1e300
    yield "subnormal", "value", 5e-324
    yield "bool", "value", True
    yield "complex", "reject", complex(x if x is not None else 1.0, 1.0)
    yield "string", "reject", "1.0"
    yield "list", "value", [x if x is not None else 1.0]
    if not optional:
        yield "none", "reject", None


def mutate_int(n: Any, *, optional: bool) -> Iterator[Mutation]:
    """A count that is cheap at any size the library accepts (not a memory size: see 'size')."""
    if n is not None:
        yield "np_int64", "same", np.int64(n)
    yield "zero", "value", 0
    yield "negative", "value", -1
    yield "huge", "value", 2**62
    yield "float_integral", "value", float(n if n is not None else 3)
    yield "fraction", "reject", (n if n is not None else 3) + 0.5
    yield "nan", "reject", math.nan
    yield "bool", "value", True
    yield "string", "reject", "3"
    if not optional:
        yield "none", "reject", None


def mutate_size(n: Any, *, optional: bool) -> Iterator[Mutation]:
    """A count that sizes memory or work: huge values are left out (they would allocate)."""
    for m in mutate_int(n, optional=optional):
        if m[0] != "huge":
            yield m


def mutate_seed(s: Any, *, optional: bool) -> Iterator[Mutation]:
    yield "np_int64", "same", np.int64(s)
    yield "negative", "reject", -1
    yield "too_large", "reject", 2**64
    yield "fraction", "reject", 1.5
    yield "string", "reject", "0"
    yield "nan", "reject", math.nan


def mutate_choice(c: Any, *, optional: bool) -> Iterator[Mutation]:
    yield "unknown", "reject", "no-such-choice"
    yield "empty", "reject", ""
    yield "number", "reject", 1
    if not optional:
        yield "none", "reject", None


def mutate_axis(ax: Any, *, optional: bool) -> Iterator[Mutation]:
    yield "np_int64", "same", np.int64(ax)
    yield "out_of_range", "reject", 99
    yield "negative_out_of_range", "reject", -99
    yield "fraction", "reject", 0.5
    yield "bool", "reject", True
    yield "none", "reject", None


def mutate_callable(f: Any, *, optional: bool) -> Iterator[Mutation]:
    yield "number", "reject", 3.0
    yield "string", "reject", "f"
    if not optional:
        yield "none", "reject", None


def mutate_object(o: Any, *, optional: bool) -> Iterator[Mutation]:
    """An argument of a specific library type (a schedule, a stream, an optimizer)."""
    yield "number", "reject", 3
    yield "string", "reject", "x"
    yield "dict", "reject", {}
    if not optional:
        yield "none", "reject", None


def mutate_pair(p: Any, *, optional: bool) -> Iterator[Mutation]:
    """A (low, high) range."""
    lo, hi = p if p is not None else (0.0, 1.0)
    if p is not None:
        yield "np_array", "same", np.asarray(p, dtype=float)
    yield "reversed", "reject", (hi, lo)
    yield "empty_range", "reject", (lo, lo)
    yield "nan", "reject", (lo, math.nan)
    yield "three", "reject", (lo, hi, hi)
    yield "number", "reject", 1.0


def mutate_out(o: Any, *, optional: bool) -> Iterator[Mutation]:
    """A preallocated ``out=`` buffer (its contents are irrelevant; its memory is not)."""
    o = np.asarray(o)
    ro = np.empty_like(o)
    ro.flags.writeable = False
    yield "read_only", "reject", ro
    yield "wrong_dtype", "reject", np.empty(o.shape, np.float32 if o.dtype != np.float32
                                           else np.float64)
    yield "int64", "reject", np.empty(o.shape, np.int64)
    yield "wrong_shape", "reject", np.empty(o.shape[:-1] + (o.shape[-1] + 1,), o.dtype)
    yield "transposed_shape", "reject", np.empty(o.shape[::-1], o.dtype)
    yield "list", "reject", np.empty(o.shape).tolist()
    yield "nan_filled", "value", np.full(o.shape, np.nan, o.dtype)
    if o.ndim >= 2:
        yield "fortran", "value", np.asfortranarray(np.empty(o.shape, o.dtype))
    big = np.empty(o.shape[:-1] + (2 * o.shape[-1],), o.dtype)
    yield "strided", "value", big[..., ::2]
    yield "negative_strides", "value", np.empty(o.shape, o.dtype)[::-1]


MUTATORS: dict[str, Callable[..., Iterator[Mutation]]] = {
    "array": mutate_array, "int_array": mutate_int_array, "float": mutate_float,
    "int": mutate_int, "size": mutate_size, "seed": mutate_seed, "choice": mutate_choice,
    "axis": mutate_axis, "callable": mutate_callable, "object": mutate_object,
    "pair": mutate_pair, "out": mutate_out,
}


# ---- comparing and checking results -----------------------------------------------------------
def leaves(x: Any) -> list[Any]:
    """The numbers of a result (arrays, scalars) in a fixed order, through tuples, dicts,
    dataclasses and result objects."""
    if x is None or isinstance(x, (str, bool)):
        return [x]
    if isinstance(x, (int, float, complex, np.number, np.bool_)):
        return [np.asarray(x)]
    if isinstance(x, dict):
        return [v for k in sorted(x, key=repr) for v in leaves(x[k])]
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in leaves(item)]
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return [v for f in dataclasses.fields(x) for v in leaves(getattr(x, f.name))]
    if hasattr(x, "__array__") or hasattr(x, "__array_namespace__"):
        from probspace import to_numpy
        return [np.asarray(to_numpy(x))]
    if hasattr(x, "__dict__") and not callable(x):
        return [v for k in sorted(vars(x)) if not k.startswith("_") for v in leaves(vars(x)[k])]
    return [type(x).__name__]


def same_result(a: Any, b: Any, tol: float) -> str | None:
    la, lb = leaves(a), leaves(b)
    if len(la) != len(lb):
        return f"result structure differs ({len(la)} vs {len(lb)} leaves)"
    for i, (x, y) in enumerate(zip(la, lb)):
        if isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
            if x.shape != y.shape or x.dtype != y.dtype:
                return f"leaf {i}: shape/dtype {x.shape} {x.dtype} vs {y.shape} {y.dtype}"
            if x.dtype.kind in "fc":
                ok = np.allclose(x, y, rtol=tol, atol=0, equal_nan=True) if tol else \
                    np.array_equal(x, y, equal_nan=True)
            else:
                ok = np.array_equal(x, y)
            if not ok:
                return f"leaf {i}: values differ: {x.ravel()[:6]} vs {y.ravel()[:6]}"
        elif x != y:
            return f"leaf {i}: {x!r} vs {y!r}"
    return None


def names_argument(exc: BaseException, words: tuple[str, ...]) -> bool:
    msg = str(exc)
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(w)}(?![A-Za-z0-9_])", msg)
               for w in words)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def run_entry(entry: Entry) -> list[str]:
    """All contract violations of one entry (an empty list when it keeps the contract)."""
    assert entry.build is not None
    failures: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base_call = entry.build()
        base = base_call.invoke()     # must work: a broken base call is a registry bug
        if entry.check is not None:
            entry.check(base, base_call)
        for pname, kind in entry.params.items():
            words = (pname,) + entry.aliases.get(pname, ())
            skips = entry.skip.get(pname, {})
            for mname, category, value in MUTATORS[kind](
                    entry.build().args[pname], optional=pname in entry.optional):
                if mname in skips:
                    continue
                call = entry.build().replace(pname, value)
                where = f"{pname}={mname} [{category}]"
                if category == "nonfinite":
                    category = "reject" if entry.nonfinite == "raise" else "propagate"
                try:
                    res = call.invoke()
                except ALLOWED as e:
                    if category == "same":
                        failures.append(f"{where}: raised {_describe(e)} for the same numbers "
                                        "in another layout/type")
                    elif category == "propagate":
                        pass
                    elif not names_argument(e, words):
                        failures.append(f"{where}: error does not name {pname!r}: {_describe(e)}")
                    continue
                except Exception as e:  # noqa: BLE001 -- every other type is a finding
                    failures.append(f"{where}: unexpected {_describe(e)}")
                    continue
                if category == "reject":
                    failures.append(f"{where}: accepted (returned {_short(res)})")
                elif category == "same":
                    diff = same_result(res, base, entry.tol)
                    if diff:
                        failures.append(f"{where}: result differs from the base call: {diff}")
                elif category == "value" and entry.check is not None:
                    try:
                        entry.check(res, call)
                    except AssertionError as e:
                        failures.append(f"{where}: invalid result: {str(e)[:300]}")
                    except Exception as e:  # noqa: BLE001
                        failures.append(f"{where}: check failed with {_describe(e)}")
    return failures


def _short(x: Any) -> str:
    s = repr(x)
    return s if len(s) < 120 else s[:117] + "..."


# ---- running entries in a child process -----------------------------------------------------------
_CHILD = """
import json, sys, faulthandler
sys.path.insert(0, {here!r})
import adv_harness, adv_registry
for name in {names!r}:
    print("START " + name, flush=True)
    faulthandler.dump_traceback_later({per_entry}, exit=True)   # a hang fails this entry only
    try:
        fails = adv_harness.run_entry(adv_registry.REGISTRY[name])
    except BaseException as e:  # the base call itself failed: a registry or library bug
        fails = ["base call failed: %s: %s" % (type(e).__name__, e)]
    faulthandler.cancel_dump_traceback_later()
    print("RESULT " + json.dumps([name, fails]), flush=True)
"""


def run_entries_isolated(names: list[str], *, per_entry: float = 120.0,
                         env: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Run ``run_entry`` for ``names`` in child processes; a crash or hang (killed after
    ``per_entry`` seconds) becomes that entry's failure and the rest run in a new child."""
    import os
    from probspace.testing import run_isolated
    here = os.path.dirname(os.path.abspath(__file__))
    results: dict[str, list[str]] = {}
    todo = list(names)
    while todo:
        res = run_isolated(_CHILD.format(here=here, names=todo, per_entry=per_entry),
                           timeout=per_entry * len(todo) + 120, env=env, expect_ok=False)
        current = None
        for line in res.stdout.splitlines():
            if line.startswith("START "):
                current = line[6:]
            elif line.startswith("RESULT "):
                name, fails = json.loads(line[7:])
                results[name] = fails
                current = None
        if current is None:
            missing = [n for n in todo if n not in results]
            for n in missing:
                results[n] = [f"child ended before this entry ran: {res.describe()[-2000:]}"]
            break
        results[current] = [f"crashed or hung: {res.describe()[-3000:]}"]
        todo = [n for n in todo if n not in results]
    return results


if __name__ == "__main__":
    import adv_registry
    for name in sys.argv[1:] or sorted(adv_registry.REGISTRY):
        entry = adv_registry.REGISTRY[name]
        if entry.build is None:
            continue
        fails = run_entry(entry)
        print(f"{name}: {len(fails)} failure(s)")
        for f in fails:
            print("   ", f)
