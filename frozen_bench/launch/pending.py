"""Which run lines still lack a finished record: one process composes them all.

A resumable script (``scripts/fair.sh``) lists every run of a stage, one ``frozen-bench run``
command line per line, and runs them N at a time. Started again, each finished line was still one
``frozen-bench run`` process, about 3 s of start-up to print ``skip``: 255 final runs cost some
6 min before the first new one trained. ``pending`` reads the lines, composes each config with
Hydra's compose API as ``frozen-bench run`` would, and passes on only those whose signature (or
legacy signature, see ``record.rekey``) has no finished record: no finished run folder and no
finished row of the results folder's all.csv (a fresh clone holds the paper's rows but not its run
folders). A line it cannot compose is passed on too: its own run reports the error.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path

from frozen_bench.record.signature import legacy_signatures, signature
from frozen_bench.record.store import FINISHED, is_done, run_dir


def line_words(line: str) -> list[str]:
    """The config words of one line (``frozen-bench run``, flags and Hydra's own overrides dropped).
    A line that does not split (an unbalanced quote) or holds a word that is no override (``foo``,
    which composed the default config and so read as "finished", or was dropped from a real line)
    is a ``UserError``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from frozen_bench.config import check_repeated_keys, check_stray_words, config_words
    from frozen_bench.errors import UserError

    try:
        words = shlex.split(line)
    except ValueError as e:
        raise UserError(f"cannot split the line into words ({e}); close its quotes") from None
    words = words[2:] if words[:2] == ["frozen-bench", "run"] else words
    check_stray_words(words)
    words = config_words(words)
    try:
        parsed = OverridesParser.create().parse_overrides(words)
    except HydraException:
        return words  # composing it says what is wrong (config.check_overrides)
    check_repeated_keys(parsed)
    return words


def finished(cfg: dict, in_csv: frozenset[str] = frozenset()) -> bool:
    """Whether this pruned config has a finished record under its signature or a legacy one: a run
    folder, or a row of all.csv (``in_csv``, from ``record.table.finished_signatures``) whose folder
    is not here. Where the line asks trainer.save_model=true it needs the folder's model.pt too (else
    the run saves it)."""
    results = cfg.get("results_dir", "results")
    save = (cfg.get("trainer") or {}).get("save_model")
    for s in [signature(cfg), *legacy_signatures(cfg)]:
        if is_done(run_dir(results, s)):
            return not (save and not (run_dir(results, s) / "model.pt").is_file())
        if s in in_csv and not save:
            return True
    return False


def pending(lines: Iterable[str], errors: list | None = None) -> tuple[list[str], int]:
    """(the lines without a finished record, in order; how many non-blank lines were read). With
    ``errors`` (a list), a line that is not a run line (``line_words``) goes there as (its number,
    the message) instead of being passed on."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from frozen_bench.config import conf_dir
    from frozen_bench.errors import UserError
    from frozen_bench.models import prune
    from frozen_bench.record.table import finished_signatures

    out, n = [], 0
    in_csv: dict[str, frozenset[str]] = {}  # results_dir -> its all.csv's finished signatures, read once
    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        for num, line in enumerate(lines, start=1):
            line = line.strip()
            if not line:
                continue
            n += 1
            try:
                words = line_words(line)
            except UserError as e:
                if errors is None:
                    out.append(line)  # the run itself says why
                else:
                    errors.append((num, str(e)))
                continue
            try:
                if any(w.split("=")[0].lstrip("+") == "force" for w in words):
                    raise ValueError("force")  # force=true re-runs a finished record: the run decides
                cfg = prune(OmegaConf.to_container(compose("config", overrides=words), resolve=True))
                results = str(cfg.get("results_dir", "results"))
                if results not in in_csv:
                    in_csv[results] = finished_signatures(results)
                if finished(cfg, in_csv[results]):
                    continue
            except Exception:  # noqa: BLE001 - cannot compose: the run itself says why
                pass
            out.append(line)
    return out, n


def stale_lines(csv_path) -> tuple[list[str], int, list[str]]:
    """The finished rows of an all.csv made by code that differs from HEAD where a result can
    change (``record.table.mark_stale``, judged now), each as the run line that re-runs it:
    its job's own overrides, its ``results_dir`` and ``force=true`` (``run-lines`` takes them).
    Returns (lines, rows read, signatures of stale rows without recorded overrides)."""
    import shlex as _shlex
    from pathlib import Path

    import pandas as pd

    from frozen_bench.record.table import mark_stale, read_all_csv

    df = mark_stale(read_all_csv(csv_path))
    rows = df[df["stale"].eq(True) & df["status"].isin(FINISHED)]
    results = str(Path(csv_path).parent)
    lines, missing = [], []
    for _, r in rows.iterrows():
        words = _shlex.split(str(r["overrides"])) if "overrides" in r and pd.notna(r["overrides"]) else None
        if not words:
            missing.append(str(r["signature"]))
            continue
        words = [w for w in words if w.split("=")[0] not in ("results_dir", "force")]
        lines.append(" ".join(_shlex.quote(w) for w in [*words, f"results_dir={results}", "force=true"]))
    return lines, len(df), missing
