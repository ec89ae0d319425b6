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


def _crowded():
    """Two points close together, the first one's label put right over the second one's marker."""
    fig, ax = common.plt.subplots(figsize=(3, 2))
    ax.plot([1.0, 1.3, 3.0], [1.0, 0.9, 3.0], "o")
    ax.set_xticks([]), ax.set_yticks([])  # no tick labels to clip in a figure this small
    label = ax.annotate("first point", (1.0, 1.0), textcoords="offset points", xytext=(4, -9), fontsize=6,
                        arrowprops=dict(arrowstyle="-"))
    fig.canvas.draw()
    return fig, ax, label


def test_the_checker_sees_a_point_label_over_another_points_marker_but_not_over_its_own():
    fig, ax, label = _crowded()
    assert any("'first point' covers 1 other marker" in p for p in layout_problems(fig))
    label.xyann = (20, 40)  # up and away from the second point
    assert layout_problems(fig) == []
    common.plt.close(fig)


def test_separate_labels_moves_a_label_off_a_neighbours_marker_and_keeps_it_in_the_axes():
    from frozen_bench.report.figures import separate_labels
    from frozen_bench.report.layout import box_of, covered_markers, markers

    fig, ax, label = _crowded()
    renderer = fig.canvas.get_renderer()
    assert covered_markers(label, box_of(label, renderer), markers(ax)) == 1
    separate_labels(fig, [label])
    box = box_of(label, renderer)
    assert covered_markers(label, box, markers(ax)) == 0
    assert ax.get_window_extent(renderer).contains(box.x0, box.y0) and ax.get_window_extent(renderer).contains(box.x1, box.y1)
    assert layout_problems(fig) == []
    common.plt.close(fig)
