"""The 1-D target functions of ``dataset=functions``, written once for numpy and torch alike.

``dataset=functions`` evaluates them on torch tensors to make its data; the report evaluates the
same definitions on numpy arrays to draw the target under a learned function, so it needs no
torch. Each function takes ``(x, xp)`` with ``xp`` the array module (``numpy`` or ``torch``).
This module imports neither (nor does ``frozen_bench.nn``'s package), so the report may read it;
it sits beside ``regions.py``, which finds the linear pieces of the network fitted to them.
"""

from __future__ import annotations


def _step(at: float):
    return lambda x, xp: xp.where(x > at, xp.ones_like(x), xp.zeros_like(x))


# name -> (f(x, xp), default sample count); lin = 2x+8, *_shift move the singularity / the step to x=2
TARGETS = {
    "exp": (lambda x, xp: xp.exp(x), 10000),
    "exp_neg": (lambda x, xp: xp.exp(-x), 10000),
    "log": (lambda x, xp: xp.log(x), 10000),
    "inv": (lambda x, xp: 1 / x, 10001),
    "lin": (lambda x, xp: 2 * x + 8, 10000),
    "sin": (lambda x, xp: xp.sin(x), 10000),
    "step": (_step(0.0), 10000),
    "inv_shift": (lambda x, xp: 1 / (x - 2), 10001),
    "step_shift": (_step(2.0), 10000),
}


def grid(lo: float, hi: float, samples: int, xp):
    """The grid ``x_i = lo + i/samples·(hi − lo)``, i = 0..samples−1, in float64: the grid of the
    function-fit blog post this experiment reproduces ("Learning simple functions, network
    exhaustion point", one of the write-ups frozen-bench is built from)."""
    return lo + xp.arange(samples, dtype=xp.float64) / samples * (hi - lo)


def evaluate(name: str, x, xp):
    """Target ``name`` at ``x`` (an array of module ``xp``)."""
    return TARGETS[name][0](x, xp)
