"""``frozen-bench predict`` and ``frozen-bench evaluate``: argv in, exit code out (cli dispatches here)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from frozen_bench.config import RESULTS_DIR
from frozen_bench.errors import UserError


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def cmd_predict(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="frozen-bench predict",
        description="Predict with a finished run saved with trainer.save_model=true: each input goes through the run's "
                    "own preprocessing (preprocess.json: normalisation, speech front end and its per-band statistics); "
                    "prints a CSV row per input: its predicted label, that label's probability, and every class's.")
    p.add_argument("run_dir", help="the run folder (<results_dir>/runs/<signature>) or its signature")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files or folders (image datasets), WAV/FLAC files or folders (speech), or .npy/.pt arrays "
                        "(raw pixels 0-255 or 16 kHz waveforms; with --prepared, the model's input form)")
    p.add_argument("--out", default=None, metavar="CSV", help="write the CSV there instead of printing it")
    p.add_argument("--prepared", action="store_true",
                   help=".npy/.pt inputs are already preprocessed: (N, *input shape) as the data loader makes them")
    p.add_argument("--results-dir", default=RESULTS_DIR, help=f"where a bare signature is looked up (default: {RESULTS_DIR})")
    a = p.parse_args(argv)
    from frozen_bench.predict.load import load
    from frozen_bench.predict.score import predict, predictions_csv

    # bad input (UserError) is cli.main's one handler's: one line, exit 2
    t = load(a.run_dir, a.results_dir, log=_say)
    names, header, values = predict(t, a.inputs, prepared=a.prepared)
    text = predictions_csv(t, names, header, values)
    if a.out:
        _write(Path(a.out), text, "--out")
    if not a.out:
        sys.stdout.write(text)
    _say(f"[frozen-bench] predict: {len(names)} input(s), model {t.run_dir} ({t.spec['dataset']}, preprocessing from "
         f"{t.run_dir / 'preprocess.json'})" + (f" -> {a.out}" if a.out else ""))
    return 0


def cmd_evaluate(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="frozen-bench evaluate",
        description="Score a finished run (saved with trainer.save_model=true) on a labelled folder, <data>/<class>/<file> "
                    "with the run's class names, through its own preprocessing; prints accuracy, macro F1 and the "
                    "confusion matrix and writes them to a record beside the run (<run>/evaluations/<folder>-<hash>.json).")
    p.add_argument("run_dir", help="the run folder (<results_dir>/runs/<signature>) or its signature")
    p.add_argument("--data", required=True, help="a folder of class subfolders holding image or audio files")
    p.add_argument("--out", default=None, metavar="JSON", help="write the record there instead")
    p.add_argument("--results-dir", default=RESULTS_DIR, help=f"where a bare signature is looked up (default: {RESULTS_DIR})")
    a = p.parse_args(argv)
    from frozen_bench.predict.load import load
    from frozen_bench.predict.score import confusion_text, evaluate_folder, record_path, write_record

    t = load(a.run_dir, a.results_dir, log=_say)
    rec = evaluate_folder(t, a.data)
    path = write_record(rec, Path(a.out) if a.out else record_path(t, a.data))
    test = rec.get("run_test_accuracy")
    print(f"{rec['data']}: n={rec['n']} accuracy={100 * rec['accuracy']:.2f}% f1_macro={rec['f1_macro']:.4f}"
          + (f" (the run's own test set: {100 * test:.2f}%)" if isinstance(test, (int, float)) else ""))
    print(confusion_text(rec))
    _say(f"[frozen-bench] evaluate: record -> {path}")
    return 0


def _write(path: Path, text: str, flag: str) -> None:
    from frozen_bench.atomic import atomic_write_text

    try:
        atomic_write_text(path, text)
    except OSError as e:
        raise UserError(f"cannot write {path} ({e.strerror or e}); choose a writable {flag}") from None
