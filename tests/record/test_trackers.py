"""The ``logger`` group (issue 15, item 2): csv by default (the record only), tensorboard, mlflow
(local file store) and wandb (offline), each run for real on a tiny digits job; never part of the
signature; a missing library is one line naming the extra, before training."""

import importlib.util
import json
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from frozen_bench.cli import main
from frozen_bench.config import conf_dir
from frozen_bench.models import prune
from frozen_bench.errors import UserError
from frozen_bench.record import trackers
from frozen_bench.record.signature import signature

TINY = ["trainer.epochs=1", "trainer.latency_reps=0"]


def composed(*overrides):
    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


def run_cli(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["frozen-bench", *args])
    return main(list(args))


def needs(module):
    return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                              reason=f"{module} is not installed (pip install 'frozen-bench[trackers]')")


def the_run(res):
    [mfile] = sorted((res / "runs").glob("*/metrics.json"))
    return json.loads(mfile.read_text())


@pytest.mark.parametrize("other", ["tensorboard", "mlflow", "wandb"])
def test_the_logger_is_not_part_of_the_signature(other):
    base = prune(composed())
    assert base["logger"] == {"name": "csv"}
    assert signature(prune(composed(f"logger={other}"))) == signature(base)
    assert signature({k: v for k, v in base.items() if k != "logger"}) == signature(base)  # records from before the group


def test_csv_is_the_default_and_writes_nothing_more(tmp_path, monkeypatch):
    res = tmp_path / "results"
    assert run_cli(monkeypatch, "run", f"results_dir={res}", *TINY) == 0
    assert the_run(res)["status"] == "ok"
    assert sorted(p.name for p in res.iterdir() if not p.name.startswith(".")) == ["all.csv", "runs"]


def test_a_missing_library_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(UserError, match=r"frozen-bench\[trackers\]"):
        trackers.require({"logger": {"name": "mlflow"}})
    res = tmp_path / "results"
    capsys.readouterr()
    assert run_cli(monkeypatch, "run", f"results_dir={res}", "logger=mlflow", *TINY) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'frozen-bench[trackers]'" in err[0] and "Traceback" not in err[0]
    assert not (res / "runs").exists() or not any((res / "runs").iterdir())  # before training: nothing written


def test_flatten_and_numbers():
    assert trackers.flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": 1, "a.c": "[1, 2]", "d": None}
    assert trackers.numeric({"x": 1, "y": float("nan"), "z": True, "s": "ok", "n": None}) == {"x": 1.0}


@needs("tensorboard")
def test_tensorboard_event_file_holds_history_final_metrics_and_hparams(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    res = tmp_path / "results"
    assert run_cli(monkeypatch, "run", f"results_dir={res}", "logger=tensorboard", *TINY) == 0
    m = the_run(res)
    logdir = res / "tensorboard" / m["signature"]
    assert list(logdir.glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(logdir))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "history/train_loss" in tags and "final/test_accuracy" in tags
    [final] = acc.Scalars("final/test_accuracy")
    assert final.value == pytest.approx(m["test_accuracy"], rel=1e-6)
    assert len(acc.Scalars("history/train_loss")) == 1  # one epoch, one history row
    plugins = acc.PluginTagToContent("hparams")
    assert plugins  # the hparams summaries (the config, flattened)


@needs("mlflow")
def test_mlflow_store_is_read_back_as_the_documented_viewer_reads_it(tmp_path, monkeypatch, capsys):
    """The default store is sqlite:///<results_dir>/mlflow.db, which `mlflow ui --backend-store-uri`
    opens (MLflow's viewer refuses the file store, in maintenance mode); read back here with
    MlflowClient at the URI of the documented command, from the folder the run started in."""
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    assert run_cli(monkeypatch, "run", "results_dir=res", "logger=mlflow", *TINY) == 0
    m = the_run(tmp_path / "res")
    assert (tmp_path / "res" / "mlflow.db").is_file() and not (tmp_path / "mlruns").exists()
    assert "view: mlflow ui --backend-store-uri sqlite:///" in capsys.readouterr().out
    client = MlflowClient(tracking_uri="sqlite:///res/mlflow.db")  # conf/logger/mlflow.yaml's command, as written
    exp = client.get_experiment_by_name("frozen-bench")
    [run] = client.search_runs([exp.experiment_id])
    assert run.info.run_name == m["signature"] and run.info.status == "FINISHED"
    assert run.data.metrics["test_accuracy"] == pytest.approx(m["test_accuracy"])
    assert run.data.params["transform.name"] == "wht" and run.data.params["trainer.epochs"] == "1"
    assert run.data.tags["status"] == "ok"
    assert [x.step for x in client.get_metric_history(run.info.run_id, "train_loss")]  # the history rows
    assert "mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db" in (
        __import__("pathlib").Path(conf_dir()) / "logger" / "mlflow.yaml").read_text()


@needs("wandb")
def test_wandb_offline_run_is_written_under_results_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    res = tmp_path / "results"
    assert run_cli(monkeypatch, "run", f"results_dir={res}", "logger=wandb", *TINY) == 0
    m = the_run(res)
    [run_dir] = list((res / "wandb").glob("offline-run-*"))
    [log] = list(run_dir.glob("*.wandb"))  # the offline transaction log that `wandb sync` uploads
    blob = log.read_bytes()  # protobuf records, not compressed: the names and values are in it as text
    for text in (m["signature"], "transform.name", "train_loss", "test_accuracy", repr(m["test_accuracy"])[:8]):
        assert text.encode() in blob, text
