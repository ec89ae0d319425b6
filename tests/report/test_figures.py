"""figures: every file from a small synthetic all.csv; a missing sweep is a skip line, not a crash."""

import json

import numpy as np
import pandas as pd

from frozen_bench.report.figures import FIGURES, make_all


def fake_all_csv(path, drop_exp=None, companion=False):
    """A small all.csv shaped like collect's output (synthetic numbers, for drawing only); with
    ``companion`` also rows of the five companion sweeps."""
    rng = np.random.default_rng(0)
    rows = []

    def add(exp, **kw):
        for seed in range(3):
            rows.append({"signature": f"s{len(rows)}", "status": "ok", "exp": exp, "profile": "quick", "dataset": "fashion_mnist",
                         "synthetic": False, "model": "frozen_mlp", "seed": seed, "test_accuracy": 0.8 + 0.05 * rng.random(),
                         "trainable_params": 20000, "adapter_rank": 0, "width": 1024,
                         "latency_ms_b1_p50": rng.random(), "latency_ms_b256_p50": 1 + rng.random(), **kw})

    for t in ["wht", "dct", "fft", "random_orth", "identity"]:
        add("sweep_transforms", transform=t, activation="bislope")
    shapes = json.dumps({"x": [-1, 0, 1], "y": [[-0.01, 0, 1], [0, 0, 2]]})
    for a in ["relu", "prelu", "bislope", "pwl3", "spline", "glu"]:
        for mult in (0.1, 1.0):
            add("sweep_activations", transform="wht", activation=a, act_shapes=shapes, act_lr_mult=mult)
    for r in [0, 2, 8]:
        add("sweep_adapters", adapter="lora", adapter_rank=r, trainable_params=20000 + 4096 * r)
    for fam, kind in [("frozen_cnn", "frozen"), ("trained_cnn", "trained"), ("frozen_cnn_relu", "control")]:
        for b in (8000, 20000):
            add("fair_final", family=fam, family_kind=kind, budget=b, trainable_params=int(0.95 * b), val_accuracy=0.85,
                steps=395, lr=0.01, weight_decay=0.0)
        for n in (100, 1000):
            add("fair_small", family=fam, family_kind=kind, budget=20000, subset=n, trainable_params=19000, val_accuracy=0.8,
                steps=1000, lr=0.01, weight_decay=0.0)
    for m in ["frozen_mlp", "dense_mlp"]:
        for w in [1024, 2048]:
            add("sweep_latency", model=m, width=w)
    if companion:
        add_companion_rows(add, rng)
    df = pd.DataFrame(rows)
    if drop_exp:
        df = df[df["exp"] != drop_exp]
    df.to_csv(path, index=False)


def add_companion_rows(add, rng):
    """Rows of the companion sweeps with the columns their figures read (the real sweeps' shapes)."""
    for fn in ("exp", "sin"):
        for act, mix in [("relu", "dense"), ("leaky_relu", "dense"), ("pwl3", "dct")]:
            knots = np.linspace(-5, 5, 25)
            ys = np.exp(knots) if fn == "exp" else np.sin(knots)
            pieces = json.dumps([[float(a), float(b), float(c), float(d)] for a, b, c, d in zip(knots, knots[1:], ys, ys[1:])])
            add("sweep_functions", dataset=f"synthetic_fn_{fn}", synthetic=True, function=fn, fn_lo=-5.0, fn_hi=5.0,
                linear_regions=24, test_mse=1e-3, activation=act, mixing=mix, fn_pieces=pieces, test_accuracy=None)
    for pair, phases in [("exp->exp_neg", 2), ("inv->inv_shift", 2), ("step->step_shift x4", 8)]:
        for act, mix in [("relu", "dense"), ("leaky_relu", "dense"), ("pwl3", "dct")]:
            curve = json.dumps([[70 * (k + 1), k * phases // 18, float(10 ** rng.uniform(-3, 2))] for k in range(18)])
            add("sweep_fn_shift", dataset=f"synthetic_fn_shift_{pair.split('->')[0]}", synthetic=True, shift_pair=pair,
                shift_phases=phases, shift_mse_before=2101.8 + rng.random(), shift_mse_after=2098.8 + rng.random(),
                activation=act, mixing=mix, shift_curve=curve, test_accuracy=None)
    for w, density in [(0.0, 0.9), (3e-6, 0.47), (1e-5, 0.19), (3e-5, 0.01)]:
        add("sweep_masks", dataset="digits", model="masked", mask_init="random", mask_reg_weight=w, mask_density=density)
    for fb, grad in [("none", False), ("maxpool", False), ("projection", False)]:
        add("sweep_weightnet", model="weightnet", feedback=fb, feedback_grad=grad)
    add("sweep_frozen_layer", dataset="digits", model="frozen_layer", frozen_layers=1.0, grad_norm_layer0_mean=0.22,
        grad_norm_layer1_mean=0.0, grad_norm_layer2_mean=0.37)
    for lam, moved in [(0.0, "blocks.0.act:0,1,2,3,5/8;blocks.1.act:0,1,4,6/8"), (0.01, "blocks.0.act:2/8;blocks.1.act:1,6/8"),
                       (0.1, "blocks.0.act:/8;blocks.1.act:6/8")]:
        n = sum(len([i for i in part.split(":")[1].split("/")[0].split(",") if i]) for part in moved.split(";"))
        add("sweep_act_delta", dataset="digits", act_delta_l1=lam, act_channels_moved=n / 16, act_moved_channels=moved,
            act_delta_tol=0.01)


def test_every_core_figure_is_written_as_png_and_pdf(tmp_path):
    fake_all_csv(tmp_path / "all.csv")
    written, skipped = make_all(tmp_path / "all.csv", tmp_path / "figs", log=lambda *_: None)
    names = {p.name for p in written}
    for stem in ["transforms", "activations", "adapters", "latency", "act_shapes",
                 "fair_fashion_mnist", "fair_small_fashion_mnist"]:
        assert f"{stem}.png" in names and f"{stem}.pdf" in names, stem
    assert all(p.stat().st_size > 1000 for p in written)
    core_skips = [s for s in skipped if not FIGURES.entry(s.split(":")[0]).meta.get("companion")]
    assert not core_skips


def test_figures_command_writes_tables_with_mean_and_ci(tmp_path, capsys):
    from frozen_bench.cli import main

    fake_all_csv(tmp_path / "all.csv")
    assert main(["figures", "--csv", str(tmp_path / "all.csv"), "--out", str(tmp_path / "figs")]) == 0
    text = (tmp_path / "tables.md").read_text()
    assert "## Transforms" in text and "| random_orth |" in text and " ± " in text
    assert "fashion_mnist (real data)" in text
    assert "skipped" in capsys.readouterr().out  # the companion sweeps are not in this csv


def test_missing_sweep_is_one_skip_line_naming_the_sweep(tmp_path):
    fake_all_csv(tmp_path / "all.csv", drop_exp="sweep_transforms")
    lines = []
    written, skipped = make_all(tmp_path / "all.csv", tmp_path / "figs", log=lines.append)
    assert not (tmp_path / "figs" / "transforms.png").exists()
    [skip] = [s for s in skipped if s.startswith("transforms:")]
    assert "+sweep=transforms" in skip
    assert any("skipped transforms" in line for line in lines)
    assert (tmp_path / "figs" / "activations.png").exists()  # the others are still drawn


def test_flagship_table_reads_three_presets_and_labels_the_jpeg_copy(tmp_path):
    from frozen_bench.report.tables import write_tables

    base = {"status": "ok", "profile": None, "synthetic": False, "dataset": "cifar10_jpeg", "trainable_params": 25000,
            "train_seconds": 500.0, "latency_ms_b1_p50": 0.5, "latency_ms_b256_p50": 50.0}
    df = pd.DataFrame([{**base, "exp": exp, "model": model, "transform": tr, "seed": s, "test_accuracy": acc + 0.01 * s}
                       for exp, model, tr, acc in [("cifar_wht", "frozen_cnn", "wht", 0.63), ("cifar_dct", "frozen_cnn", "dct", 0.62),
                                                   ("cifar_trained", "trained_cnn", None, 0.70)] for s in range(3)])
    text = write_tables(df, tmp_path / "tables.md", log=lambda *_: None).read_text()
    section = text.split("(`flagship_cifar`)")[1]
    assert "cifar10_jpeg (real data, JPEG re-encoded at quality 75); 3 seed(s)" in section
    assert "| cifar_trained | trained_cnn | – | 71.00 ± 2.48 | 25,000 | 500 | 0.500 | 50.0 | 3 |" in section
    assert "| cifar_wht | frozen_cnn | wht | 64.00 ± 2.48 |" in section


def test_a_missing_preset_table_names_the_command_that_makes_it(tmp_path):
    from frozen_bench.report.tables import write_tables

    lines = []
    write_tables(pd.DataFrame([{"exp": "other", "status": "ok", "dataset": "digits", "seed": 0, "test_accuracy": 0.9}]),
                 tmp_path / "t.md", log=lines.append)
    assert any("skipped flagship_cifar" in s and "+exp=cifar_wht" in s for s in lines)


def test_rows_choose_the_profile_per_dataset():
    from frozen_bench.report.common import rows

    df = pd.DataFrame([{"exp": "fair_final", "status": "ok", "dataset": ds, "profile": prof, "seed": 0}
                       for ds, prof in [("cifar10_jpeg", "full"), ("cifar10_jpeg", "quick"), ("fashion_mnist", "quick")]])
    got = rows(df, "fair_final")
    assert sorted(zip(got["dataset"], got["profile"])) == [("cifar10_jpeg", "full"), ("fashion_mnist", "quick")]
