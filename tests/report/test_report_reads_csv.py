"""The report reads CSV only: importing it, or drawing a function-fit figure, loads no torch and
no dataset module (checked in a fresh interpreter, where nothing else has loaded them)."""

import subprocess
import sys
import textwrap

import numpy as np

from frozen_bench.nn import targets

CHECK = textwrap.dedent("""
    import importlib, json, pkgutil, sys
    from pathlib import Path
    import pandas as pd
    import frozen_bench.report as report

    for m in pkgutil.iter_modules(report.__path__):
        importlib.import_module(f"frozen_bench.report.{m.name}")
    from frozen_bench.report import companion

    df = pd.DataFrame([{"status": "ok", "exp": "sweep_functions", "dataset": "synthetic_fn_inv", "synthetic": True,
                        "seed": 0, "function": fn, "activation": "relu", "mixing": "dense", "fn_lo": -5.0, "fn_hi": 5.0,
                        "linear_regions": 2, "test_mse": 0.1, "fn_pieces": json.dumps([[-5, 0, 1, 0], [0, 5, 0, 1]])}
                       for fn in ("inv", "step_shift")])
    assert companion.fig_fn_segments(df, Path(sys.argv[1]))
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "torch" or m.startswith("frozen_bench.data"))
    print(loaded)
    assert not loaded, loaded
""")


def test_report_loads_no_torch_and_no_dataset(tmp_path):
    r = subprocess.run([sys.executable, "-c", CHECK, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "fn_segments.png").exists()


def test_targets_are_the_same_for_numpy_and_torch():
    import torch

    from frozen_bench.data.functions import target

    x = targets.grid(-5.0, 5.0, 1001, np)
    assert np.array_equal(x, targets.grid(-5.0, 5.0, 1001, torch).numpy())
    for name in targets.TARGETS:
        with np.errstate(divide="ignore", invalid="ignore"):
            want = targets.evaluate(name, x, np)
        got = target(name)(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True)
