"""Resumable training state inside a run directory: ``<run_dir>/checkpoint.pt``.

Every ``trainer.checkpoint_every`` optimizer steps the loop saves everything that decides the rest
of the run: model, optimizer and scheduler state, the index-permutation generator, torch's global
RNG (dropout, Gumbel noise), the current epoch's permutation and position in it, the running loss
and the history. Steps, not epochs, because one epoch of a large dataset can be the long part.
A resumed run therefore replays exactly the steps an uninterrupted one would have taken.

The file is written atomically (``frozen_bench.atomic``), so a kill mid-save leaves the previous
checkpoint intact. It is tagged with the run's signature; one that does not match (or cannot be
read) is ignored with a warning and the run starts from step 0. ``run.execute`` deletes it once
the record is written.
"""

from __future__ import annotations

from pathlib import Path

import torch

from frozen_bench.atomic import atomic_open
from frozen_bench.errors import UserError

FILENAME = "checkpoint.pt"
FORMAT = 1


class Checkpointer:
    """Saves/loads the training state of one run; ``every`` = optimizer steps between saves."""

    def __init__(self, path: str | Path, every: int, key: str, log=print):
        self.path, self.every, self.key, self.log = Path(path), int(every), key, log

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def save(self, state: dict) -> None:
        state = {"format": FORMAT, "key": self.key, **state}
        with atomic_open(self.path, "wb") as f:
            torch.save(state, f)

    def load(self) -> dict | None:
        """The saved state of this same run, or None (no file, unreadable, or another config's)."""
        if not self.path.exists():
            return None
        try:
            # weights_only: a checkpoint holds tensors, numbers, lists and dicts; nothing to execute
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as e:  # a truncated/corrupt file costs the resume, never the run
            self.log(f"[frozen-bench] warning: ignoring unreadable checkpoint {self.path} ({type(e).__name__}: {e}); starting at step 0")
            return None
        if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("key") != self.key:
            self.log(f"[frozen-bench] warning: ignoring checkpoint {self.path} saved for another config or format; starting at step 0")
            return None
        return state


def capture_rng(generator: torch.Generator) -> dict:
    rng = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(generator: torch.Generator, rng: dict) -> None:
    generator.set_state(rng["generator"])
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def load_states(state: dict, path: Path, **objects) -> None:
    """``load_state_dict`` each object (model=, opt=, sched=) from the checkpoint; a mismatch
    (the code changed shape since it was saved) is one clear error, not a half-loaded model."""
    try:
        for name, obj in objects.items():
            obj.load_state_dict(state[name])
    except (KeyError, RuntimeError, ValueError) as e:
        raise UserError(f"checkpoint {path} does not fit this model ({' '.join(str(e).split())[:200]}); "
                        f"delete it to start the run afresh") from None


def make_checkpointer(cfg: dict, out_dir, log=print) -> Checkpointer | None:
    """The run's checkpointer when ``trainer.checkpoint_every`` > 0 and it has a run directory.
    Its key is the run folder's name, which is the run's signature (``runs/<signature>/``)."""
    every = int(cfg.get("trainer", {}).get("checkpoint_every") or 0)
    if out_dir is None or every <= 0:
        return None
    return Checkpointer(Path(out_dir) / FILENAME, every, key=Path(out_dir).name, log=log)
