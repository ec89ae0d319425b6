"""Results that stay clean (issue 15): all.csv keeps integers as integers, and a PDF drawn twice
from the same rows has the same bytes."""

from __future__ import annotations

import csv
import json

from frozen_bench.record.table import collect, read_all_csv


def _record(runs, sig, **fields):
    (runs / sig).mkdir(parents=True)
    (runs / sig / "metrics.json").write_text(json.dumps({"signature": sig, "dataset": "digits", "model": "m", **fields}))


def test_integer_columns_stay_integers_next_to_a_failed_run(tmp_path):
    runs = tmp_path / "runs"
    _record(runs, "aaaaaaaaaaaa", status="ok", seed=0, width=64, trainable_params=1290, lr=0.001,
            weight_decay=0.0, test_accuracy=1.0, diverged_step=None)
    _record(runs, "bbbbbbbbbbbb", status="failed", seed=1, lr=0.01, weight_decay=0.05, error="boom")
    collect(tmp_path, log=lambda *_: None)
    rows = list(csv.DictReader(open(tmp_path / "all.csv")))
    ok, failed = rows
    assert (ok["width"], ok["trainable_params"], ok["seed"], failed["seed"]) == ("64", "1290", "0", "1")
    assert failed["width"] == "" and ok["diverged_step"] == ""
    assert (ok["lr"], ok["weight_decay"], ok["test_accuracy"]) == ("0.001", "0.0", "1.0")  # floats stay floats
    df = read_all_csv(tmp_path / "all.csv")
    assert df["width"].iloc[0] == 64


def test_an_old_all_csv_with_floats_is_read_and_rewritten_as_integers(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "all.csv").write_text("signature,status,dataset,model,seed,width,lr\n"
                                      "cccccccccccc,ok,digits,m,0.0,64.0,0.003\ndddddddddddd,ok,digits,m,1.0,,0.01\n")
    assert list(read_all_csv(tmp_path / "all.csv")["seed"]) == [0, 1]
    collect(tmp_path, log=lambda *_: None)  # the rows are kept (no run folder here)
    rows = list(csv.DictReader(open(tmp_path / "all.csv")))
    assert [r["seed"] for r in rows] == ["0", "1"] and [r["width"] for r in rows] == ["64", ""]
    assert [r["lr"] for r in rows] == ["0.003", "0.01"]


def test_pdf_bytes_do_not_depend_on_the_time(tmp_path):
    from frozen_bench.report.common import plt, save

    def draw(out):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1, 2], [1, 0, 2])
        return save(fig, out, "fig", "Data: test")

    first = {p.suffix: p.read_bytes() for p in draw(tmp_path / "a")}
    import time
    time.sleep(1.1)  # a CreationDate would differ by now
    second = {p.suffix: p.read_bytes() for p in draw(tmp_path / "b")}
    assert first[".pdf"] == second[".pdf"] and b"CreationDate" not in first[".pdf"]
    assert first[".png"] == second[".png"]
