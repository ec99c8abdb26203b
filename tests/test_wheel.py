"""The wheel carries the configs: built with `pip wheel`, installed without -e into a fresh environment.

The fresh virtual environment sees the test environment's installed packages
through a .pth line (torch and the rest are not installed twice; the test
environment's own .pth files, such as the editable install's finder, are not
run), and `archsim` comes from the wheel alone.
"""

import os
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)], check=True,
                   capture_output=True)
    (path,) = out.glob("archsim-*.whl")
    return path


def test_the_wheel_holds_the_default_demo_config(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "archsim/configs/demo.yaml" in names
    assert "archsim/configs/quickstart.yaml" in names and "archsim/configs/imagenet69.yaml" in names
    assert zipfile.ZipFile(wheel).read("archsim/configs/demo.yaml") == (ROOT / "configs" / "demo.yaml").read_bytes()
    assert {"archsim/cli/demo.py", "archsim/sat/formula.py", "analysis/report/render.py", "attacks/pgd.py"} <= set(names)


def test_the_installed_wheel_finds_its_config_from_another_folder(wheel, tmp_path):
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "test_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True,
                   capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    helped = subprocess.run([str(env_dir / "bin" / "archsim"), "demo", "--help"], cwd=elsewhere, env=env,
                            capture_output=True, text=True)
    assert helped.returncode == 0, helped.stderr
    found = subprocess.run([str(python), "-c", "import archsim; from archsim.cli.demo import default_config_path; "
                            "p = default_config_path(); print(archsim.__file__); print(p); print(p.is_file())"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout.split("\n")
    package, config, exists = found[:3]
    assert Path(package).is_relative_to(purelib)  # the installed copy, not the repository
    assert Path(config).is_relative_to(purelib) and Path(config).name == "demo.yaml" and exists == "True"
