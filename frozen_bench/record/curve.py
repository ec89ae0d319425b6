"""The learning curve drawn into each run folder (``curve.png``) from its history rows."""

from __future__ import annotations

from pathlib import Path

from frozen_bench.atomic import atomic_open


def plot_curve(history: list[dict], out: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    steps = [r["step"] for r in history]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(steps, [r["train_loss"] for r in history], label="train loss", color="C0")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("train loss")
    for key in ("val_accuracy", "val_mse"):
        pts = [(r["step"], r[key]) for r in history if r.get(key) is not None]
        if pts:
            ax2 = ax.twinx()
            ax2.plot(*zip(*pts), label=key.replace("_", " "), color="C1", marker="o", ms=3)
            ax2.set_ylabel(key.replace("_", " "))
            ax2.legend(loc="center right", fontsize=8)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    try:
        with atomic_open(out, "wb") as f:
            fig.savefig(f, dpi=90, format="png")
    finally:
        plt.close(fig)

