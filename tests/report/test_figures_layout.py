"""Every figure passes a reader's eye: no two texts overlap, nothing is cut off by the edge, no
legend sits on the data (measured with matplotlib's renderer, report.layout)."""

import pytest

from frozen_bench.report import common
from frozen_bench.report.figures import FIGURES, make_all
from frozen_bench.report.layout import layout_problems
from tests.report.test_figures import fake_all_csv


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """Every figure drawn (once) from a small fake all.csv, companion sweeps too: {name: problems}."""
    tmp = tmp_path_factory.mktemp("layout")
    seen = {}
    hook = lambda fig, name: seen.__setitem__(name, layout_problems(fig))  # noqa: E731
    common.ON_SAVE.append(hook)
    try:
        fake_all_csv(tmp / "all.csv", companion=True)
        _, skipped = make_all(tmp / "all.csv", tmp / "figs", log=lambda *_: None)
    finally:
        common.ON_SAVE.remove(hook)
    assert not skipped
    return seen


def test_every_figure_is_drawn(drawn):
    drawn_figures = {name.split("_fashion_mnist")[0].split("_digits")[0] for name in drawn}
    assert set(FIGURES) <= drawn_figures


def test_no_text_overlaps_and_nothing_is_cut_off(drawn):
    bad = {name: problems for name, problems in drawn.items() if problems}
    assert not bad, "\n".join(f"{name}: {p}" for name, problems in bad.items() for p in problems)


def test_the_checker_sees_an_overlap_a_cut_off_title_and_a_legend_on_data():
    fig, ax = common.plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1], "o-", label="data")
    ax.legend(loc="upper left", bbox_to_anchor=(0.9, 1.1))  # over the point (1, 1)
    ax.annotate("a label", (0.5, 0.5))
    ax.annotate("a label too", (0.52, 0.5))
    ax.set_title("a title much too long for a figure this narrow, so it runs off the edge")
    problems = layout_problems(fig)
    common.plt.close(fig)
    assert any("overlaps" in p and "'a label'" in p for p in problems)
    assert any("title" in p and "cut off" in p for p in problems)
    assert any("legend covers" in p for p in problems)


def test_a_tidy_figure_has_no_problems():
    fig, ax = common.plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1], "o-")
    ax.set_title("tidy")
    fig.tight_layout()
    assert layout_problems(fig) == []
    common.plt.close(fig)
