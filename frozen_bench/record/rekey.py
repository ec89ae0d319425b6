"""Records made before a signature change, moved to the folder their config now hashes to.

The data-location keys (``dataset.root``, ``dataset.download``) left the signature, so the same
model run from two data folders is one run. A record written before that lives under its old
signature; without this it would be trained again and listed twice. ``adopt`` moves one finished
record when a run looks for it (``run.execute``); ``rekey_all`` moves every one
(``frozen-bench collect --rekey``), hashing each stored config as a run would now: after
``models.prune``, which has since learned to drop more (``augment: none``, groups a model does not
read), so a record written before that also finds its current folder. The old name stays in the
record as ``legacy_signature`` so that ``collect`` drops all.csv rows still carrying it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from frozen_bench.atomic import atomic_write_text
from frozen_bench.record.signature import legacy_signatures, signature
from frozen_bench.record.store import is_done, read_status, run_dir


def _move(old: Path, new: Path, log) -> bool:
    """Rename a finished record folder ``old`` to ``new`` (which must not exist) and note both
    names in its metrics.json. False when the target exists or the rename fails."""
    if new.exists() or not is_done(old):
        return False
    try:
        os.rename(old, new)
    except OSError as e:
        log(f"[frozen-bench] warning: could not move record {old} to {new} ({e}); it stays where it is")
        return False
    mfile = new / "metrics.json"
    try:
        m = json.loads(mfile.read_text())
        m.update(signature=new.name, legacy_signature=old.name)
        atomic_write_text(mfile, json.dumps(m, indent=2, default=str) + "\n")
    except (OSError, ValueError):
        pass  # the folder name is the truth; collect fills the signature from it
    return True


def adopt(results_dir: str | Path, cfg: dict, log=print) -> bool:
    """Move this config's finished record from a legacy folder (``legacy_signatures``: before the
    data-location keys left the signature, or before ``trainer.save_model`` was hashed at its
    default) to its current one, if it has one there and none here. Returns whether it did."""
    new = signature(cfg)
    for old in legacy_signatures(cfg):
        if _move(run_dir(results_dir, old), run_dir(results_dir, new), log):
            log(f"[frozen-bench] record {old} re-keyed to {new} (output-only and data-location keys left the signature)")
            return True
    return False


SUPERSEDED = ".superseded"  # under runs/: legacy copies of a run that also has a current record


def _retire(old: Path, new: Path, log) -> bool:
    """``old`` duplicates the record ``new`` (the same config, run again under the current signature
    before it was re-keyed; finished, or both failed): move it to ``runs/.superseded/`` (nothing is
    deleted), where collect still sees its name and drops its all.csv row. Listing both would count
    one seed twice.
    ``new`` notes it as ``legacy_signature`` unless it already stands for another old folder."""
    mfile = new / "metrics.json"
    try:
        m = json.loads(mfile.read_text())
    except (OSError, ValueError):
        return False
    dest = old.parent / SUPERSEDED / old.name
    try:
        dest.parent.mkdir(exist_ok=True)
        os.rename(old, dest)
    except OSError as e:
        log(f"[frozen-bench] warning: could not move duplicate record {old} aside ({e}); it stays where it is")
        return False
    if not m.get("legacy_signature"):
        m["legacy_signature"] = old.name
        atomic_write_text(mfile, json.dumps(m, indent=2, default=str) + "\n")
    return True


def _has_model(d: Path) -> bool:
    return (d / "model.pt").is_file()


def _swap(old: Path, current: Path, log) -> bool:
    """``current`` and ``old`` are one run; ``old`` also saved its model: ``current`` goes to
    ``runs/.superseded/`` and ``old`` takes its place, so the record kept is the one whose metrics
    and model.pt came from the same training."""
    dest = current.parent / SUPERSEDED / current.name
    if dest.exists():
        return False
    try:
        dest.parent.mkdir(exist_ok=True)
        os.rename(current, dest)
    except OSError as e:
        log(f"[frozen-bench] warning: could not move record {current} aside ({e}); it stays where it is")
        return False
    return _move(old, current, log)


def rekey_all(results_dir: str | Path, log=print) -> int:
    """Move every finished record whose folder name is not its config's current signature; one
    whose current folder already holds a finished record is a duplicate and goes to
    ``runs/.superseded/``, and so does a failed one whose current folder holds any record (a failed
    run is retried under its current name, so its old copy only repeats an all.csv row). Returns
    how many moved or retired."""
    from omegaconf import OmegaConf

    from frozen_bench.models import prune

    moved = retired = 0
    for d in sorted(p for p in (Path(results_dir) / "runs").glob("*") if p.is_dir() and not p.name.startswith(".")):
        cfile = d / "config.yaml"
        if not cfile.exists() or read_status(d) is None:  # running, or killed before its record
            continue
        try:
            new = signature(prune(OmegaConf.to_container(OmegaConf.load(cfile), resolve=False)))
        except Exception as e:  # a broken config.yaml: leave that record as it is
            log(f"[frozen-bench] collect --rekey: skipped {d} ({' '.join(str(e).split())[:80]})")
            continue
        if new == d.name:
            continue
        current = d.with_name(new)
        if is_done(d) and _move(d, current, log):
            moved += 1
        elif is_done(d) and is_done(current) and _has_model(d) and not _has_model(current) and _swap(d, current, log):
            moved += 1  # the copy that saved its model (trainer.save_model=true) stays; the other goes aside
        elif (is_done(current) or (not is_done(d) and read_status(current) is not None)) and _retire(d, current, log):
            retired += 1
    log(f"[frozen-bench] collect --rekey: {moved} record(s) moved to their current signature"
        + (f", {retired} duplicate(s) of a current record moved to runs/{SUPERSEDED}/" if retired else ""))
    return moved + retired
