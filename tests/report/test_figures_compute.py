"""The compute figure: accuracy against trainable budget and against multiply-adds, Pareto front marked."""

from __future__ import annotations

import pandas as pd

from frozen_bench.report import figures


def test_pareto_front_keeps_only_undominated_points():
    pts = [(10, 50.0), (20, 60.0), (15, 40.0), (30, 55.0), (40, 70.0), (20, 60.0)]
    assert figures.pareto_front(pts) == [0, 1, 4]  # (15, 40) and (30, 55) are beaten by cheaper, better points


def rows():
    fams = {"frozen_resnet": ("frozen", 0.40, 42e6), "trained_cnn": ("trained", 0.57, 2e6),
            "frozen_cnn": ("frozen", 0.47, 1e6), "frozen_cnn_random_filters": ("control", 0.45, None)}
    return pd.DataFrame([dict(exp="fair_final", profile="quick", dataset="cifar10_jpeg", synthetic=False, family=f,
                              family_kind=k, budget=8000, trainable_params=7500, seed=s, status="ok",
                              val_accuracy=acc, test_accuracy=acc + 0.001 * s, macs_per_example=macs, steps=790)
                         for f, (k, acc, macs) in fams.items() for s in range(5)])


def test_compute_figure_draws_both_axes_and_says_what_it_left_out(tmp_path, monkeypatch):
    from frozen_bench.report import common

    seen = {}
    monkeypatch.setattr(common, "ON_SAVE", [lambda fig, name: seen.update({name: fig})])
    paths = figures.FIGURES.build("fair_compute", rows(), tmp_path)
    assert {p.name for p in paths} == {"fair_compute_cifar10_jpeg.png", "fair_compute_cifar10_jpeg.pdf"}
    fig = seen["fair_compute_cifar10_jpeg"]
    left, right = fig.axes[:2]
    assert left.get_xscale() == "log" and right.get_xscale() == "log"
    text = " ".join(t.get_text() for t in fig.texts)
    assert "1 (family, budget) without a multiply-add count" in " ".join(text.split())  # the control had none
    ringed = {t.get_text() for t in right.texts}  # the front on compute: cheapest, then better
    assert ringed == {"frozen_cnn 8,000", "trained_cnn 8,000"}


def test_labels_of_close_front_points_do_not_overlap(tmp_path, monkeypatch):
    from frozen_bench.report import common

    # the Fashion-MNIST quick front's last steps (multiply-adds, accuracy): the last two labels, one
    # pointing right and the last pointing left, printed over each other before they were moved apart
    front = [(7.2e3, 0.822), (1.3e4, 0.836), (2.0e4, 0.842), (6.4e4, 0.870), (2.3e5, 0.881), (8.4e5, 0.888)]
    pts = [*front, (3.3e5, 0.854), (1.6e5, 0.823), (5.1e5, 0.829)]
    df = pd.DataFrame([dict(exp="fair_final", profile="quick", dataset="d", synthetic=False, family=f"family_{i}",
                            family_kind="trained", budget=8000, trainable_params=7000 + 100 * i, seed=s, status="ok",
                            val_accuracy=acc, test_accuracy=acc + 0.002 * s, macs_per_example=macs, steps=10)
                       for i, (macs, acc) in enumerate(pts) for s in range(3)])
    seen = {}
    monkeypatch.setattr(common, "ON_SAVE", [lambda fig, name: seen.update({name: fig})])
    figures.FIGURES.build("fair_compute", df, tmp_path)
    fig = seen["fair_compute_d"]
    fig.canvas.draw()
    right = fig.axes[1]
    boxes = [t.get_window_extent() for t in right.texts]
    assert len(boxes) == len(front)
    assert not [(i, j) for i in range(len(boxes)) for j in range(i) if boxes[i].overlaps(boxes[j])]
