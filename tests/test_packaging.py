"""Packaging and documentation: pyproject, environment.yml, README and CI agree."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import yaml

import fuzzyvec as fv

from .conftest import REPO_ROOT

_SPLIT = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)\s*(.*)$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse(req: str) -> tuple[str, str]:
    req = req.strip()
    m = _SPLIT.match(req)
    assert m, req
    name, spec = m.groups()
    # conda writes "python=3.11" and "pkg==x"; normalise separators and spaces
    return _norm(name.split("[")[0]), spec.replace(" ", "")


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_pins_required_by_the_issue():
    deps = dict(_parse(d) for d in _pyproject()["project"]["dependencies"])
    assert deps["torch"] == "==2.13.0"
    assert deps["vectorbt"] == "==1.2.0"
    assert deps["numpy"] == ">=2.4.6,<2.5"
    assert deps["pandas"] == ">=3.0.3,<4"
    assert deps["numba"] == ">=0.68,<0.69"
    assert deps["polars"].startswith(">=2") and deps["plotly"].startswith(">=7")
    for name in ("pyarrow", "pydantic", "pyyaml"):
        assert name in deps
    dev = {n for n, _ in (_parse(d) for d in _pyproject()["project"]["optional-dependencies"]["dev"])}
    for name in ("pytest", "hypothesis", "nbmake", "jupyterlab", "ipykernel", "ruff", "ta-lib",
                 "scikit-fuzzy", "onnx", "onnxruntime", "onnxscript", "ray"):
        assert name in dev, name
    # the Ray extra: one exact version with Python 3.11 wheels, Tune included
    assert _pyproject()["project"]["optional-dependencies"]["ray"] == ["ray[tune]==2.60.0"]


def test_environment_yml_lists_the_same_dependencies():
    project = _pyproject()["project"]
    py: dict[str, str] = {}
    for req in project["dependencies"]:
        n, s = _parse(req)
        py[n] = s
    for reqs in project["optional-dependencies"].values():
        for req in reqs:
            n, s = _parse(req)
            assert py.get(n, s) == s, f"{n} pinned differently in pyproject groups"
            py[n] = s
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    conda: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for req in dep["pip"]:
                if req.startswith("-e"):
                    continue
                n, s = _parse(req)
                conda[n] = s
        else:
            n, s = _parse(dep)
            conda[n] = s
    assert conda.pop("python") == "=3.11"
    conda.pop("pip")
    assert conda == py
    assert "conda-forge" in env["channels"]


def test_readme_quick_start_has_exactly_two_commands():
    text = (REPO_ROOT / "README.md").read_text()
    block = text.split("## Quick start", 1)[1].split("```", 2)[1]
    cmds = [ln for ln in block.splitlines()[1:] if ln.strip() and not ln.strip().startswith("#")]
    assert len(cmds) == 2, cmds
    assert "pip install" in cmds[0] and "python -m fuzzyvec.run" in cmds[0]
    assert cmds[1].startswith("python -m pytest")


def test_ci_script_runs_the_readme_commands():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "README.md" in ci and "venv" in ci
    assert (REPO_ROOT / ".ci" / "run").stat().st_mode & 0o111
    assert "rc -eq 5" in ci  # "no tests collected" fails CI


def test_required_layout():
    for p in ("notebooks", "src/fuzzyvec", "strategies", "tests", "benchmarks", "environment.yml",
              "pyproject.toml", "README.md", ".ci/run"):
        assert (REPO_ROOT / p).exists(), p


def test_version_matches_metadata():
    from importlib.metadata import version

    assert version("fuzzyvec") == fv.__version__


def test_public_api_names():
    for name in ("load_strategy", "load_ohlcv", "load_strategy_data", "resolve_features", "build_features",
                 "compute_indicator", "membership", "FuzzyvecError", "StrategyError", "DataError",
                 "SchemaMismatchError", "BundleError"):
        assert hasattr(fv, name), name
    assert issubclass(fv.StrategyError, fv.FuzzyvecError) and issubclass(fv.BundleError, fv.FuzzyvecError)
    assert set(fv.__all__) <= set(dir(fv))


def test_import_is_light():
    """`import fuzzyvec` does not pull in torch, vectorbt or numba."""
    code = "import sys, fuzzyvec; print(any(m in sys.modules for m in ('torch', 'vectorbt', 'numba')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_ruff_clean():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks", "notebooks"],
                       capture_output=True, text=True, cwd=REPO_ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_module_over_600_lines():
    big = [(p.name, n) for p in (REPO_ROOT / "src").rglob("*.py")
           if (n := len(p.read_text().splitlines())) > 600]
    assert not big, big
