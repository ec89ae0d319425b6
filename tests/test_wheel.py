"""A non-editable install finds its configs: build the wheel, install it into a bare folder and
run ``frozen-bench run --info`` / ``--cfg job`` from somewhere that has no conf/ folder."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_configs_and_cli_finds_them(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True, cwd=tmp_path)
    [whl] = wheels.glob("frozen_bench-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    assert "frozen_bench/conf/config.yaml" in names
    assert "frozen_bench/conf/exp/digits_wht.yaml" in names
    assert "frozen_bench/nn/csrc/fastmix.cpp" in names  # the kernel source, built at first use
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(whl)],
                   check=True, capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = "import frozen_bench.config as c; print(c.conf_dir())"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=work, capture_output=True, text=True, check=True).stdout
    assert out.strip().startswith(str(target))
    cfg = subprocess.run([sys.executable, "-m", "frozen_bench", "run", "--cfg", "job", "+exp=digits_wht"],
                         env=env, cwd=work, capture_output=True, text=True)
    assert cfg.returncode == 0, cfg.stderr
    assert "exp_name: digits_wht" in cfg.stdout
    info = subprocess.run([sys.executable, "-m", "frozen_bench", "run", "--info", "searchpath"],
                          env=env, cwd=work, capture_output=True, text=True)
    assert info.returncode == 0 and "frozen_bench/conf" in info.stdout
