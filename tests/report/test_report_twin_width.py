"""The frozen transformer against a trained twin of its own width (report.twin_width, scripts/twin_width.sh)."""

import pandas as pd
import pytest

from frozen_bench.report import twin_width
from frozen_bench.report.fair import NoFairRows
from frozen_bench.report.select import final_overrides, select
from frozen_bench.report.tables import fair_section

WIDE = "dim=243 mlp=521"


def rows(exp, family, built, accs, budget=8000.0, lr=0.1, wd=0.05, trainable=7996, macs=188e3, **kw):
    return pd.DataFrame([dict(exp=exp, profile="quick", dataset="fashion_mnist", family=family,
                              family_kind="frozen" if family.startswith("frozen") else "trained", budget=budget,
                              subset=10000, epochs=5, built=built, lr=lr, weight_decay=wd, act_lr_mult=0.1, seed=s,
                              status="ok", val_accuracy=a, test_accuracy=a, trainable_params=trainable,
                              macs_per_example=macs, **kw) for s, a in enumerate(accs)])


FROZEN = [0.822, 0.820, 0.825, 0.821, 0.823]
TWIN = [0.800, 0.805, 0.803, 0.799, 0.806]


def table(*parts):
    return "\n".join(twin_width.twin_width_table(pd.concat(parts, ignore_index=True)))


def given(built):
    """The twin's shape as its overrides give it (its record has no ``built``)."""
    return " ".join(f"model.{kv}" for kv in built.split()) + " model.heads=3"


def wide_twin(accs=TWIN, lr=0.003, built=WIDE):
    return rows("twin_width", "transformer", None, accs, budget=float("nan"), lr=lr, wd=0.0,
                trainable=1_003_184, macs=8.3e6, overrides=f"+family=transformer model.budget=null {given(built)}")


def test_the_twin_of_the_frozen_width_is_paired_by_seed():
    text = table(rows("fair_final", "frozen_transformer", WIDE, FROZEN), wide_twin())
    line = next(ln for ln in text.splitlines() if ln.startswith("| fashion_mnist"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:3] == ["fashion_mnist", "8,000", WIDE]
    assert cells[4] == "7,996" and cells[7] == "1,003,184" and cells[5] == "0.19" and cells[8] == "8.30"
    diff = [100 * (f - t) for f, t in zip(FROZEN, TWIN)]
    assert float(cells[9]) == pytest.approx(sum(diff) / 5, abs=0.005)
    assert cells[-2] == "5" and cells[-1] == "**ahead**"


def test_a_twin_of_another_width_or_recipe_is_not_paired():
    frozen = rows("fair_final", "frozen_transformer", WIDE, FROZEN, overrides="+family=frozen_transformer model.budget=8000")
    with pytest.raises(NoFairRows, match="twin_width.sh"):
        table(frozen, wide_twin(built="dim=600 mlp=1331"))
    with pytest.raises(NoFairRows):
        table(frozen, wide_twin().assign(epochs=15))


def test_only_the_twin_runs_its_screen_selects_are_pooled():
    frozen = rows("fair_final", "frozen_transformer", WIDE, FROZEN)
    screen = pd.concat([rows("twin_width_8000_tune", "transformer", None, [v], budget=float("nan"), lr=lr, wd=0.0,
                             overrides=given(WIDE)) for lr, v in ((0.001, 0.70), (0.003, 0.80), (0.01, 0.75))],
                       ignore_index=True)
    stale = wide_twin(accs=[0.9] * 5, lr=0.01)  # finals of a choice the screen no longer makes
    text = table(frozen, screen, wide_twin(), stale)
    assert "| 5 | **ahead** |" in text
    assert "80.26" in text and "90.00" not in text  # the chosen lr's mean test accuracy, not the stale one's


def test_the_fair_section_lists_it_and_skips_it_with_one_line_without_rows():
    logged = []
    frozen = rows("fair_final", "frozen_transformer", WIDE, FROZEN)
    text = "\n".join(fair_section(pd.concat([frozen, wide_twin()], ignore_index=True), log=logged.append))
    assert "a trained twin of its width" in text
    fair_section(frozen, log=logged.append)
    assert any("skipped twin_width_table" in m for m in logged)


def test_a_selection_without_a_budget_gives_overrides_without_one():
    screen = pd.concat([rows("twin_width_8000_tune", "transformer", WIDE, [v], budget=float("nan"), lr=lr, wd=0.0)
                        for lr, v in ((0.001, 0.70), (0.003, 0.80))], ignore_index=True)
    sel = select(screen, exp="twin_width_8000_tune")
    assert len(sel) == 1 and sel["lr"].item() == 0.003
    words = final_overrides(sel.iloc[0])
    assert not [w for w in words if w.startswith("model.budget")]
    assert words[:3] == ["+family=transformer", "optim.lr=0.003", "optim.weight_decay=0.0"]
    assert select(screen).empty  # the default experiment (fair_tune) never reads them


def test_the_pair_is_found_where_the_full_profile_also_ran_that_budget():
    # the fair table shows the full profile's rows at fashion_mnist 8k; the transformers ran the quick one only
    full = rows("fair_final", "frozen_cnn", None, FROZEN).assign(profile="full", subset=float("nan"), epochs=15)
    text = table(rows("fair_final", "frozen_transformer", WIDE, FROZEN), wide_twin(), full)
    assert "| fashion_mnist | 8,000 | dim=243 mlp=521 |" in text
