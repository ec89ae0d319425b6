"""The phases of a run: one fit for a plain run, several for a distribution shift.

A shift (the "network exhaustion" experiments of the function-fit blog post "Learning simple
functions, network exhaustion point", ``+exp=fn_shift``) trains one model on a sequence of
synthetic targets on the same interval, e.g. exp(x) then exp(-x), 1/x then 1/(x-2), or step at 0 ↔
step at 2 alternating. ``train()`` fits each phase with an ordinary ``fit()`` (a fresh
optimizer and schedule, as the blog makes a new Adam per call); this module says what the phases
are and adds the shift's own numbers: per phase, the test MSE on the *new* target just before and
after training on it and the exact linear-region count before/after, so "frozen" (a net that
cannot move its kinks) shows up as a large ``mse_after`` with an unchanged region count.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

from frozen_bench.nn.regions import linear_regions
from frozen_bench.train.loop import evaluate

# shift.pair -> (targets in order, default cycles)
PAIRS = {"exp": (["exp", "exp_neg"], 1), "inv": (["inv", "inv_shift"], 1), "step": (["step", "step_shift"], 4)}


@dataclass
class Phase:
    """One fit of a run: the config it trains with (its dataset, its epochs) and the columns its
    history rows carry (none for a plain run)."""

    cfg: dict
    tags: dict = field(default_factory=dict)


def sequence(shift: dict) -> list[str]:
    """The targets of a shift in training order (``shift.pair`` or ``shift.functions``, cycled)."""
    fns = shift.get("functions")
    if fns:
        seq, cycles = list(fns), int(shift.get("cycles") or 1)
    else:
        pair = shift.get("pair", "exp")
        if pair not in PAIRS:
            raise ValueError(f"unknown shift.pair {pair!r}; choose one of {', '.join(PAIRS)} or give shift.functions=[f1,f2,...]")
        seq, default_cycles = PAIRS[pair]
        cycles = int(shift.get("cycles") or default_cycles)
    if cycles < 1 or len(seq) < 2:
        raise ValueError("a shift needs at least two functions and shift.cycles >= 1")
    return seq * cycles


def plan(cfg: dict) -> list[Phase]:
    """The phases ``train()`` fits in order: the config itself, or one phase per shift target."""
    if not cfg.get("shift"):
        return [Phase(cfg)]
    first_epochs = cfg["shift"].get("first_epochs")
    out = []
    for i, fn in enumerate(sequence(cfg["shift"])):
        c = copy.deepcopy(cfg)
        c["dataset"]["function"] = fn
        if i == 0 and first_epochs:
            c["trainer"]["epochs"] = int(first_epochs)
        out.append(Phase(c, {"phase": i, "function": fn}))
    return out


class Measures:
    """What a run records beyond the common record: nothing for a plain run."""

    def before(self, i: int, model, data, device, log=print) -> None:
        pass

    def after(self, i: int, model, data, device, fit_result: dict, rows: list[dict]) -> None:
        pass

    def fields(self) -> dict:
        return {}


class ShiftMeasures(Measures):
    """Per phase: test MSE on the phase's target and linear regions on the interval, before and
    after its fit; the validation curve through all phases; the record's dataset name."""

    def __init__(self, cfg: dict, phases: list[Phase], first_data):
        self.shift, self.seq = cfg["shift"], [p.tags["function"] for p in phases]
        self.lo, self.hi = first_data.info["lo"], first_data.info["hi"]
        seq = self.seq
        self.m: dict = {"shift_pair": "->".join(dict.fromkeys(seq)) + (f" x{len(seq) // len(dict.fromkeys(seq))}" if len(seq) > 2 else ""),
                        "shift_phases": len(seq)}
        self.curve: list = []

    def before(self, i, model, data, device, log=print):
        self.mse_before = evaluate(model, data.x_test, data.y_test, data, device)["mse"]
        self.regions_before = linear_regions(model, self.lo, self.hi)
        log(f"[frozen-bench] shift phase {i + 1}/{len(self.seq)}: {self.seq[i]} (mse before {self.mse_before:.4g}, {self.regions_before} regions)")

    def after(self, i, model, data, device, fit_result, rows):
        self.curve += [[r["step"], i, float(f"{r['val_mse']:.6g}")] for r in rows if r.get("val_mse") is not None]
        after = evaluate(model, data.x_test, data.y_test, data, device)["mse"] if fit_result["status"] == "ok" else float("nan")
        self.m.update({f"phase{i}_function": self.seq[i], f"phase{i}_mse_before": self.mse_before, f"phase{i}_mse_after": after,
                       f"phase{i}_regions_before": self.regions_before, f"phase{i}_regions_after": linear_regions(model, self.lo, self.hi)})
        model.domain = {"function": self.seq[i], "lo": self.lo, "hi": self.hi}  # what record_metrics describes

    def fields(self) -> dict:
        return {
            **self.m,
            "dataset": f"synthetic_fn_shift_{self.shift.get('pair') or '_'.join(dict.fromkeys(self.seq))}",
            # the first shift: how well the net trained on seq[0] fits seq[1], before and after training on it
            "shift_mse_before": self.m.get("phase1_mse_before"), "shift_mse_after": self.m.get("phase1_mse_after"),
            "shift_curve": json.dumps(self.curve),
        }


def measures(cfg: dict, phases: list[Phase], first_data) -> Measures:
    return ShiftMeasures(cfg, phases, first_data) if cfg.get("shift") else Measures()
