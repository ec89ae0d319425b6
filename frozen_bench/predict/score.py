"""Predictions of a trained model, and its score on a labelled folder."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import torch

from frozen_bench.errors import UserError
from frozen_bench.predict import inputs as I
from frozen_bench.predict.load import Trained

BATCH = 1024  # as the run's own evaluation (train.loop.evaluate)


@torch.no_grad()
def logits(model, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(x[i:i + BATCH]).float() for i in range(0, len(x), BATCH)]) if len(x) else torch.empty(0)


def predict(t: Trained, paths: list, prepared: bool = False) -> tuple[list[str], list[str], torch.Tensor]:
    """(the input names, the header of the CSV, its rows' values): per input its predicted label and
    every class's probability (softmax of the logits); for a regression model its predicted value."""
    names, x = I.load(paths, t.spec, prepared)
    out = logits(t.model, x)
    if t.spec["kind"] == "values":
        return names, ["input", "prediction"], out.reshape(len(out), -1)
    return names, ["input", "label", "probability", *t.classes], torch.softmax(out, dim=1)


def predictions_csv(t: Trained, names: list[str], header: list[str], values: torch.Tensor) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for name, v in zip(names, values.tolist()):
        if t.spec["kind"] == "values":
            w.writerow([name, *(f"{p:.6g}" for p in v)])
            continue
        k = max(range(len(v)), key=v.__getitem__)
        w.writerow([name, t.classes[k], f"{v[k]:.6f}", *(f"{p:.6f}" for p in v)])
    return buf.getvalue()


def folder_names(classes: list[str]) -> dict[str, int]:
    """The folder names that stand for each class: its name, the name with a path separator made
    ``_`` (Fashion-MNIST's ``T-shirt/top`` cannot be a folder: ``T-shirt_top``), and its number."""
    index: dict[str, int] = {}
    for i, c in enumerate(classes):
        for name in (c, c.replace("/", "_").replace("\\", "_"), str(i)):
            index.setdefault(name, i)
    return index


def labelled(folder: str | Path, t: Trained) -> tuple[list[Path], list[int]]:
    """The files of a labelled folder ``<folder>/<class>/<file>`` and their class numbers in the
    model's class list (a folder is named by the class's name or number, ``folder_names``); a
    folder name that is neither is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"--data {folder}: not a folder; give a folder of class subfolders (<class>/<file>)")
    if t.spec["kind"] == "values":
        raise UserError("evaluate needs a classification model; this run is a regression")
    subs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not subs:
        raise UserError(f"--data {folder} has no class subfolders; put each class's files in <class>/ "
                        f"(the model's classes: {', '.join(t.classes[:12])}{' ...' if len(t.classes) > 12 else ''})")
    index = folder_names(t.classes)
    unknown = [d.name for d in subs if d.name not in index]
    if unknown:
        raise UserError(f"--data {folder}: class folder(s) {', '.join(unknown[:5])} are not classes of this model; "
                        f"name them after its classes (or their numbers 0..{len(t.classes) - 1}): "
                        f"{', '.join(t.classes[:12])}{' ...' if len(t.classes) > 12 else ''}")
    exts = I.READS[t.spec["kind"]][1]
    files, labels = [], []
    for d in subs:
        mine = sorted(f for f in d.rglob("*") if f.is_file() and f.suffix.lower() in exts
                      and not any(p.startswith(".") for p in f.relative_to(d).parts))
        files += mine
        labels += [index[d.name]] * len(mine)
    if not files:
        raise UserError(f"--data {folder}: no {' or '.join(exts)} files in its class folders")
    return files, labels


def evaluate_folder(t: Trained, folder: str | Path) -> dict:
    """Accuracy, macro F1 and the confusion matrix (rows: true class, columns: predicted) of the
    model on a labelled folder, as the record ``evaluate`` writes."""
    from frozen_bench.train.measure import accuracy, f1_macro

    files, labels = labelled(folder, t)
    _, x = I.load(files, t.spec)
    out = logits(t.model, x)
    y = torch.tensor(labels, dtype=torch.long)
    pred = out.argmax(1)
    k = len(t.classes)
    cm = torch.bincount(y * k + pred, minlength=k * k).view(k, k)
    return {
        "run": str(t.run_dir), "signature": t.metrics.get("signature") or t.run_dir.name,
        "data": str(Path(folder).resolve()), "n": len(y), "classes": t.classes,
        "accuracy": accuracy(out, y), "f1_macro": f1_macro(pred, y, k),
        "confusion_matrix": cm.tolist(), "per_class_n": cm.sum(1).tolist(),
        "preprocess": t.spec.get("dataset"), "run_test_accuracy": t.metrics.get("test_accuracy"),
        "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def record_path(t: Trained, folder: str | Path) -> Path:
    """Where ``evaluate`` writes its record by default: ``<run>/evaluations/<folder name>.json``."""
    import hashlib

    folder = Path(folder).resolve()
    tag = hashlib.sha1(str(folder).encode()).hexdigest()[:6]  # two folders named test/ do not collide
    return t.run_dir / "evaluations" / f"{folder.name or 'data'}-{tag}.json"


def write_record(rec: dict, path: Path) -> Path:
    from frozen_bench.atomic import atomic_write_text

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(rec, indent=1) + "\n")
    except OSError as e:
        raise UserError(f"cannot write the evaluation record {path} ({e.strerror or e}); choose a writable --out") from None
    return path


def confusion_text(rec: dict) -> str:
    """The confusion matrix as aligned text (true class per row, predicted per column)."""
    classes = [str(c) for c in rec["classes"]]
    head = ["true \\ pred", *classes]
    rows = [[c, *map(str, r)] for c, r in zip(classes, rec["confusion_matrix"])]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in [head, *rows])
