"""tables.md names the CSV it was made from, and each table says how many of its rows are stale
(made by other result code) or came from uncommitted code (issue 26, items 2 and 7)."""

import pandas as pd

from frozen_bench.report.tables import write_tables


def test_each_table_counts_its_stale_and_uncommitted_rows(tmp_path):
    rows = [{"signature": f"s{i}", "status": "ok", "exp": "sweep_transforms", "dataset": "digits", "model": "frozen_mlp",
             "transform": t, "seed": i % 3, "test_accuracy": 0.9, "trainable_params": 1290, "latency_ms_b256_p50": 1.0,
             "stale": i == 0, "git_dirty": i in (1, 2)} for i, t in enumerate(["wht", "wht", "wht", "dct", "dct", "dct"])]
    df = pd.DataFrame(rows)
    path = write_tables(df, tmp_path / "tables.md", log=lambda *_: None, source="outputs/all.csv")
    text = path.read_text()
    assert "from `outputs/all.csv`" in text
    assert "of its 6 rows 1 stale, 2 from uncommitted code" in text
