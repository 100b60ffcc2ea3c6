"""The README is a test (ARCHITECTURE rule 11): its Python API block runs, every command line it
shows parses with the real parser, and every metric key it documents is in the output."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from fuzzyvec.backtest.engine import STAT_KEYS
from fuzzyvec.run import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}")
    nxt = README.find("\n## ", start + 4)
    return README[start:nxt if nxt != -1 else None]


def _block(text: str, lang: str = "") -> str:
    m = re.search(rf"```{lang}\n(.*?)```", text, re.S)
    assert m, f"no ```{lang} block"
    return m.group(1)


def test_quick_start_has_exactly_two_commands():
    lines = [ln for ln in _block(_section("Quick start"), "bash").splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(lines) == 2, lines
    assert "pip install" in lines[0] and "python -m fuzzyvec.run" in lines[0]
    assert lines[1].strip() == "python -m pytest"


def _cli_lines() -> list[list[str]]:
    out = []
    for line in _block(_section("Command line")).splitlines():
        line = line.split("  #")[0].strip()
        if line.startswith("python -m fuzzyvec.run"):
            out.append(shlex.split(line)[3:])
    return out


def _concrete(argv: list[str]) -> list[str]:
    """Turn a usage line into arguments: drop [optional] groups' brackets and pick the first of A|B."""
    text = " ".join(argv).replace("[", "").replace("]", "").replace("...", "")
    placeholders = {"N": "3", "F": "0.001", "S": "0.0005", "DATE": "2023-03-01"}
    return [placeholders.get(tok, tok.split("|")[0]) for tok in text.split()]


def test_every_cli_line_parses_with_the_real_parser():
    parser = build_parser()
    lines = _cli_lines()
    assert [] in lines, "the README shows the bare demo command"
    commands = {argv[0] for argv in lines if argv}
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert commands == set(sub.choices), f"README shows {sorted(commands)}, the CLI has {sorted(sub.choices)}"
    for argv in lines:
        args = _concrete(argv)
        ns = parser.parse_args(args)
        assert ns.command == (args[0] if args else None), args


def test_documented_metric_keys_are_the_stats_keys():
    table = _section("Command line").split("### Metrics", 1)[1].split("###", 1)[0]
    keys = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            keys.update(re.findall(r"`([a-z_]+)`", row.split("|")[1]))
    assert keys == set(STAT_KEYS), (keys ^ set(STAT_KEYS))


@pytest.mark.slow
def test_python_api_block_runs(tmp_path, monkeypatch):
    code = _block(_section("Python API"), "python")
    shutil.copytree(ROOT / "strategies", tmp_path / "strategies")
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(code, "README.md#python-api", "exec"), ns)
    assert ns["frame"].columns[1:] == list(ns["schema"].names)
    assert ns["probs"].shape == (ns["frame"].height, 3)
    assert ns["grid"].table.height == 4
    assert (tmp_path / "models" / "example" / "model.pt").exists()
    assert ns["onnx_path"].exists() and ns["report"].clean
    assert set(STAT_KEYS) <= set(ns["result"].stats.columns)
