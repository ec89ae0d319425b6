"""The fair protocol's report side: validation-only selection, paired statistics, the verdict table."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from frozen_bench.report import fair, select as sel_mod, stats
from frozen_bench.report.select import final_overrides, select, write_selection
from frozen_bench.report.tables import fair_section


def tune_rows(val, test=None, families=("frozen_cnn", "trained_cnn"), seeds=(0, 1)):
    """A 3 lr × 2 wd grid per family; ``val(family, lr, wd, seed)`` gives its validation accuracy."""
    rows = []
    for fam, lr, wd, s in itertools.product(families, (0.001, 0.003, 0.01), (0.0, 0.01), seeds):
        rows.append(dict(exp="fair_tune", profile="quick", dataset="fashion_mnist", family=fam,
                         family_kind="frozen" if fam.startswith("frozen") else "trained", budget=8000, subset=10000,
                         lr=lr, weight_decay=wd, seed=s, status="ok", val_accuracy=val(fam, lr, wd, s),
                         test_accuracy=test(fam, lr, wd, s) if test else 0.5, steps=400))
    return pd.DataFrame(rows)


def peak(fam, lr, wd, s):
    # frozen_cnn peaks at (0.01, 0.0), trained_cnn at (0.001, 0.01); seeds add a small wobble
    best = {"frozen_cnn": (0.01, 0.0), "trained_cnn": (0.001, 0.01)}[fam]
    return 0.85 + (0.03 if (lr, wd) == best else 0.0) + 0.001 * s


def test_select_picks_argmax_mean_val():
    out = select(tune_rows(peak))
    got = {r.family: (r.lr, r.weight_decay) for r in out.itertuples()}
    assert got == {"frozen_cnn": (0.01, 0.0), "trained_cnn": (0.001, 0.01)}
    assert set(out["selected_on"]) == {"val"} and set(out["configs_tried"]) == {6} and set(out["val_seeds"]) == {2}
    assert out.loc[out.family == "frozen_cnn", "best_val_accuracy"].item() == pytest.approx(0.8805)
    assert list(out["family_kind"]) == ["frozen", "trained"]
    assert not [c for c in out.columns if c.startswith("test_")]


def test_changing_test_labels_leaves_every_selection_unchanged():
    df = tune_rows(peak)
    base = select(df)
    rng = np.random.default_rng(0)
    for _ in range(5):
        shuffled = df.assign(test_accuracy=rng.permutation(df["test_accuracy"].to_numpy()),
                             test_f1_macro=rng.random(len(df)))
        pd.testing.assert_frame_equal(select(shuffled), base)
        pd.testing.assert_frame_equal(select(df.assign(test_accuracy=rng.random(len(df)))), base)


def test_selection_ignores_test_even_when_test_would_pick_otherwise():
    # test accuracy peaks at the smallest lr for every family: a test-based selection would differ
    df = tune_rows(peak, test=lambda f, lr, wd, s: 0.99 if lr == 0.001 and wd == 0.0 else 0.1)
    out = select(df)
    assert out.loc[out.family == "frozen_cnn", ["lr", "weight_decay"]].values.tolist() == [[0.01, 0.0]]

    class Poison:  # any arithmetic, comparison or conversion on a test value fails
        def __getattr__(self, name):
            raise AssertionError("the selection path read a test metric")
        __eq__ = __lt__ = __gt__ = __float__ = __hash__ = __add__ = __radd__ = __getattr__
    poisoned = df.assign(test_accuracy=pd.Series([Poison() for _ in range(len(df))], dtype=object))
    pd.testing.assert_frame_equal(select(poisoned), out)


def test_ties_go_to_smaller_lr_then_smaller_weight_decay_whatever_the_row_order():
    df = tune_rows(lambda f, lr, wd, s: 0.9 if lr >= 0.003 else 0.8)  # 4 tied configs
    for seed in range(3):
        out = select(df.sample(frac=1, random_state=seed))
        assert out[["lr", "weight_decay"]].drop_duplicates().values.tolist() == [[0.003, 0.0]]


def test_diverged_seed_counts_as_zero_failed_run_is_left_out():
    df = tune_rows(lambda f, lr, wd, s: 0.9 if lr == 0.01 else 0.85)
    df.loc[(df.lr == 0.01) & (df.weight_decay == 0.0) & (df.seed == 1), "status"] = "diverged"
    df.loc[(df.lr == 0.01) & (df.weight_decay == 0.01) & (df.seed == 1), ["status", "val_accuracy"]] = ["failed", np.nan]
    out = select(df)
    r = out[out.family == "frozen_cnn"].iloc[0]
    assert (r.lr, r.weight_decay, r.val_seeds, r.best_val_accuracy) == (0.01, 0.01, 1, 0.9)


def test_selection_file_and_final_overrides(tmp_path):
    out = select(tune_rows(peak))
    path = write_selection(out, tmp_path / "fair" / "selected.csv")
    back = pd.read_csv(path)
    assert back[["family", "lr", "weight_decay"]].values.tolist() == out[["family", "lr", "weight_decay"]].values.tolist()
    assert final_overrides(back.iloc[0]) == ["+family=frozen_cnn", "model.budget=8000", "optim.lr=0.01",
                                            "optim.weight_decay=0.0", "dataset=fashion_mnist"]
    assert final_overrides(back.iloc[0], keep_subset=True)[-1] == "dataset.subset=10000"
    # a class-folder copy is reloaded as its dataset's config read from the copy, not as a config name
    jpeg = final_overrides(back.iloc[0].to_dict() | {"dataset": "cifar10_jpeg"})
    assert jpeg[-2:] == ["dataset=cifar10", "dataset.source=imagefolder"]
    with pytest.raises(ValueError, match="test"):
        write_selection(out.assign(test_accuracy=0.5), tmp_path / "bad.csv")
    assert sel_mod.without_test(pd.DataFrame(columns=["test_x", "val_x"])).columns.tolist() == ["val_x"]


def test_pact_lr_multiplier_is_a_tuned_axis_where_the_rows_vary_it():
    # frozen_cnn is screened at two PAct multipliers and peaks at 1.0; trained_cnn keeps one (0.1)
    base = tune_rows(peak).assign(act_lr_mult=0.1)
    more = tune_rows(peak, families=("frozen_cnn",)).assign(act_lr_mult=1.0)
    more["val_accuracy"] += 0.05
    out = select(pd.concat([base, more], ignore_index=True))
    r = out.set_index("family")
    assert (r.loc["frozen_cnn", "act_lr_mult"], r.loc["frozen_cnn", "configs_tried"]) == (1.0, 12)
    assert (r.loc["trained_cnn", "act_lr_mult"], r.loc["trained_cnn", "configs_tried"]) == (0.1, 6)
    assert final_overrides(r.loc["frozen_cnn"].to_dict() | {"family": "frozen_cnn", "dataset": "fashion_mnist"}) == [
        "+family=frozen_cnn", "model.budget=8000", "optim.lr=0.01", "optim.weight_decay=0.0", "optim.act_lr_mult=1.0",
        "dataset=fashion_mnist"]
    # a final run at the multiplier not chosen never pools with the chosen one
    finals = pd.DataFrame([dict(dataset="fashion_mnist", family="frozen_cnn", budget=8000, lr=0.01, weight_decay=0.0,
                                act_lr_mult=m, seed=0) for m in (0.1, 1.0)])
    kept = fair.selected_only(finals, pd.concat([base, more], ignore_index=True))
    assert kept["act_lr_mult"].tolist() == [1.0]


A = np.array([90.1, 91.3, 89.8, 90.6, 90.9])
B = np.array([89.0, 90.9, 88.7, 89.9, 90.1])


def test_paired_t_matches_scipy():
    p = stats.paired(A, B)
    d = A - B
    lo, hi = sps.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sps.sem(d))
    assert (p.n, p.method) == (5, "t")
    assert p.mean_diff == pytest.approx(0.82)
    assert (p.ci_low, p.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert p.p_value == pytest.approx(sps.ttest_rel(A, B).pvalue)
    assert p.p_value == pytest.approx(0.003408, abs=1e-5)
    m, h = stats.mean_ci(A)
    assert m == pytest.approx(A.mean()) and h == pytest.approx(sps.t.ppf(0.975, 4) * sps.sem(A))


def test_paired_bootstrap_is_reproducible_and_small_n_is_nan():
    b1, b2 = stats.paired(A, B, method="bootstrap", seed=3), stats.paired(A, B, method="bootstrap", seed=3)
    assert b1 == b2 and b1.ci_low < b1.mean_diff < b1.ci_high and 0 <= b1.p_value < 0.1
    one = stats.paired([0.9], [0.8])
    assert one.n == 1 and np.isnan(one.ci_low) and np.isnan(one.p_value) and stats.verdict(one) == "tie"
    assert np.isnan(stats.mean_ci([0.9])[1]) and np.isnan(stats.paired([], []).mean_diff)
    assert stats.paired([1, 2, np.nan], [0, 1, 5]).n == 2  # a nan drops its pair
    with pytest.raises(ValueError):
        stats.paired([1, 2], [1])


def test_verdict_reads_the_ci_alone():
    mk = lambda m, lo, hi: stats.Paired(5, m, lo, hi, 0.01, "t")  # noqa: E731
    assert stats.verdict(mk(0.5, 0.1, 0.9)) == "ahead"
    assert stats.verdict(mk(-0.5, -0.9, -0.1)) == "behind"
    assert stats.verdict(mk(0.5, -0.1, 1.1)) == "tie"
    assert stats.verdict(stats.paired(A, A)) == "tie"
    assert stats.verdict(stats.paired(B, A)) == "behind"


def final_rows(exp="fair_final", subset=None):
    acc = {  # family: (kind, val, test per seed)
        "frozen_cnn": ("frozen", 0.905, A / 100),
        "frozen_mlp": ("frozen", 0.880, A / 100 + 0.02),   # best frozen on TEST, not on val
        "trained_cnn": ("trained", 0.900, B / 100),
        "dense_mlp1": ("trained", 0.870, B / 100 + 0.03),  # best trained on test, not on val
        "frozen_cnn_random_filters": ("control", 0.890, A / 100 + 0.05),  # a control may be "best frozen" (by val)
    }
    rows = [dict(exp=exp, profile="full", dataset="fashion_mnist", synthetic=False, family=f, family_kind=k,
                 budget=8000, trainable_params=7900, subset=subset, lr=0.003, weight_decay=0.0, seed=s, status="ok",
                 val_accuracy=v, test_accuracy=t[s], steps=4300, batch_size=128, epochs=10)
            for f, (k, v, t) in acc.items() for s in range(5)]
    return pd.DataFrame(rows)


def test_fair_table_renders_the_expected_numbers():
    df = final_rows()
    df = pd.concat([df, df.head(1).assign(status="diverged", seed=9, test_accuracy=np.nan)], ignore_index=True)
    text = "\n".join(fair.fair_table(df))
    d = A - B
    h = sps.t.ppf(0.975, 4) * sps.sem(d)
    summary = next(line for line in text.splitlines() if line.startswith("| fashion_mnist | 8,000 |"))
    cells = [c.strip() for c in summary.strip("|").split("|")]
    assert cells[2] == "frozen_cnn" and cells[4] == "trained_cnn"
    assert cells[3] == f"{A.mean():.2f} ± {sps.t.ppf(0.975, 4) * sps.sem(A):.2f}"
    assert cells[6:] == ["+0.82", f"[{0.82 - h:+.2f}, {0.82 + h:+.2f}]", "0.003", "5", "**ahead**"]
    assert "fashion_mnist (real data); profile full; 5 seed(s)" in text
    assert "| frozen_cnn_random_filters | control |" in text and "| frozen_cnn | frozen ★ |" in text
    assert "| 7,900 | 4,300 | – | 0.003 | 0 | – | – | – |" in text  # no steps_to_converge, no compute in these rows
    # a control is a frozen network: where it validates best, it stands for frozen
    ctl = final_rows()
    ctl.loc[ctl.family == "frozen_cnn_random_filters", "val_accuracy"] = 0.95
    row = next(line for line in "\n".join(fair.fair_table(ctl)).splitlines() if line.startswith("| fashion_mnist | 8,000 |"))
    assert row.split("|")[3].strip() == "frozen_cnn_random_filters"
    # the compute columns: means over the seeds, from the records' own counts
    comp = final_rows().assign(macs_per_example=2_500_000, fixed_params=1234, model_bytes=31_600,
                               train_seconds_per_epoch=4.25, latency_ms_b1_p50=0.5)
    assert "| 2.50 | 1,234 | 31.6 | 4.2 | 0.500 |" in "\n".join(fair.fair_table(comp))
    assert "frozen_cnn diverged×1" in text and "UNEQUAL" not in text
    # when validation reached 99% of its final value: the median share of the steps
    df3 = final_rows().assign(steps_to_converge=lambda d: d["steps"] * 0.5)
    df3.loc[df3.seed == 0, "steps_to_converge"] = df3.loc[df3.seed == 0, "steps"]  # one seed rose to the end
    assert "| 7,900 | 4,300 | 50% of steps | 0.003 | 0 |" in "\n".join(fair.fair_table(df3))

    # unequal steps are flagged; a synthetic dataset says so
    df2 = final_rows().assign(synthetic=True)
    df2.loc[df2.family == "trained_cnn", "steps"] = 2150
    text2 = "\n".join(fair.fair_table(df2))
    assert "UNEQUAL optimizer steps" in text2 and "SYNTHETIC" in text2


def test_best_is_chosen_on_val_so_flipping_val_flips_the_verdict():
    df = final_rows()
    df.loc[df.family == "trained_cnn", "val_accuracy"] = 0.5  # now dense_mlp1 is the best trained family
    row = next(line for line in fair.fair_table(df) if line.startswith("| fashion_mnist | 8,000 |"))
    assert "| dense_mlp1 |" in row and row.endswith("**behind** |")


def test_small_data_table_and_the_fair_section():
    small = pd.concat([final_rows("fair_small", s) for s in (1000.0, np.nan, 100.0)], ignore_index=True)
    lines = fair.small_data_table(small)
    body = [line for line in lines if line.startswith("| fashion_mnist")]
    assert [line.split("|")[3].strip() for line in body] == ["100", "1,000", "full"]
    assert all(line.endswith("**ahead** |") for line in body)
    logged = []
    lines = fair_section(final_rows(), log=logged.append)
    assert any(line.startswith("## Fair comparison") for line in lines)
    assert any("skipped small_data_table" in m and "fair_small" in m for m in logged)  # one line per missing table
    with pytest.raises(fair.NoFairRows, match="reproduce.sh fair"):
        fair.fair_table(final_rows("other"))


def test_small_data_reads_one_recipe_where_a_profile_ran_two():
    long = final_rows("fair_small", 100.0)
    short = long.assign(steps=500, test_accuracy=0.1)  # the same seeds on a shorter recipe: never pooled
    lines = fair.small_data_table(pd.concat([short, long], ignore_index=True))
    assert lines == fair.small_data_table(long)


def test_a_full_profile_on_one_dataset_leaves_another_datasets_quick_rows():
    full = final_rows()  # fashion_mnist, profile full
    quick = final_rows().assign(dataset="cifar10_jpeg", profile="quick")
    stale = final_rows().assign(profile="quick", test_accuracy=0.1)  # fashion_mnist quick: replaced by full
    ok, _ = fair.stage_rows(pd.concat([full, quick, stale], ignore_index=True), "fair_final")
    assert sorted(ok.groupby("dataset")["profile"].unique().map(list).to_dict().items()) == [
        ("cifar10_jpeg", ["quick"]), ("fashion_mnist", ["full"])]
    assert (ok["test_accuracy"] > 0.5).all()


def test_twin_table_pairs_each_frozen_family_with_its_own_twin_not_the_best_trained():
    df = final_rows()
    df.loc[df.family == "trained_cnn", "val_accuracy"] = 0.5  # no longer the best trained family...
    text = "\n".join(fair.twin_table(df))
    row = next(line for line in text.splitlines() if line.startswith("| fashion_mnist | 8,000 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "frozen_cnn" and cells[4] == "trained_cnn"  # ... but still frozen_cnn's twin
    assert cells[6] == "+0.82" and cells[-1] == "**ahead**"
    with pytest.raises(fair.NoFairRows, match="twin"):
        fair.twin_table(final_rows()[lambda d: d.family != "trained_cnn"])


def test_a_budget_only_the_quick_profile_ran_keeps_its_rows_and_says_so():
    full = final_rows()  # fashion_mnist 8k, full
    quick8 = final_rows().assign(profile="quick", test_accuracy=0.1)  # 8k quick: the full rows replace it
    quick100 = final_rows().assign(profile="quick", budget=100000, trainable_params=99000)
    df = pd.concat([full, quick8, quick100], ignore_index=True)
    ok, _ = fair.stage_rows(df, "fair_final")
    assert ok.groupby("budget")["profile"].unique().map(list).to_dict() == {8000: ["full"], 100000: ["quick"]}
    text = "\n".join(fair.fair_table(df))
    assert "| fashion_mnist (full) | 8,000 |" in text and "| fashion_mnist (quick) | 100,000 |" in text
    assert "### fashion_mnist (quick), budget 100,000" in text


def test_quick_table_shows_every_family_where_the_full_profile_ran_only_the_leaders():
    quick = final_rows()
    full = quick[quick.family.isin(["frozen_cnn", "trained_cnn"])].assign(profile="full", test_accuracy=lambda d: d.test_accuracy + 0.01)
    both = pd.concat([quick.assign(profile="quick"), full], ignore_index=True)
    main = "\n".join(fair.fair_table(both))
    assert "| frozen_cnn_random_filters |" not in main  # the full profile's rows only
    text = "\n".join(fair.quick_table(both))
    assert "quick profile" in text and "| frozen_cnn_random_filters | control |" in text
    assert fair.quick_table(quick.assign(profile="quick")) == []  # nothing hidden: no table


def test_twins_the_full_profile_did_not_run_come_from_the_quick_one():
    """The full profile trains only the leading families; a twin pair it skipped (the transformers)
    must still be compared, on the quick profile, and never pooled with full rows."""
    full = final_rows()[lambda d: d.family.isin(["frozen_cnn", "trained_cnn"])]
    quick = pd.concat([final_rows().assign(profile="quick"),
                       final_rows()[lambda d: d.family == "frozen_cnn"].assign(family="frozen_transformer", profile="quick"),
                       final_rows()[lambda d: d.family == "trained_cnn"].assign(family="transformer", profile="quick",
                                                                               test_accuracy=lambda d: d.test_accuracy + 0.01)])
    text = "\n".join(fair.twin_table(pd.concat([full, quick], ignore_index=True)))
    cnn = next(line for line in text.splitlines() if "| frozen_cnn |" in line)
    tf = next(line for line in text.splitlines() if "| frozen_transformer |" in line)
    assert cnn.startswith("| fashion_mnist (full) |") and tf.startswith("| fashion_mnist (quick) |")
    assert "| 5 |" in cnn and "| 5 |" in tf  # five seeds each: quick and full rows never pooled


def test_selection_flags_an_lr_at_the_edge_of_its_grid_and_tables_list_it():
    from frozen_bench.report import select, tables

    rows = [dict(exp="fair_tune", dataset="cifar10_jpeg", budget=8000, family=f, family_kind=k, lr=lr, weight_decay=0.0,
                 seed=0, status="ok", val_accuracy=v)
            for f, k, curve in (("frozen_resnet", "frozen", {0.01: 0.30, 0.03: 0.37}),   # best at its top lr
                                ("trained_cnn", "trained", {0.003: 0.50, 0.01: 0.54, 0.03: 0.52}))  # interior
            for lr, v in curve.items()]
    sel = select.select(pd.DataFrame(rows)).set_index("family")
    assert sel.loc["frozen_resnet", "lr_edge"] == "highest" and sel.loc["trained_cnn", "lr_edge"] == ""
    text = "\n".join(tables.grid_section(pd.DataFrame(rows)))
    assert "| cifar10_jpeg | 2–3 | 1 | 0.003, 0.01, 0.03 |" in text
    assert "Selections at an edge of their lr grid: 1 of 2." in text and "| frozen_resnet | 0.03 | highest | 2 |" in text
    # the family screened on more points than the dataset's smallest grid is listed with what it tried
    assert "| cifar10_jpeg | 8,000 | trained_cnn | 3 | 0.003, 0.01, 0.03 | – | lr 0.01, wd 0 |" in text
    assert "| frozen_resnet | 2 |" not in text
    # a family screened at a second seed: the seeds column spans 1-2, and its points count once each
    twice = rows + [dict(r, seed=1) for r in rows if r["family"] == "trained_cnn"]
    assert "| cifar10_jpeg | 2–3 | 1–2 | 0.003, 0.01, 0.03 |" in "\n".join(tables.grid_section(pd.DataFrame(twice)))
