"""Bad input: one clear line on stderr, a non-zero exit, nothing overwritten.

Every case runs the real CLI in-process (``frozen_bench.cli.main``) against a results folder that
already holds a finished record and an all.csv, and checks those bytes are untouched.
"""

from __future__ import annotations

import gzip

import pytest

from frozen_bench import data as D
from frozen_bench.record.table import read_all_csv
from frozen_bench.cli import main
from frozen_bench.errors import UserError
from tests.data_fixtures import snapshot

QUICK = ["trainer.epochs=1", "dataset.subset=64", "trainer.latency_reps=1"]




def run_bad(args, rd, capsys):
    before = snapshot(rd)
    code = main(["run", *args, f"results_dir={rd}"])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code != 0, err
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("frozen-bench run: error: "), err
    assert snapshot(rd) == before, "a bad input changed the results folder"
    return lines[0]


@pytest.mark.parametrize("args, expect", [
    (["transform=foo"], "unknown transform option 'foo'; choose one of dct, fft, identity, random_orth, wht"),
    (["-m", "transform=wht,nope"], "unknown transform option 'nope'"),
    (["+exp=nope"], "unknown +exp option 'nope'; choose one of"),
    (["adapter=lora", "adapter.rank=-1"], "adapter.rank must be an integer >= 0, got -1"),
    (["adapter=lora", "adapter.rank=1000"], "adapter.rank=1000 is larger than the width"),
    (["trainer.epochs=0"], "trainer.epochs must be an integer >= 1, got 0"),
    (["optim.lr=-1"], "optim.lr must be a number in (0.0, )"),
    (["trainer.batch_size=abc"], "trainer.batch_size must be an integer >= 1, got 'abc'"),
    (["foo.bar=1"], "Could not override 'foo.bar'. To append to your config use +foo.bar=1"),
    (["-m", "seed=0,1", "activation=bislope,relu", "activation.init_pos=2"], "Could not override 'activation.init_pos'"),
    (["trainer.epochs=["], "cannot parse the override 'trainer.epochs=['"),
])
def test_bad_values_one_line_nothing_written(args, expect, results, capsys):
    keys = {a.split("=")[0] for a in args}  # a key given twice with two values is its own error
    line = run_bad([*(q for q in QUICK if q.split("=")[0] not in keys), *args], results, capsys)
    assert expect in line


def test_unknown_group_option_exit_code(results, capsys):
    assert main(["run", "activation=nope", f"results_dir={results}"]) == 2
    assert "choose one of bislope, glu" in capsys.readouterr().err


def test_missing_dataset_offline(results, tmp_path, capsys):
    line = run_bad(["dataset=mnist", f"dataset.root={tmp_path / 'empty'}", "dataset.download=false", *QUICK],
                   results, capsys)
    assert "dataset=mnist: files not found" in line and "dataset.download=true" in line


def test_truncated_gz_dataset_file(results, tmp_path, capsys, monkeypatch):
    """A system copy of Fashion-MNIST whose .gz files are cut short (a broken download)."""
    from frozen_bench.data import vision

    sysdir = tmp_path / "system"
    sysdir.mkdir()
    for f in vision._FILES:
        blob = gzip.compress(b"\x00\x00\x08\x03" + bytes(4000))
        (sysdir / f"{f}.gz").write_bytes(blob[: len(blob) // 2])
    monkeypatch.setitem(vision.SOURCES, "fashion_mnist", ("FashionMNIST", 0.286, 0.353, (str(sysdir),)))
    line = run_bad(["dataset=fashion_mnist", f"dataset.root={tmp_path / 'root'}", "dataset.download=false", *QUICK],
                   results, capsys)
    assert "dataset=fashion_mnist: could not decompress" in line


def test_truncated_raw_dataset_file(results, tmp_path, capsys):
    """Decoded idx files present but cut short."""
    from frozen_bench.data import vision

    raw = tmp_path / "root" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in vision._FILES:
        (raw / f).write_bytes(b"\x00\x00\x08\x03\x00\x00\xea\x60" + bytes(100))
    line = run_bad(["dataset=mnist", f"dataset.root={tmp_path / 'root'}", "dataset.download=false", *QUICK],
                   results, capsys)
    assert "dataset=mnist" in line and "cannot read" in line


def test_bad_pickle_and_unreadable_wav(results, tmp_path, capsys, monkeypatch):
    """Whatever a loader's file library raises on a corrupt file (pickle, libsndfile) becomes one
    DatasetError line naming the dataset and the fix."""
    import pickle

    import soundfile

    bad_pkl, bad_wav = tmp_path / "batch.pkl", tmp_path / "clip.wav"
    bad_pkl.write_bytes(b"not a pickle at all")
    bad_wav.write_bytes(b"RIFF\x00\x00garbage")
    from frozen_bench.registry import Entry

    monkeypatch.setitem(D.DATASETS._entries, "corrupt_pickle", Entry("corrupt_pickle", lambda cfg: pickle.loads(bad_pkl.read_bytes())))
    monkeypatch.setitem(D.DATASETS._entries, "corrupt_wav", Entry("corrupt_wav", lambda cfg: soundfile.read(str(bad_wav))))
    line = run_bad(["dataset.name=corrupt_pickle", *QUICK], results, capsys)
    assert line.startswith("frozen-bench run: error: dataset=corrupt_pickle: cannot read its files (UnpicklingError")
    line = run_bad(["dataset.name=corrupt_wav", *QUICK], results, capsys)
    assert "dataset=corrupt_wav: cannot read its files" in line and "download or place them again" in line


def test_unwritable_output_folder(results, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("a file where a folder should be\n")
    before = snapshot(results)
    code = main(["run", *QUICK, f"results_dir={blocker / 'results'}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err
    assert f"results_dir={blocker / 'results'} is not writable" in err
    assert blocker.read_text() == "a file where a folder should be\n" and snapshot(results) == before


@pytest.mark.parametrize("text, expect", [
    ("signature,status,dataset,model\nabc,ok,digits,frozen_mlp\n", "lacks the column(s) seed"),
    ("signature,status,dataset,model,seed\nabc,ok,digits,frozen_mlp,0\nabc,ok,digits,frozen_mlp,1\n", "repeated signatures"),
    ("signature,status,dataset,model,seed\nabc,okay,digits,frozen_mlp,0\n", "unknown status value(s) okay"),
    ("signature,status,dataset,model,seed\nabc,ok,digits,frozen_mlp,0,extra,cells\n", "is not a readable CSV"),
    ("", "is not a readable CSV"),
    ("signature,status,dataset,model,seed\nabc,ok,digits,frozen_mlp,zero\n", "seed holds non-numbers"),
])
def test_read_all_csv_rejects_hand_edited_shapes(tmp_path, text, expect):
    path = tmp_path / "all.csv"
    path.write_text(text)
    with pytest.raises(UserError) as e:
        read_all_csv(path)
    msg = str(e.value)
    assert expect in msg and "frozen-bench collect" in msg and "\n" not in msg
    assert path.read_text() == text  # reading never rewrites it


def test_read_all_csv_accepts_collect_output(results):
    df = read_all_csv(results / "all.csv")
    assert list(df["signature"]) == ["0123456789ab"] and list(df["status"]) == ["ok"]


def test_read_all_csv_keeps_number_like_signatures_as_text(tmp_path):
    # hex signatures of digits only, or digits around one "e", would otherwise parse as numbers
    path = tmp_path / "all.csv"
    path.write_text("signature,legacy_signature,status,dataset,model,seed\n"
                    "0772498e6509,012345678901,ok,digits,frozen_mlp,0\n")
    df = read_all_csv(path)
    assert list(df["signature"]) == ["0772498e6509"] and list(df["legacy_signature"]) == ["012345678901"]


def test_collect_to_unwritable_csv_is_one_line(results, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    before = snapshot(results)
    assert main(["collect", "--results-dir", str(results), "--out", str(blocker / "all.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("frozen-bench collect: error: cannot write the CSV") and "\n" not in err
    assert snapshot(results) == before
