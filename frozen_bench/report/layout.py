"""What a reader's eye checks on a drawn figure, measured with matplotlib's renderer.

``layout_problems(fig)`` lists, as sentences: two text elements whose boxes overlap (titles, axis
labels, tick labels, point labels, captions; a legend counts as one box), text cut off by the
figure edge, a legend drawn over data points, and a point label (an annotation) drawn over another
point's marker. ``tests/report/test_figures_layout.py`` runs it on
every figure; ``report.common.ON_SAVE`` is how a caller gets the figures before they are closed.
"""

from __future__ import annotations

import numpy as np
from matplotlib.collections import PathCollection
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox

SLACK = 1.0  # pixels: boxes that merely touch do not overlap
MARKER_HALF = 3.0  # points: half the side of the box a marker is taken to fill (errorbar markers are ms 5-6)


def _shown(t: Text) -> bool:
    return t.get_visible() and bool(t.get_text().strip())


def _ticklabels(axis) -> list[Text]:
    """The tick labels this axis draws: those whose tick lies inside the view interval."""
    lo, hi = sorted(axis.get_view_interval())
    span = (hi - lo) or 1.0
    out = []
    for tick in axis.get_major_ticks() + axis.get_minor_ticks():
        loc = tick.get_loc()
        if loc is None or not (lo - 1e-9 * span <= loc <= hi + 1e-9 * span):
            continue
        out += [lab for lab in (tick.label1, tick.label2) if lab.get_visible() and _shown(lab)]
    return out


def texts(fig) -> list[tuple[str, object]]:
    """(name, artist) of every text element and legend of ``fig``."""
    items = [(f"figure text {t.get_text()[:40]!r}", t) for t in fig.texts if _shown(t)]
    items += [("figure legend", leg) for leg in fig.legends]
    for k, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        for title in (ax.title, ax._left_title, ax._right_title):
            if _shown(title):
                items.append((f"axes {k} title {title.get_text()[:40]!r}", title))
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            if _shown(axis.label):
                items.append((f"axes {k} {name}label {axis.label.get_text()[:40]!r}", axis.label))
            if _shown(axis.get_offset_text()):
                items.append((f"axes {k} {name} offset text", axis.get_offset_text()))
            items += [(f"axes {k} {name} tick {t.get_text()!r}", t) for t in _ticklabels(axis)]
        items += [(f"axes {k} text {t.get_text()[:40]!r}", t) for t in ax.texts if _shown(t)]
        if ax.get_legend() is not None and ax.get_legend().get_visible():
            items.append((f"axes {k} legend", ax.get_legend()))
    return items


def _data_points(ax, markers_only: bool = False) -> np.ndarray:
    """Display coordinates of the drawn data points and line vertices of ``ax`` (clipped to it);
    ``markers_only``: only lines drawn with a marker, and scatter points."""
    pts = []
    for line in ax.lines:
        xy = line.get_xydata()
        plain = str(line.get_marker()) in ("None", "", " ", "none")
        if line.get_visible() and len(xy) and not (markers_only and plain):
            pts.append(line.get_transform().transform(np.asarray(xy, float)))
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and coll.get_visible() and len(coll.get_offsets()):
            pts.append(coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), float)))
    if not pts:
        return np.zeros((0, 2))
    pts = np.concatenate(pts)
    pts = pts[np.isfinite(pts).all(axis=1)]
    box = ax.get_window_extent()
    inside = (pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)
    return pts[inside]


def box_of(artist, renderer=None) -> Bbox:
    """The box a reader sees as the artist's text: an annotation's own text, without its leader line
    (matplotlib's extent of an annotation spans its arrow too)."""
    if isinstance(artist, Annotation):
        return Text.get_window_extent(artist, renderer)
    return artist.get_window_extent(renderer)


def markers(ax) -> np.ndarray:
    """Display coordinates of the markers drawn on ``ax``: what a point label must not hide."""
    return _data_points(ax, markers_only=True)


def covered_markers(label: Annotation, box: Bbox, pts: np.ndarray) -> int:
    """How many markers in ``pts`` (display coordinates) the label's box ``box`` covers, its own
    point's markers (at the point it labels) not counted."""
    if not len(pts):
        return 0
    half = MARKER_HALF * label.figure.dpi / 72
    own = label.axes.transData.transform(np.asarray(label.xy, float)) if label.axes is not None else None
    if own is not None:
        pts = pts[np.hypot(*(pts - own).T) > 1.0]
    hit = ((pts[:, 0] + half > box.x0 + SLACK) & (pts[:, 0] - half < box.x1 - SLACK)
           & (pts[:, 1] + half > box.y0 + SLACK) & (pts[:, 1] - half < box.y1 - SLACK))
    return int(hit.sum())


def layout_problems(fig) -> list[str]:
    """Sentences naming each overlap of two texts, each text past the figure edge, each legend over
    data and each point label over another point's marker; [] for a figure a reader can read."""
    fig.canvas.draw()  # lay out (tight_layout, wrapping) as the saved file has it
    renderer = fig.canvas.get_renderer()
    items = [(name, a, box_of(a, renderer)) for name, a in texts(fig)]
    problems = []
    edge = fig.bbox
    for name, _, b in items:
        if b.x0 < edge.x0 - SLACK or b.y0 < edge.y0 - SLACK or b.x1 > edge.x1 + SLACK or b.y1 > edge.y1 + SLACK:
            problems.append(f"{name} is cut off by the figure edge ({_fmt(b)} vs {_fmt(edge)})")
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            (n1, _, b1), (n2, _, b2) = items[i], items[j]
            if _overlap(b1, b2):
                problems.append(f"{n1} overlaps {n2}")
    for k, ax in enumerate(fig.axes):
        leg = ax.get_legend()
        if leg is None or not leg.get_visible():
            continue
        box = leg.get_window_extent(renderer)
        for other in fig.axes:  # a twin's data lie under the same legend
            if other.get_window_extent().overlaps(box):
                pts = _data_points(other)
                hit = pts[(pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1)]
                if len(hit):
                    problems.append(f"axes {k} legend covers {len(hit)} data point(s)")
                    break
    for k, ax in enumerate(fig.axes):
        pts = markers(ax)
        for t in ax.texts:
            if isinstance(t, Annotation) and _shown(t):
                n = covered_markers(t, box_of(t, renderer), pts)
                if n:
                    problems.append(f"axes {k} point label {t.get_text()[:40]!r} covers {n} other marker(s)")
    return problems


def _overlap(a: Bbox, b: Bbox) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > SLACK and min(a.y1, b.y1) - max(a.y0, b.y0) > SLACK


def _fmt(b: Bbox) -> str:
    return f"[{b.x0:.0f},{b.y0:.0f} – {b.x1:.0f},{b.y1:.0f}]"

