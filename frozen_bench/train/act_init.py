"""Initial values of the PAct parameters read from a file (``+activation.init_from=PATH``).

The file is what ``frozen-bench meta-init`` writes (``frozen_bench.train.meta``): JSON with every
PAct parameter of the model it was learned for, by its module name (``blocks.0.act.a``), as a list
of per-channel numbers. JSON, not a pickle: a file from elsewhere is data, never code, and a float32
value written as its shortest decimal reads back bit for bit. A run with ``init_from`` builds its
model as usual (same seed, same random draws) and then copies these values into its PAct
parameters, so it differs from the default run only by them; the names and shapes must match
exactly, else the run stops with one line before it trains.

``activation.init_from`` is opt-in (read with ``.get``; absent from ``conf/activation``), so the
records of runs without it keep their signatures. The path is part of the signature; the record
adds ``act_init_sha256`` of the file's bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from frozen_bench.errors import UserError


FORMAT = "frozen-bench/act-init/1"


def init_from(cfg: dict) -> str | None:
    """The ``activation.init_from`` path of a config, or None."""
    v = (cfg.get("activation") or {}).get("init_from")
    return None if v in (None, "") else str(v)


def read(path: str | Path) -> dict:
    """The file's content, checked: one ``UserError`` line for a missing, unreadable or foreign file."""
    p = Path(path)
    hint = "write one with `frozen-bench meta-init --out PATH`"
    if not p.is_file():
        raise UserError(f"activation.init_from={path}: no such file; {hint}")
    try:
        doc = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"activation.init_from={path}: cannot read it as a PAct init file "
                        f"({type(e).__name__}: {' '.join(str(e).split())[:80]}); {hint}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("params"), dict):
        raise UserError(f"activation.init_from={path}: not a PAct init file (no \"format\": \"{FORMAT}\"); {hint}")
    for name, v in doc["params"].items():
        if not isinstance(v, list):
            raise UserError(f"activation.init_from={path}: parameter {name} is not a list of numbers; {hint}")
    return doc


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def values(doc: dict) -> dict:
    """name -> float32 tensor of the file's parameters."""
    import torch

    return {name: torch.tensor(v, dtype=torch.float32) for name, v in doc["params"].items()}


def apply(model, path: str | Path, activation: str | None = None) -> dict:
    """Copy the file's values into the model's PAct parameters; returns the file's content.
    A file for another activation, or for other parameter names or shapes, is one ``UserError``."""
    import torch

    from frozen_bench.train.act_delta import pact_params

    doc = read(path)
    if activation is not None and doc.get("activation") not in (None, activation):
        raise UserError(f"activation.init_from={path} holds {doc.get('activation')} parameters, but this run uses "
                        f"activation={activation}; learn a prior for it (frozen-bench meta-init activation={activation})")
    mine = dict(pact_params(model))
    theirs = values(doc)
    if set(mine) != set(theirs):
        missing, extra = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
        raise UserError(f"activation.init_from={path} does not fit this model: "
                        + (f"it lacks {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}" if missing else "")
                        + ("; " if missing and extra else "")
                        + (f"the model has no {', '.join(extra[:4])}{' ...' if len(extra) > 4 else ''}" if extra else "")
                        + " (learn it with the same model, depth and width)")
    for name, p in mine.items():
        v = theirs[name]
        if tuple(v.shape) != tuple(p.shape):
            raise UserError(f"activation.init_from={path}: {name} has shape {tuple(v.shape)}, the model's is {tuple(p.shape)} "
                            f"(learn it with the same model width)")
        with torch.no_grad():
            p.copy_(v.to(p.device, p.dtype))
    return doc


def to_doc(params: dict, activation: str, meta: dict | None = None) -> dict:
    import torch

    return {"format": FORMAT, "activation": activation, **(meta or {}),
            "params": {name: t.detach().cpu().to(torch.float32).tolist() for name, t in params.items()}}


def write(path: str | Path, params: dict, activation: str, meta: dict | None = None) -> Path:
    """Write the values (float32, read back exactly) atomically; returns the path."""
    from frozen_bench.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(to_doc(params, activation, meta), indent=1) + "\n")
    return Path(path)
