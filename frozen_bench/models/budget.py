"""``model.budget=B``: size any model family to a trainable count in [0.9·B, B].

Every builder ends in the one budget hook, ``sized(cfg, cls, kw, fit, shows)``: without a budget
it builds ``cls(**kw)``; with one, it builds ``cls`` at the arguments ``fit`` chooses and tags the
model with the shape chosen (the record's ``built`` column). A new family joins in that one line.

A family offers *layouts* in order of preference (e.g. a CNN with a flattened head, then the same
CNN with global pooling); each layout has one integer size knob whose trainable count grows with
it (a width, a pooled input side, a head width). For each layout in turn the largest size within
the budget is found by doubling then bisection, counting the parameters of the module actually
built (so the count is the model's, not a formula's); the first layout that lands in the window
wins (``fit_budget``; ``by_layouts`` makes a ``fit`` of a family's layouts). A family that cannot
reach the window says so in one line, with the closest count it found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from frozen_bench.errors import UserError
from frozen_bench.nn.adapters import reads_rank

LOW = 0.9  # the window is [LOW * budget, budget]


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass
class Layout:
    """One way to grow a family: ``make(size) -> builder kwargs``; sizes from ``lo`` to ``hi``."""
    label: str
    make: Callable[[int], dict]
    lo: int = 1
    hi: int = 1 << 14


def built(model: nn.Module, kw: dict, keys: tuple[str, ...]) -> nn.Module:
    """Tag a budget-sized model with the shape chosen (``built`` column of the record)."""
    model.built = " ".join(f"{k}={str(kw[k]).replace(' ', '')}" for k in keys if k in kw)
    return model


# fit(family, cls, kw, budget) -> the builder arguments within the budget
Fit = Callable[[str, Callable[..., nn.Module], dict, int], dict]


def sized(cfg: dict, cls: Callable[..., nn.Module], kw: dict, fit: Fit,
          shows: tuple[str, ...] | Callable[[nn.Module], dict]) -> nn.Module:
    """The budget hook every builder ends in: ``cls(**kw)``, or with ``model.budget=B`` ``cls`` at
    the arguments ``fit(model name, cls, kw, B)`` chooses, tagged with the shape chosen: the
    ``shows`` keys of those arguments, or what a function of the model built returns."""
    budget = (cfg.get("model") or {}).get("budget")
    if not budget:
        return cls(**kw)
    chosen = fit(cfg["model"]["name"], cls, kw, int(budget))
    model = cls(**chosen)
    if callable(shows):
        shape = shows(model)
        return built(model, shape, tuple(shape))
    return built(model, chosen, shows)


def channel_layouts(kw: dict) -> list[Layout]:
    """An audio CNN's layout (``audio_cnn``, ``frozen_audio_cnn``): the last stage's channels are the
    knob; the others keep their configured ratios to it."""
    ratios = [c / kw["channels"][-1] for c in kw["channels"][:-1]]
    return [Layout(f"channels in the ratios of {kw['channels']}",
                   lambda s: {**kw, "channels": [max(1, round(r * s)) for r in ratios] + [s]})]


def by_layouts(make: Callable[[dict], list[Layout]]) -> Fit:
    """A ``fit`` that tries the layouts ``make(kw)`` offers, in order (``fit_budget``)."""
    return lambda family, cls, kw, budget: fit_budget(family, cls, make(kw), budget)


def largest_within(count: Callable[[int], int], budget: int, lo: int, hi: int) -> int | None:
    """Largest size s in [lo, hi] with count(s) <= budget, for count non-decreasing in s."""
    if count(lo) > budget:
        return None
    s, step = lo, 1
    while s + step <= hi and count(s + step) <= budget:  # gallop: count(s) <= budget throughout
        s, step = s + step, step * 2
    a, b = s, min(s + step - 1, hi)  # the answer is in [a, b]
    while a < b:
        mid = (a + b + 1) // 2
        if count(mid) <= budget:
            a = mid
        else:
            b = mid - 1
    return a


def fit_budget(family: str, build: Callable[..., nn.Module], layouts: list[Layout], budget: int,
               refine: Callable[[dict], list[dict]] | None = None) -> dict:
    """The builder kwargs of the first layout whose largest in-budget size reaches LOW·budget.
    ``refine(kwargs)`` may offer neighbours of the chosen size (e.g. other first-stage widths) to
    get closer to the budget; the largest count within it is kept."""
    budget = int(budget)
    cache: dict[tuple, int] = {}

    def count(kw: dict) -> int:
        key = tuple(sorted((k, str(v)) for k, v in kw.items()))
        if key not in cache:
            with torch.random.fork_rng(devices=[]):  # sizing must not move the RNG the real build draws from
                cache[key] = trainable(build(**kw))
        return cache[key]

    closest = None
    for layout in layouts:
        s = largest_within(lambda n: count(layout.make(n)), budget, layout.lo, layout.hi)
        if s is None:
            n = count(layout.make(layout.lo))
            closest = closest or (layout.label, n)
            continue
        kw = layout.make(s)
        for alt in (refine(kw) if refine else []):
            if count(kw) < count(alt) <= budget:
                kw = alt
        n = count(kw)
        if n >= LOW * budget:
            return kw
        closest = (layout.label, n) if closest is None or n > closest[1] else closest
    label, n = closest if closest else ("?", 0)
    raise UserError(f"{family} cannot be sized to model.budget={budget} (window [{int(LOW * budget)}, {budget}] "
                      f"trainable); the closest layout ({label}) has {n:,}; choose another budget or family")


def size_stages(family: str, build: Callable[..., nn.Module], kw: dict, budget: int) -> dict:
    """A CNN's stage widths at the budget, keeping the configured widths' ratios (the last stage's
    width is the knob): first with the configured head (flattened or globally pooled), then the
    other. Neighbouring widths of the next-to-last stage are tried to get closer to the budget.
    With an adapter of rank r every stage is at least r wide."""
    widths = [int(w) for w in kw["widths"]]
    ratios = [w / widths[-1] for w in widths[:-1]]
    # a rank-r adapter needs r channels: no stage narrower than that (else a small budget could
    # only offer designs that fail to build, "adapter.rank is larger than the width")
    floor = max(1, int(kw.get("rank") or 0)) if reads_rank(kw.get("adapter", "none")) else 1

    def stages(s: int) -> list[int]:
        return [max(floor, round(r * s)) for r in ratios] + [s]

    layouts = [Layout(f"widths in the ratios of {widths}, {'global-pool' if gp else 'flattened'} head",
                      lambda s, gp=gp: {**kw, "widths": stages(s), "global_pool": gp}, lo=floor)
               for gp in (bool(kw.get("global_pool")), not kw.get("global_pool"))]

    def refine(k: dict) -> list[dict]:
        ws = k["widths"]
        if len(ws) < 2:
            return []
        return [{**k, "widths": [*ws[:-2], w, ws[-1]]} for w in range(max(floor, ws[-2] - 3), ws[-2] + 4) if w != ws[-2]]

    return fit_budget(family, build, layouts, budget, refine=refine)
