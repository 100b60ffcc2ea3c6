"""Static checks of the notebooks in ``notebooks/`` (they are *executed* by nbmake, not here).

The notebooks are committed without outputs, run on the bundled data only, call the public API
instead of re-implementing pipeline stages, and write only into temporary folders.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))

#: A ``def`` whose name contains one of these re-implements a pipeline stage; notebooks must call
#: the fuzzyvec function instead (small display helpers with other names are fine).
PIPELINE_WORDS = (
    "build", "fit", "backtest", "label", "feature", "indicator", "membership", "resample", "decide",
    "predict", "sweep", "simulate", "zigzag", "normali",
)
DEF_RE = re.compile(r"^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)", re.MULTILINE)
#: Calls that write files; a notebook using any of them must write under ``tempfile.mkdtemp()``.
WRITE_RE = re.compile(r"\.write_(?:csv|parquet|text|bytes|html|json)\(|save_bundle\(|export_\w+\(|torch\.save\(")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _code(nb: dict) -> str:
    return "\n".join(_source(c) for c in nb["cells"] if c["cell_type"] == "code")


def test_at_least_five_numbered_notebooks():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert len(NOTEBOOKS) >= 5, f"expected at least 5 numbered notebooks in {NOTEBOOK_DIR}, found {NOTEBOOKS}"
    assert numbers == list(range(1, len(numbers) + 1)), f"notebooks must be numbered 01, 02, ... in order: {numbers}"


def test_notebook_index_lists_every_notebook():
    index = (NOTEBOOK_DIR / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in NOTEBOOKS if p.name not in index]
    assert not missing, f"notebooks/README.md does not list {missing}"
    assert "jupyter lab notebooks/" in index


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path: Path):
    nb = _load(path)
    dirty = [i for i, c in enumerate(nb["cells"])
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_python3_kernel(path: Path):
    kernelspec = _load(path).get("metadata", {}).get("kernelspec", {})
    assert kernelspec.get("name") == "python3", f"{path.name}: kernelspec is {kernelspec!r}, expected name 'python3'"
    assert kernelspec.get("language", "python") == "python"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_opens_with_a_numbered_title_and_explains_itself(path: Path):
    cells = _load(path)["cells"]
    assert cells and cells[0]["cell_type"] == "markdown", f"{path.name}: the first cell must be a markdown title"
    assert _source(cells[0]).lstrip().startswith(f"# {path.name[:2]}"), f"{path.name}: title must start '# {path.name[:2]}'"
    markdown = sum(c["cell_type"] == "markdown" for c in cells)
    code = sum(c["cell_type"] == "code" for c in cells)
    assert markdown >= code / 2, f"{path.name}: {markdown} markdown cells for {code} code cells; explain what the reader sees"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_uses_bundled_data_only(path: Path):
    text = "\n".join(_source(c) for c in _load(path)["cells"])
    assert "../shared" not in text and "shared/data" not in text, f"{path.name}: reads ../shared; use the bundled data"
    for pattern in ("http://", "https://", "pip install", "urlretrieve", "requests.get"):
        assert pattern not in _code(_load(path)), f"{path.name}: {pattern!r} - notebooks must run offline"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_pipeline_logic_defined_in_notebook(path: Path):
    code = _code(_load(path))
    offending = [name for name in DEF_RE.findall(code)
                 if any(word in name.lower() for word in PIPELINE_WORDS)]
    assert not offending, (f"{path.name}: defines {offending}; call the fuzzyvec API instead of re-implementing "
                           "a pipeline stage in a notebook")
    assert "import fuzzyvec" in code, f"{path.name}: does not use fuzzyvec"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_writes_only_to_a_temporary_folder(path: Path):
    code = _code(_load(path))
    if WRITE_RE.search(code):
        assert "tempfile.mkdtemp(" in code, f"{path.name}: writes files but not under tempfile.mkdtemp()"
    assert "os.chdir" not in code and "%cd" not in code, f"{path.name}: must not change the working directory"
