"""A non-editable install finds its configs: build the wheel, install it into a bare folder and
run ``frozen-bench run --info`` / ``--cfg job`` from somewhere that has no conf/ folder."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_configs_and_cli_finds_them(tmp_path):
    # built from a copy of the sources: setuptools builds in the source folder's build/, and a
    # checkout's stale build/ would ship files deleted since (a removed config group)
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "results", "outputs", "multirun",
                                                              "*.egg-info", "__pycache__", ".pytest_cache"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(src)],
                   check=True, capture_output=True, cwd=tmp_path)
    [whl] = wheels.glob("frozen_bench-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    assert "frozen_bench/conf/config.yaml" in names
    assert "frozen_bench/conf/exp/digits_wht.yaml" in names
    assert "frozen_bench/nn/csrc/fastmix.cpp" in names  # the kernel source, built at first use
    shipped = {n for n in names if n.startswith("frozen_bench/conf/") and n.endswith(".yaml")}
    assert shipped == {f"frozen_bench/conf/{p.relative_to(ROOT / 'conf').as_posix()}" for p in (ROOT / "conf").rglob("*.yaml")}
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


def test_every_config_folder_is_a_listed_package():
    """setuptools warns about each data folder missing from `packages` (~14 lines on every install);
    a new config group must be listed in pyproject.toml too."""
    import tomllib

    packages = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {f"frozen_bench.conf.{d.name}" for d in (ROOT / "conf").iterdir() if d.is_dir() and not d.name.startswith((".", "_"))}
    assert not folders - packages, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(folders - packages)}"
    assert "frozen_bench.nn.csrc" in packages


def test_every_code_package_is_listed():
    """A wing missing from `packages` is left out of the wheel: `frozen-bench predict` would fail
    in an installed copy only."""
    import tomllib

    packages = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    code = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "frozen_bench").rglob("__init__.py")
            if "__pycache__" not in p.parts}
    assert not code - packages, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(code - packages)}"
