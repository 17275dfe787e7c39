"""`newsletter` as an installed package, not a checkout: the wheel carries the templates, prompts,
starter files and sample day, and once installed in a fresh virtualenv its console script makes
the demo issue from an empty folder (`newsletter init`, then `newsletter run --demo`).

Offline on purpose: the fresh venv gets the dependencies by pointing one .pth line at the test
interpreter's site-packages (a .pth line adds that folder only; its own .pth files, such as a
development checkout's editable-install hook, are not run), and the wheel is installed into it
with `--no-deps --no-index`. So what runs is the wheel's copy, found through the venv's own
site-packages, from a folder that holds nothing else. Any missing piece fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from newsletter import __version__
from newsletter.templating import REQUIRED

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "newsletter"
# run by the installed interpreter: where newsletter comes from, and which declared dependencies it lacks
CHECK_INSTALL = """
import importlib.metadata as m, re, newsletter
print(newsletter.__file__)
missing = []
for req in m.requires("newsletter") or []:
    if "extra ==" in req:
        continue
    name = re.match(r"[A-Za-z0-9._-]+", req).group()
    try:
        m.version(name)
    except m.PackageNotFoundError:
        missing.append(name)
print(missing)
"""


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _can_build_offline() -> bool:
    """setuptools here can make a wheel without pip fetching a newer one for an isolated build."""
    import importlib.util

    import setuptools

    major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def _clean_env() -> dict[str, str]:
    """The environment minus anything that would point Python or newsletter back at this checkout."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "NEWSLETTER_CONFIG", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a clean copy of the sources (no build/ or egg-info left in the checkout)."""
    src = tmp_path_factory.mktemp("src")
    shutil.copy2(ROOT / "pyproject.toml", src)
    shutil.copy2(ROOT / "README.md", src)
    shutil.copytree(PACKAGE, src / "newsletter", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    # no network in tests: the dev extras bring a setuptools that builds wheels in place
    assert _can_build_offline(), "setuptools >= 70.1 is missing: `make test` installs it with the dev extras"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "--no-build-isolation", "-w", str(out),
           str(src)]
    r = _run(cmd, src, _clean_env(), timeout=180)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    wheels = list(out.glob("newsletter-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_carries_every_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for t in REQUIRED:
        assert f"newsletter/templates/{t}" in names, t
    # every non-Python file of the package (templates, prompts, starter files, the sample feed and
    # PDFs...) is in the wheel: a new data file not declared as package data fails here
    data = [p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert {"newsletter/starter/config.toml", "newsletter/starter/subscribers.toml",
            "newsletter/fetch/sample/arxiv-2026-02-09.atom"} <= set(data)
    assert len([d for d in data if d.endswith(".pdf")]) == 10
    missing = sorted(set(data) - names)
    assert not missing, f"not in the wheel (add them to [tool.setuptools.package-data]): {missing}"
    meta = zipfile.ZipFile(wheel).read(f"newsletter-{__version__}.dist-info/METADATA").decode()
    assert f"Version: {__version__}" in meta and "Requires-Dist: linkify-it-py" in meta
    entry = zipfile.ZipFile(wheel).read(f"newsletter-{__version__}.dist-info/entry_points.txt").decode()
    assert "newsletter = newsletter.cli:main" in entry


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed (dependencies borrowed from this interpreter's site-packages)."""
    root = tmp_path_factory.mktemp("venv")
    env = _clean_env()
    r = _run([sys.executable, "-m", "venv", "--without-pip", str(root)], root, env)
    assert r.returncode == 0, r.stderr
    py = root / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root, env)
                .stdout.strip())
    shared = Path(sysconfig.get_paths()["purelib"]).resolve()
    (site / "zz_dependencies.pth").write_text(f"{shared}\n")
    r = _run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--no-build-isolation", str(wheel)], root,
             env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert (site / "newsletter" / "templates" / "email.mjml.j2").is_file()
    return root


def test_installed_newsletter_makes_the_demo_from_an_empty_folder(venv, tmp_path):
    env = _clean_env()
    exe = str(venv / "bin" / "newsletter")
    folder = tmp_path / "empty"
    folder.mkdir()

    r = _run([str(venv / "bin" / "python"), "-c", CHECK_INSTALL], folder, env)
    assert r.returncode == 0, r.stderr
    where, missing = r.stdout.splitlines()
    assert Path(where).is_relative_to(venv), where  # the wheel's copy, not this checkout
    assert missing == "[]", f"dependencies not installed: {missing}"

    r = _run([exe, "--version"], folder, env)
    assert r.returncode == 0 and r.stdout.strip() == f"newsletter {__version__}", r.stderr

    r = _run([exe, "init"], folder, env)
    assert r.returncode == 0, r.stderr
    assert "newsletter run --demo" in r.stdout, r.stdout
    assert (folder / "config.toml").read_text() == (ROOT / "config.toml").read_text()
    assert (folder / "subscribers" / "team.toml").is_file()

    r = _run([exe, "run", "--demo"], folder, env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert "cv: 5 papers, sent" in r.stdout, r.stdout
    assert len(list((folder / "var" / "demo-outbox").glob("*.eml"))) == 2


def test_installed_newsletter_without_a_template_says_so_in_one_line(venv, tmp_path):
    """A damaged install (a template deleted) is one line and exit 2, not a Jinja traceback."""
    env = _clean_env()
    exe = str(venv / "bin" / "newsletter")
    folder = tmp_path / "proj"
    folder.mkdir()
    assert _run([exe, "init"], folder, env).returncode == 0
    site = next((venv / "lib").glob("python3*/site-packages"))
    template = site / "newsletter" / "templates" / "email.mjml.j2"
    saved = template.read_bytes()
    template.unlink()
    try:
        r = _run([exe, "run", "--demo"], folder, env)
    finally:
        template.write_bytes(saved)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert "email.mjml.j2 not found" in lines[0] and "reinstall newsletter" in lines[0], lines[0]
    assert not list((folder / "var").rglob("*.eml"))
