"""``frozen-bench summary`` (issue 15, item 3): any sweep's metric as mean ± 95% CI and n, grouped
by the keys it varied, on a small hand-made CSV; bad input is one line, exit 2."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from frozen_bench.cli import main
from frozen_bench.report.summary import summarize


@pytest.fixture
def csv(tmp_path):
    rows = []
    acc = {("wht", 0.001): [0.90, 0.92, 0.91], ("wht", 0.01): [0.80, 0.82, 0.84],
           ("dct", 0.001): [0.70, 0.71, 0.72], ("dct", 0.01): [0.60]}
    for (t, lr), values in acc.items():
        for seed, v in enumerate(values):
            rows.append({"signature": f"{t}{lr}{seed}", "status": "ok", "exp": "mine", "model": "frozen_mlp",
                         "transform": t, "lr": lr, "seed": seed, "test_accuracy": v, "val_accuracy": v - 0.01})
    rows.append({"signature": "bad", "status": "failed", "exp": "mine", "model": "frozen_mlp", "transform": "wht",
                 "lr": 0.001, "seed": 9, "test_accuracy": None})
    rows.append({"signature": "other", "status": "ok", "exp": "other", "model": "linear", "transform": None,
                 "lr": 0.1, "seed": 0, "test_accuracy": 0.5})
    path = tmp_path / "all.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def cli(*args):
    return main(["summary", *map(str, args)])


def test_default_groups_by_the_varied_keys_with_mean_ci_and_n(csv, capsys):
    table, keys = summarize(pd.read_csv(csv), exp="mine")
    assert keys == ["transform", "lr"]  # model and exp do not vary within exp=mine; seed is not a key
    row = table[(table["transform"] == "wht") & (table["lr"] == 0.01)].iloc[0]
    v = np.array([0.80, 0.82, 0.84])
    assert row["n"] == 3 and row["mean"] == pytest.approx(v.mean())
    assert row["ci"] == pytest.approx(stats.t.ppf(0.975, 2) * v.std(ddof=1) / np.sqrt(3))
    assert np.isnan(table[(table["transform"] == "dct") & (table["lr"] == 0.01)].iloc[0]["ci"])  # n = 1
    assert table["n"].sum() == 10  # the failed row is left out

    assert cli(csv, "--exp", "mine") == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == "| transform | lr | test_accuracy (%): mean ± 95% CI | n |"
    assert len(out) == 2 + 4
    assert "| wht | 0.01 | 82.00 ± 4.97 | 3 |" in out
    assert "| dct | 0.01 | 60.00 ± n/a (n=1) | 1 |" in out


def test_by_metric_and_plot(csv, tmp_path, capsys):
    png = tmp_path / "fig" / "summary.png"
    assert cli(csv, "--by", "transform", "--metric", "val_accuracy", "--exp", "mine", "--plot", png) == 0
    out = capsys.readouterr().out
    assert "| transform | val_accuracy (%): mean ± 95% CI | n |" in out
    assert "| wht | " in out and "| 6 |" in out
    assert png.exists() and png.stat().st_size > 1000
    # all rows: exp and model vary too
    table, keys = summarize(pd.read_csv(csv))
    assert keys[:2] == ["exp", "model"] and "transform" in keys


@pytest.mark.parametrize("args, words", [
    (["missing.csv"], "no CSV at"),
    (["{csv}", "--by", "transfrom"], "did you mean transform"),
    (["{csv}", "--metric", "test_acc"], "--metric 'test_acc' is not a column"),
    (["{csv}", "--exp", "nope"], "no rows with exp='nope'"),
    (["{csv}", "--metric", "transform"], "not numeric"),
])
def test_bad_input_is_one_line_exit_2(csv, tmp_path, monkeypatch, capsys, args, words):
    monkeypatch.chdir(tmp_path)
    assert cli(*[a.format(csv=csv) for a in args]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and err[0].startswith("frozen-bench summary: error:"), err
    assert captured.out == ""


def test_summary_is_listed_in_the_help(capsys):
    assert main(["--help"]) == 0
    assert "summary [CSV]" in capsys.readouterr().out


def test_groups_by_what_the_sweep_varied_from_its_own_overrides(tmp_path, capsys):
    """`--exp sweep_act_delta`: 7 λ × 3 seeds. λ is no identity column; the jobs' own overrides name
    it, so the table has 7 rows of n=3 (it pooled them into one row "all, n=21")."""
    rows = []
    for lam in (0, 0.0001, 0.0003, 0.001, 0.003, 0.01, 0.1):
        for seed in range(3):
            rows.append({"signature": f"{lam}-{seed}", "status": "ok", "exp": "sweep_act_delta", "model": "frozen_mlp",
                         "seed": seed, "test_accuracy": 0.9 - lam + 0.001 * seed,
                         "overrides": f"+profile=quick +sweep=act_delta +optim.act_delta_l1={lam} seed={seed} "
                                      f"trainer.threads=1 results_dir=outputs"})
    path = tmp_path / "all.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    table, keys = summarize(pd.read_csv(path), exp="sweep_act_delta")
    assert keys == ["optim.act_delta_l1"] and list(table["n"]) == [3] * 7
    assert table["optim.act_delta_l1"].tolist() == sorted(table["optim.act_delta_l1"].tolist())  # numbers, in order
    assert cli(path, "--exp", "sweep_act_delta") == 0
    out, err = capsys.readouterr()
    assert "| optim.act_delta_l1 | test_accuracy (%): mean ± 95% CI | n |" in out and f"read {path}" in err
    by, _ = summarize(pd.read_csv(path), exp="sweep_act_delta", by=["model"])  # --by still decides
    assert list(by["n"]) == [21]


def test_plot_clips_its_cis_to_the_range_and_fits_its_labels(tmp_path):
    from frozen_bench.report.layout import layout_problems
    from frozen_bench.report.summary import plot

    table = pd.DataFrame({"a_rather_long_configuration_key": ["a value that makes a long label " * 2, "short"],
                          "mean": [0.995, 0.02], "ci": [0.03, 0.05], "n": [3, 3]})
    seen = {}

    def check(fig):
        ax = fig.axes[0]
        [bars] = [c for c in ax.collections if c.__class__.__name__ == "LineCollection"]
        xs = np.concatenate([seg[:, 0] for seg in bars.get_segments()])
        seen["x"] = (xs.min(), xs.max())
        seen["problems"] = layout_problems(fig)

    plot(table, ["a_rather_long_configuration_key"], "test_accuracy", tmp_path / "s.png", on_save=check)
    assert seen["x"][0] >= 0.0 and seen["x"][1] <= 100.0  # 99.5 ± 3 stops at 100, 2 ± 5 at 0
    assert seen["problems"] == []  # no label cut off by the edge, none overlapping
