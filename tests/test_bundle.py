"""bundle.py: round trip, atomic writes, device-tagged and malicious model.pt files, the single
torch.load call site, and every metadata / shape check of load_bundle."""

from __future__ import annotations

import ast
import json
import os
import pickle
import re
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import fuzzyvec.model.bundle as bundle_mod
from fuzzyvec.errors import BundleError
from fuzzyvec.features.frame import FeatureSchema, FeatureSpec, schema_hash
from fuzzyvec.features.transform import fit_transform
from fuzzyvec.model.bundle import (
    CALLER_METADATA_KEYS,
    FORMAT_VERSION,
    ModelBundle,
    load_bundle,
    load_checkpoint,
    save_bundle,
    save_checkpoint,
)
from fuzzyvec.model.mlp import MLP, MLPConfig

SRC = Path(__file__).resolve().parents[1] / "src"


def _schema() -> FeatureSchema:
    return FeatureSchema((
        FeatureSpec("1h_rsi_fast_low", "1h", "fuzzy", "rsi_fast", "low"),
        FeatureSpec("1h_rsi_fast_high", "1h", "fuzzy", "rsi_fast", "high"),
        FeatureSpec("1h_rsi_14_raw", "1h", "raw", "rsi_14", normalization="zscore"),
        FeatureSpec("1h_return_1", "1h", "price", "return_1"),
        FeatureSpec("1h_rsi_14_raw_lag1", "1h", "raw", "rsi_14", None, 1, "zscore"),
    ), {"1h": 14}, "1h")


def _metadata() -> dict:
    return {
        "strategy": {"name": "unit", "version": 3},
        "labels": {"source": "forward_return", "horizon": 4, "threshold": 0.001},
        "symbols": ["EURUSD"],
        "timeframes": ["1h"],
        "date_ranges": {"train": ["2017-01-01", "2017-08-31"], "validation": ["2017-09-02", "2017-10-31"]},
        "data_fingerprint": "sha256:0123abcd",
        "training": {"best_epoch": 3, "epochs_run": 6, "stopped_early": True, "best_val_loss": float("inf")},
    }


def make_bundle(seed: int = 0) -> ModelBundle:
    schema = _schema()
    cfg = MLPConfig(len(schema), (8, 4), "tanh", 0.1)
    torch.manual_seed(seed)
    state = MLP(cfg).state_dict()
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(size=50), rng.uniform(size=50), rng.normal(50, 10, 50),
                         rng.normal(0, 0.01, 50), rng.normal(50, 10, 50)])
    return ModelBundle(model_config=cfg, state_dict=state, feature_names=schema.names,
                       schema_sha256=schema.sha256, transform=fit_transform(X, schema, scale_features=True),
                       metadata=_metadata(), metrics={"test": {"accuracy": 0.5, "loss": float("nan")}})


def _equal_states(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def saved(tmp_path) -> tuple[ModelBundle, Path]:
    b = make_bundle()
    return b, save_bundle(b, tmp_path / "models" / "unit" / "run1")


def _edit_metadata(folder: Path, **changes) -> None:
    meta = json.loads((folder / "metadata.json").read_text())
    meta.update(changes)
    (folder / "metadata.json").write_text(json.dumps(meta))


# ---------------------------------------------------------------------------------------------
# round trip
# ---------------------------------------------------------------------------------------------


def test_round_trip(saved):
    b, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "metrics.json", "model.pt"]
    assert [p.name for p in folder.parent.iterdir()] == ["run1"]            # no temp folder left
    assert b.path == folder
    loaded = load_bundle(folder)
    assert loaded.path == folder
    assert loaded.model_config == b.model_config
    assert loaded.feature_names == b.feature_names and loaded.schema_sha256 == b.schema_sha256
    assert loaded.transform == b.transform
    assert _equal_states(loaded.state_dict, b.state_dict)
    assert all(v.device.type == "cpu" for v in loaded.state_dict.values())
    assert loaded.metrics == {"test": {"accuracy": 0.5, "loss": None}}       # strict JSON: NaN -> null
    meta = loaded.metadata
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["resolved_features"] == list(b.feature_names)
    assert meta["schema_sha256"] == schema_hash(b.feature_names) and meta["feature_count"] == 5
    assert meta["architecture"] == b.model_config.to_dict()
    assert meta["transform"] == b.transform.to_dict()
    assert meta["class_encoding"] == {"BUY": 0, "HOLD": 1, "SELL": 2}
    assert set(meta["versions"]) >= {"fuzzyvec", "torch", "numba"} and meta["versions"]["torch"] == torch.__version__
    assert meta["created_at"]
    for key in CALLER_METADATA_KEYS:
        assert meta[key] == json.loads(json.dumps(_metadata()[key]).replace("Infinity", "null"))
    json.loads((folder / "metadata.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    net = loaded.model()
    assert not net.training
    x = torch.randn(4, 5)
    ref = MLP(b.model_config)
    ref.load_state_dict(b.state_dict)
    assert torch.equal(net(x), ref.eval()(x))
    # a loaded bundle can be saved again (derived keys agree, created_at kept)
    again = save_bundle(loaded, folder.parent / "run2")
    assert load_bundle(again).metadata == meta


def test_model_pt_is_a_plain_state_dict(saved):
    _, folder = saved
    with zipfile.ZipFile(folder / "model.pt") as z:
        pkl = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    globals_ = {m.group(0) for m in re.finditer(rb"c[\w.]+\n\w+\n", pkl)}
    assert all(g.startswith((b"ctorch", b"ccollections\nOrderedDict")) for g in globals_), globals_


def test_save_refuses_incomplete_or_contradicting_metadata(tmp_path):
    b = make_bundle()
    del b.metadata["data_fingerprint"]
    with pytest.raises(BundleError, match="data_fingerprint"):
        save_bundle(b, tmp_path / "x")
    b = make_bundle()
    b.metadata["feature_count"] = 4
    with pytest.raises(BundleError, match="feature_count"):
        save_bundle(b, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    save_bundle(make_bundle(), tmp_path / "y")
    with pytest.raises(BundleError, match="already exists"):
        save_bundle(make_bundle(), tmp_path / "y")


def test_bundle_object_checks_its_own_consistency():
    b = make_bundle()
    with pytest.raises(BundleError, match="schema_sha256"):
        ModelBundle(b.model_config, b.state_dict, b.feature_names[::-1], b.schema_sha256, b.transform)
    bad = dict(b.state_dict)
    bad["head.weight"] = torch.zeros(3, 5)
    with pytest.raises(BundleError, match=re.escape("head.weight")):
        ModelBundle(b.model_config, bad, b.feature_names, b.schema_sha256, b.transform)


# ---------------------------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fail_on", ["metadata.json", "metrics.json", "model.pt"])
def test_failure_mid_write_leaves_no_bundle_and_no_temp_folder(tmp_path, monkeypatch, fail_on):
    real_write, real_save = bundle_mod._write_json, torch.save
    written = []

    def write_json(path, obj):
        if path.name == fail_on:
            raise OSError("disk full (injected)")
        written.append(path.name)
        real_write(path, obj)

    def save(obj, f, *a, **k):
        if Path(f).name == fail_on:
            raise OSError("disk full (injected)")
        written.append(Path(f).name)
        real_save(obj, f, *a, **k)

    monkeypatch.setattr(bundle_mod, "_write_json", write_json)
    monkeypatch.setattr(torch, "save", save)
    parent = tmp_path / "models" / "unit"
    with pytest.raises(OSError, match="injected"):
        save_bundle(make_bundle(), parent / "run1")
    if fail_on != "model.pt":
        assert "model.pt" in written                       # the failure really was mid-write
    assert not (parent / "run1").exists()
    assert list(parent.iterdir()) == []


def test_checkpoint_round_trip_and_plain_values_only(tmp_path):
    state = {"epoch": 3, "w": {"a": torch.arange(4.0)}, "rng": torch.get_rng_state(), "h": [{"loss": 0.5, "v": None}],
             "t": (1, 2.0), "ok": True}
    path = save_checkpoint(state, tmp_path / "ckpt" / "state.pt")
    back = load_checkpoint(path)
    assert back["epoch"] == 3 and torch.equal(back["w"]["a"], state["w"]["a"]) and back["h"] == state["h"]
    with pytest.raises(TypeError, match="ndarray"):
        save_checkpoint({"x": np.zeros(2)}, tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()
    with pytest.raises(BundleError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


# ---------------------------------------------------------------------------------------------
# devices and malicious files
# ---------------------------------------------------------------------------------------------


def _retag(path: Path, location: str) -> None:
    """Rewrite the storage location tags ('cpu') in a torch zip file's pickle to ``location``."""
    new_tag = location.encode()
    patterns = [(b"X" + struct.pack("<I", 3) + b"cpu", b"X" + struct.pack("<I", len(new_tag)) + new_tag),  # BINUNICODE
                (b"\x8c\x03cpu", b"\x8c" + bytes([len(new_tag)]) + new_tag)]                            # SHORT_BINUNICODE
    with zipfile.ZipFile(path) as zin:
        entries = [(info, zin.read(info.filename)) for info in zin.infolist()]
    replaced = 0
    out = []
    for info, data in entries:
        if info.filename.endswith("/data.pkl"):
            for old, new in patterns:
                replaced += data.count(old)
                data = data.replace(old, new)
        out.append((info.filename, data))
    assert replaced >= 1, "no 'cpu' location tag found"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zout:
        for name, data in out:
            zout.writestr(name, data)


@pytest.mark.parametrize("location", ["cuda:0", "mps"])
def test_model_saved_on_another_device_loads_on_cpu(saved, location):
    b, folder = saved
    _retag(folder / "model.pt", location)
    with zipfile.ZipFile(folder / "model.pt") as z:
        pkl = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    assert location.encode() in pkl and b"cpu" not in pkl
    if location.startswith("cuda") and not torch.cuda.is_available():
        with pytest.raises(RuntimeError):          # the control: without map_location it would crash
            torch.load(folder / "model.pt", weights_only=True)
    loaded = load_bundle(folder)
    assert all(v.device.type == "cpu" for v in loaded.state_dict.values())
    assert _equal_states(loaded.state_dict, b.state_dict)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _write_marker(path: str) -> None:
    Path(path).write_text("code ran")


class _CallsFunction:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (_write_marker, (str(self.marker),))


@pytest.mark.parametrize("kind", ["os.system", "function", "plain pickle"])
def test_model_pt_with_pickled_callable_is_refused_without_running_it(saved, tmp_path, kind):
    b, folder = saved
    marker = tmp_path / f"marker_{kind.replace(' ', '_')}"
    state = dict(b.state_dict)
    if kind == "os.system":
        state["head.bias"] = _Exploit(marker)
        torch.save(state, folder / "model.pt")
    elif kind == "function":
        state["extra"] = _CallsFunction(marker)
        torch.save(state, folder / "model.pt")
    else:
        with open(folder / "model.pt", "wb") as f:
            pickle.dump({"hidden.0.weight": _Exploit(marker)}, f, protocol=2)
    with pytest.raises(BundleError, match=re.escape("refused: model.pt contains pickled objects other than tensors")):
        load_bundle(folder)
    assert not marker.exists()
    shutil.copy(folder / "model.pt", tmp_path / "ckpt.pt")
    with pytest.raises(BundleError, match="refused"):
        load_checkpoint(tmp_path / "ckpt.pt")
    assert not marker.exists()
    # the payload is live: an unsafe load (never done in src/) would have run it
    if kind == "plain pickle":
        with open(folder / "model.pt", "rb") as f:
            pickle.load(f)
    else:
        torch.load(folder / "model.pt", weights_only=False)
    assert marker.exists()


def test_corrupt_model_pt(saved):
    _, folder = saved
    data = (folder / "model.pt").read_bytes()
    (folder / "model.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match=re.escape("model.pt")):
        load_bundle(folder)
    torch.save([torch.zeros(2)], folder / "model.pt")
    with pytest.raises(BundleError, match="state dict"):
        load_bundle(folder)


def test_exactly_one_torch_load_in_src_in_bundle_py():
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        hits += [(path, line) for line in text.splitlines() if "torch.load(" in line]
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("torch"):
                assert all(a.name != "load" for a in node.names), f"{path}: imports torch's load directly"
            if isinstance(node, ast.Attribute) and node.attr == "load" and isinstance(node.value, ast.Attribute) \
                    and node.value.attr == "serialization":
                pytest.fail(f"{path}: calls torch.serialization.load")
    assert len(hits) == 1, hits
    path, line = hits[0]
    assert path.name == "bundle.py"
    assert 'map_location="cpu"' in line and "weights_only=True" in line


# ---------------------------------------------------------------------------------------------
# edited or incomplete bundles
# ---------------------------------------------------------------------------------------------


def test_reordered_features_are_refused(saved):
    b, folder = saved
    _edit_metadata(folder, resolved_features=list(b.feature_names[::-1]))
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_bundle(folder)


def test_changed_hash_is_refused(saved):
    _, folder = saved
    _edit_metadata(folder, schema_sha256="0" * 64)
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_bundle(folder)


def test_wrong_feature_count_is_refused(saved):
    _, folder = saved
    _edit_metadata(folder, feature_count=4)
    with pytest.raises(BundleError, match="feature_count is 4 but resolved_features lists 5"):
        load_bundle(folder)


def test_consistently_edited_features_disagree_with_architecture(saved):
    b, folder = saved
    names = list(b.feature_names[:4])
    _edit_metadata(folder, resolved_features=names, schema_sha256=schema_hash(names), feature_count=4)
    with pytest.raises(BundleError, match="feature count mismatch"):
        load_bundle(folder)


@pytest.mark.parametrize("version, match", [(2, "format_version 2 is not supported"), (None, "format_version None")])
def test_wrong_format_version(saved, version, match):
    _, folder = saved
    _edit_metadata(folder, format_version=version)
    with pytest.raises(BundleError, match=match):
        load_bundle(folder)


def test_missing_files_bad_json_missing_keys(saved, tmp_path):
    _, folder = saved
    with pytest.raises(BundleError, match="no bundle folder"):
        load_bundle(tmp_path / "nowhere")
    (folder / "metrics.json").write_text("{not json")
    with pytest.raises(BundleError, match=re.escape("metrics.json: not valid JSON")):
        load_bundle(folder)
    (folder / "metrics.json").unlink()
    with pytest.raises(BundleError, match=re.escape("missing metrics.json")):
        load_bundle(folder)
    (folder / "metrics.json").write_text("{}")
    meta = json.loads((folder / "metadata.json").read_text())
    del meta["data_fingerprint"]
    (folder / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"missing metadata key.*data_fingerprint"):
        load_bundle(folder)


def test_edited_transform_or_architecture_is_refused(saved):
    b, folder = saved
    t = b.transform.to_dict()
    t["scale"] = t["scale"][:-1]
    _edit_metadata(folder, transform=t)
    with pytest.raises(BundleError, match="invalid transform"):
        load_bundle(folder)
    _edit_metadata(folder, transform=b.transform.to_dict(), architecture={**b.model_config.to_dict(), "activation": "swish"})
    with pytest.raises(BundleError, match=r"invalid architecture.*activation"):
        load_bundle(folder)


@pytest.mark.parametrize("key, shape", [("hidden.0.weight", (8, 6)), ("hidden.3.weight", (5, 8)), ("head.weight", (2, 4)),
                                        ("head.bias", (4,))])
def test_wrong_tensor_shape_is_refused(saved, key, shape):
    b, folder = saved
    state = dict(b.state_dict)
    state[key] = torch.zeros(shape)
    torch.save(state, folder / "model.pt")
    with pytest.raises(BundleError, match=re.escape(f"tensor {key} has shape {shape}")):
        load_bundle(folder)


def test_missing_or_extra_tensor_is_refused(saved):
    b, folder = saved
    state = dict(b.state_dict)
    del state["head.bias"]
    state["head2.weight"] = torch.zeros(1)
    torch.save(state, folder / "model.pt")
    with pytest.raises(BundleError, match=r"missing \['head.bias'\], unexpected \['head2.weight'\]"):
        load_bundle(folder)
