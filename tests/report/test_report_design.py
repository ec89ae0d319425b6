"""The design search's report side: each family's best trial chosen on validation alone, re-run
from its recorded overrides, and the frozen-vs-trained design table."""

import numpy as np
import pandas as pd

from frozen_bench.report.design import chosen_rows, design_of, design_table, select_design

SCREEN = "+sweep=fair_design trainer.threads=1 results_dir=/r dataset.subset=5000 seed=0"


def trials(val, test=None, fams=("frozen_cnn", "trained_cnn"), n=4):
    """``n`` trials per family; trial i uses optim.lr=LRS[i]; ``val(fam, i)`` is its val accuracy."""
    rows = []
    for fam in fams:
        for i in range(n):
            design = f"optim.lr={0.001 * (i + 1):g} activation={'pwl3' if i % 2 else 'bislope'}"
            rows.append(dict(exp="fair_design_tune", dataset="fashion_mnist", budget=8000, family=fam,
                             family_kind="frozen" if fam.startswith("frozen") else "trained", status="ok",
                             overrides=f"{design} {SCREEN} +family={fam} model.budget=8000 dataset=fashion_mnist",
                             val_accuracy=val(fam, i), test_accuracy=test(fam, i) if test else 0.5, seed=0))
    return pd.DataFrame(rows)


def best_at(k):
    return lambda fam, i: 0.80 + (0.05 if i == k[fam] else 0.01 * i / 10)


def test_design_of_drops_the_screen_recipe_and_orders_canonically():
    assert design_of("b=1 seed=3 trainer.epochs=5 a=2 results_dir=x dataset.subset=5000 +sweep=fair_design") == ["a=2", "b=1"]
    assert design_of("a=2 b=1") == design_of("b=1 a=2")


def test_select_design_picks_each_familys_best_val_trial():
    out = select_design(trials(best_at({"frozen_cnn": 2, "trained_cnn": 1})))
    got = dict(zip(out["family"], out["design"]))
    assert "optim.lr=0.003" in got["frozen_cnn"] and "optim.lr=0.002" in got["trained_cnn"]
    assert "+family=frozen_cnn" in got["frozen_cnn"] and "model.budget=8000" in got["frozen_cnn"]
    assert not any(o.startswith(("seed=", "trainer.", "results_dir=", "dataset.subset=")) for d in got.values() for o in d.split())
    assert set(out["trials"]) == {4} and set(out["selected_on"]) == {"val"}
    assert not [c for c in out.columns if c.startswith("test_")]


def test_shuffled_or_adversarial_test_numbers_leave_the_design_choice_unchanged():
    df = trials(best_at({"frozen_cnn": 2, "trained_cnn": 1}))
    base = select_design(df)
    rng = np.random.default_rng(0)
    for _ in range(3):
        pd.testing.assert_frame_equal(select_design(df.assign(test_accuracy=rng.permutation(df["test_accuracy"].to_numpy()))), base)
    # test would pick trial 0 everywhere: the choice must not follow it
    adv = trials(best_at({"frozen_cnn": 2, "trained_cnn": 1}), test=lambda f, i: 0.99 if i == 0 else 0.1)
    pd.testing.assert_frame_equal(select_design(adv), base)


def test_a_diverged_trial_scores_zero_and_a_failed_one_is_left_out():
    df = trials(best_at({"frozen_cnn": 2, "trained_cnn": 1}))
    df.loc[(df.family == "frozen_cnn") & df.overrides.str.contains("optim.lr=0.003"), "status"] = "diverged"
    df.loc[(df.family == "trained_cnn") & df.overrides.str.contains("optim.lr=0.002"), "status"] = "failed"
    out = select_design(df).set_index("family")
    assert "optim.lr=0.003" not in out.loc["frozen_cnn", "design"]
    assert out.loc["trained_cnn", "trials"] == 3  # the failed trial is not counted


def finals(designs, acc):
    rows = []
    for fam, design in designs.items():
        for s in range(5):
            rows.append(dict(exp="fair_design", profile="quick", dataset="fashion_mnist", budget=8000, family=fam,
                             family_kind="frozen" if fam.startswith("frozen") else "trained", status="ok", seed=s,
                             overrides=f"+profile=quick +sweep=fair_final exp_name=fair_design {design} "
                                       f"dataset.subset=10000 trainer.epochs=5 seed={s} trainer.threads=1 results_dir=r",
                             val_accuracy=acc[fam] + 0.001 * s, test_accuracy=acc[fam] + 0.002 * s,
                             trainable_params=7900, steps=395))
    return pd.DataFrame(rows)


def test_design_table_pairs_the_chosen_designs_and_drops_stale_finals():
    tune = trials(best_at({"frozen_cnn": 2, "trained_cnn": 1}))
    sel = select_design(tune)
    chosen = dict(zip(sel["family"], sel["design"]))
    stale = finals({"frozen_cnn": chosen["frozen_cnn"].replace("optim.lr=0.003", "optim.lr=0.001")}, {"frozen_cnn": 0.99})
    df = pd.concat([tune, finals(chosen, {"frozen_cnn": 0.86, "trained_cnn": 0.88}), stale], ignore_index=True)
    kept = chosen_rows(df[df.exp == "fair_design"], df)
    assert len(kept) == 10 and not (kept["test_accuracy"] >= 0.99).any()
    text = "\n".join(design_table(df))
    row = next(line for line in text.splitlines() if line.startswith("| fashion_mnist | 8,000 |"))
    assert "frozen_cnn | 86.40" in row and "trained_cnn | 88.40" in row and "-2.00" in row and "**behind**" in row
    assert "`activation=bislope optim.lr=0.003`" in text  # the chosen frozen design, less its identity
    assert "UNEQUAL" not in text


def test_design_table_warns_when_search_effort_differs():
    tune = trials(best_at({"frozen_cnn": 2, "trained_cnn": 1}))
    tune = tune.drop(tune[(tune.family == "trained_cnn") & tune.overrides.str.contains("optim.lr=0.004")].index)
    sel = select_design(tune)
    df = pd.concat([tune, finals(dict(zip(sel["family"], sel["design"])), {"frozen_cnn": 0.86, "trained_cnn": 0.88})])
    assert "UNEQUAL search: frozen_cnn 4 trials, trained_cnn 3 trials" in "\n".join(design_table(df))
