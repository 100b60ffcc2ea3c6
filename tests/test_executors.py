"""Scale-out (SPEC §13): executors, chunked sweeps, search; identical results on local and Ray.

One local Ray cluster (2 CPUs, no dashboard) serves the whole module and is shut down at the
end. Training stays small: the EURUSD 1h strategy, 2 epochs, three walk-forward folds.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

import fuzzyvec as fv
from fuzzyvec.backtest.sweep import (
    BYTES_PER_COMBINATION,
    FIXED_BYTES_PER_BAR,
    WORKER_BYTES,
    parse_memory,
    plan_chunks,
    sweep,
)
from fuzzyvec.errors import StrategyError, UsageError
from fuzzyvec.research.executors import LocalExecutor, make_executor, run_tasks
from fuzzyvec.research.search import search
from fuzzyvec.research.walkforward import walk_forward
from fuzzyvec.run import main

from .conftest import STRATEGIES_DIR
from .test_sweep import BACKTEST, DECISIONS, GRID, N_COMBOS, synthetic_probs

E2E = STRATEGIES_DIR / "v3_e2e_test.yaml"
WINDOWS = {"train_bars": 3000, "test_bars": 1500}
SPACE = {
    "indicators.rsi_14.period": [7, 14, 21],
    "decisions.confidence_threshold": {"low": 0.36, "high": 0.5},
    "model.architecture.hidden_layers": [[16, 8], [8]],
}


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_ex():
    """A local Ray cluster with 2 CPUs for this module, shut down afterwards."""
    ray = pytest.importorskip("ray")
    from fuzzyvec.research.executors import RayExecutor

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        # both workers import and compile the simulation while the in-process tests run
        warm = ray.remote(num_cpus=1)(_warm_up)
        pending = [warm.remote() for _ in range(2)]
        yield RayExecutor()  # uses the running cluster; does not shut it down on close
        ray.get(pending)
    finally:
        ray.shutdown()


def _warm_up() -> int:
    bars = pl.read_parquet(STRATEGIES_DIR.parent / "src/fuzzyvec/sample_data/BTCUSDT_5m.parquet").head(300)
    return sweep(bars, synthetic_probs(300), DECISIONS, BACKTEST, {"sl_stop": [0.01]}, timeframe="5m").chunks


@pytest.fixture(scope="module")
def strategy_file(tmp_path_factory):
    """The E2E strategy made to trade: finer zigzag labels, a lower threshold, 2 epochs."""
    raw = yaml.safe_load(E2E.read_text())
    raw["training"]["labels"]["zigzag_threshold"] = 0.005
    raw["decisions"]["confidence_threshold"] = 0.4
    raw["model"]["training"].update(learning_rate=0.01, epochs=2)
    path = tmp_path_factory.mktemp("strategy") / "trading.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def spec(strategy_file):
    return fv.load_strategy(strategy_file, warn=False)


@pytest.fixture(scope="module")
def data(spec):
    return fv.load_strategy_data(spec)


@pytest.fixture(scope="module")
def wf_local(spec, data):
    """Walk-forward in this process (the reference)."""
    return walk_forward(spec, data, **WINDOWS)


@pytest.fixture(scope="module")
def search_local(strategy_file, data):
    return search(strategy_file, SPACE, trials=3, seed=3, data=data, **WINDOWS)


# ---------------------------------------------------------------------------------------------
# the executor interface
# ---------------------------------------------------------------------------------------------

_UNPICKLED = 0


class Shared:
    """Counts, in each process, how often it was unpickled."""

    def __init__(self, payload):
        self.payload = payload

    def __setstate__(self, state):
        global _UNPICKLED
        _UNPICKLED += 1
        self.__dict__.update(state)


def probe(shared: Shared, item: int) -> tuple[int, int, int]:
    return os.getpid(), _UNPICKLED, shared.payload[item]


def square(x: int) -> int:
    return x * x


def slow_probe(shared: Shared, item: int) -> tuple[int, int, int]:
    import time

    time.sleep(0.4)  # long enough that the pool's worker boots before the driver has run them all
    return probe(shared, item)


def fail_on_3(x: int) -> int:
    if x == 3:
        raise ValueError(f"item {x}")
    return x


def test_a_local_ray_cluster_starts_for_the_module(ray_ex):
    assert ray_ex.name == "ray" and ray_ex.workers == 2


def test_parse_memory():
    assert parse_memory("4GB") == 4 * 1024**3
    assert parse_memory("500MB") == 500 * 1024**2
    assert parse_memory("1.5g") == int(1.5 * 1024**3)
    assert parse_memory("64KiB") == 65536
    assert parse_memory(1000) == 1000
    for bad in ("lots", "4 parsecs", "0MB", "-1GB", ""):
        with pytest.raises(ValueError, match="memory size"):
            parse_memory(bad)


def test_make_executor_checks_its_arguments():
    with pytest.raises(UsageError, match="expected one of"):
        make_executor("dask")
    with pytest.raises(UsageError, match="positive integer"):
        make_executor("local", 0)
    ex = make_executor("local", 3)
    assert make_executor(ex) is ex and ex.workers == 3


def test_workers_1_runs_in_this_process_in_order():
    shared = Shared(list(range(10, 20)))
    out = list(LocalExecutor(1).map(probe, range(10), shared=shared))
    assert [o[2] for o in out] == list(range(10, 20))
    assert {o[0] for o in out} == {os.getpid()}
    assert list(LocalExecutor(1).map(square, [3, 1, 2])) == [9, 1, 4]
    # any object with map(fn, items) still works, shared inputs then travel with each task
    assert list(run_tasks(None, square, [2, 3])) == [4, 9]


def test_process_pool_sends_shared_inputs_once_per_worker():
    shared = Shared(list(range(100, 116)))
    with LocalExecutor(2) as ex:
        out = list(ex.map(slow_probe, range(16), shared=shared))
    assert [o[2] for o in out] == list(range(100, 116))  # item order kept
    # the driver claims the first task at once (the pool is still booting) and the pool's one
    # worker joins once it is up: each task ran exactly once, in one of the two processes
    assert out[0][0] == os.getpid() and len({o[0] for o in out}) == 2
    assert {o[1] for o in out if o[0] != os.getpid()} == {1}  # the worker unpickled the inputs once


def test_the_driver_and_the_pool_each_raise_a_task_error_in_item_order():
    with LocalExecutor(2) as ex:
        it = ex.map(fail_on_3, range(6))
        assert [next(it) for _ in range(3)] == [0, 1, 2]
        with pytest.raises(ValueError, match="item 3"):
            next(it)
        assert list(ex.map(square, range(5))) == [0, 1, 4, 9, 16]  # the executor is still usable


def test_the_process_pool_stays_warm_across_maps():
    with LocalExecutor(2) as ex:
        first = list(ex.map(probe, range(8), shared=Shared(list(range(8)))))
        second = list(ex.map(probe, range(8), shared=Shared(list(range(10, 18)))))
        assert [o[2] for o in second] == list(range(10, 18))  # the second map's own inputs
        assert {o[0] for o in second} <= {o[0] for o in first} | {o[0] for o in second}
        assert len({o[0] for o in first} | {o[0] for o in second}) <= 2  # the same two processes
        assert {o[1] for o in second if o[0] != os.getpid()} <= {1, 2}  # once per map in the worker
        pool = ex._pool
        assert list(ex.map(square, [1, 2, 3])) == [1, 4, 9] and ex._pool is pool
    assert ex._pool is None  # closed with the block


def test_a_map_the_driver_finishes_returns_before_the_pool_has_booted():
    """A short map must not wait for the fork server; close() tidies up once the pool answers."""
    import threading

    ex = LocalExecutor(2)
    pool = ex._ensure_pool()
    booted = threading.Event()
    real_submit = pool.submit

    def slow_submit(*a, **kw):  # the first submit of a new pool blocks until the fork server is up
        booted.wait(30)
        return real_submit(*a, **kw)

    pool.submit = slow_submit
    try:
        assert list(ex.map(square, [1, 2, 3])) == [1, 4, 9]  # all ran here: the submit is blocked
        assert ex._tidy and ex._tidy[0].is_alive()  # the claim files wait for the pool's answer
        tmp = Path(ex._tmp.name)
        booted.set()
    finally:
        booted.set()
        ex.close()
    assert not ex._tidy and not tmp.exists()


# ---------------------------------------------------------------------------------------------
# chunked sweeps
# ---------------------------------------------------------------------------------------------


def test_plan_chunks():
    per = BYTES_PER_COMBINATION
    fixed = FIXED_BYTES_PER_BAR * 1000
    assert plan_chunks(1000, 10, fixed + 100 * per) == [(0, 10)]
    assert plan_chunks(1000, 10, fixed + 3 * per) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert plan_chunks(1000, 10, fixed + 4 * per) == [(0, 4), (4, 8), (8, 10)]
    assert plan_chunks(1000, 10, 2 * (fixed + 5 * per) + 3 * WORKER_BYTES, parallel=2) == [(0, 5), (5, 10)]
    assert plan_chunks(1000, 10, 2 * (fixed + 5 * per) + 2 * WORKER_BYTES, parallel=2) == [(i, i + 1) for i in range(10)]  # fork server + workers first
    assert plan_chunks(1000, 3, 1) == [(0, 1), (1, 2), (2, 3)]  # never an empty chunk


@pytest.fixture(scope="module")
def sweep_inputs(btc_5m):
    bars = btc_5m.head(1500)
    return bars, synthetic_probs(1500)


def test_chunked_sweep_equals_unchunked_exactly(sweep_inputs):
    bars, probs = sweep_inputs
    whole = sweep(bars, probs, DECISIONS, BACKTEST, GRID, timeframe="5m", max_memory="1GB")
    budget = FIXED_BYTES_PER_BAR * 1500 + 5 * BYTES_PER_COMBINATION
    seen = []
    chunked = sweep(bars, probs, DECISIONS, BACKTEST, GRID, timeframe="5m", max_memory=budget,
                    on_chunk=seen.append)
    assert whole.chunks == 1 and chunked.chunks == 5 and sum(seen) == N_COMBOS
    assert_frame_equal(chunked.table, whole.table, check_exact=True)
    np.testing.assert_array_equal(chunked.block_returns, whole.block_returns)
    with pytest.raises(ValueError, match="memory size"):
        sweep(bars, probs, DECISIONS, BACKTEST, GRID, timeframe="5m", max_memory="a lot")


def test_ray_sends_shared_inputs_once_per_worker(ray_ex):
    shared = Shared(list(range(50, 62)))
    out = list(ray_ex.map(probe, range(12), shared=shared))
    assert [o[2] for o in out] == list(range(50, 62))
    assert {o[1] for o in out} == {1}  # resolved from the object store once per worker process
    assert ray_ex.workers == 2


def test_sweep_chunks_on_ray_equal_local(sweep_inputs, ray_ex):
    bars, probs = sweep_inputs
    whole = sweep(bars, probs, DECISIONS, BACKTEST, GRID, timeframe="5m")
    budget = 3 * WORKER_BYTES + 2 * (FIXED_BYTES_PER_BAR * 1500 + 6 * BYTES_PER_COMBINATION)  # 2 workers + fork server
    on_ray = sweep(bars, probs, DECISIONS, BACKTEST, GRID, timeframe="5m", max_memory=budget, executor=ray_ex)
    assert on_ray.chunks == 4
    assert_frame_equal(on_ray.table, whole.table, check_exact=True)


# ---------------------------------------------------------------------------------------------
# walk-forward
# ---------------------------------------------------------------------------------------------


def _same_walk_forward(a, b):
    assert_frame_equal(a.table, b.table, check_exact=True)
    assert_frame_equal(a.equity, b.equity, check_exact=True)
    assert a.metrics == b.metrics
    for fa, fb in zip(a.folds, b.folds, strict=True):
        assert all(np.array_equal(fa.bundle.state_dict[k].numpy(), fb.bundle.state_dict[k].numpy())
                   for k in fa.bundle.state_dict)


def test_walk_forward_folds_on_ray_equal_local(spec, data, wf_local, ray_ex):
    assert len(wf_local.folds) == 3 and wf_local.metrics["out_of_sample"]["EURUSD"]["sharpe"] is not None
    _same_walk_forward(walk_forward(spec, data, executor=ray_ex, **WINDOWS), wf_local)


def test_walk_forward_folds_in_a_process_pool_equal_local(spec, data, wf_local):
    with make_executor("local", 2) as pool:
        _same_walk_forward(walk_forward(spec, data, executor=pool, **WINDOWS), wf_local)


# ---------------------------------------------------------------------------------------------
# search
# ---------------------------------------------------------------------------------------------


def test_search_ranks_candidates_by_the_objective(search_local):
    t = search_local.table
    assert t.height == 3 and set(t["status"]) <= {"ok", "unscored"}
    scored = t.filter(pl.col("rank").is_not_null())
    assert scored.height >= 2
    assert scored["objective"].to_list() == sorted(scored["objective"].to_list(), reverse=True)
    assert (scored["objective"] == scored["oos_sharpe"]).all()
    assert set(SPACE) <= set(t.columns)
    assert t["indicators.rsi_14.period"].is_in([7, 14, 21]).all()
    assert t["decisions.confidence_threshold"].is_between(0.36, 0.5).all()


def test_search_on_ray_equals_local(strategy_file, data, search_local, ray_ex):
    on_ray = search(strategy_file, SPACE, trials=3, seed=3, data=data, executor=ray_ex, **WINDOWS)
    assert_frame_equal(on_ray.table, search_local.table, check_exact=True)
    assert on_ray.best_yaml() == search_local.best_yaml()


def test_best_candidate_yaml_validates_and_reproduces_its_score(search_local, data, tmp_path):
    path = search_local.write_best(tmp_path / "best.yaml")
    best = search_local.best
    spec = fv.load_strategy(path)  # a normal strategy file
    assert spec.training.walk_forward.train_bars == WINDOWS["train_bars"]
    assert spec.indicators["rsi_14"].params["period"] == best["indicators.rsi_14.period"]
    again = walk_forward(spec, data)
    assert again.metrics["out_of_sample"]["EURUSD"]["sharpe"] == best["objective"]


def test_invalid_candidates_are_reported_and_skipped(strategy_file, data):
    space = {"decisions.confidence_threshold": [1.5, 0.4]}  # 1.5 is not a probability
    res = search(strategy_file, space, algo="grid", trials=None, data=data, objective="oos_total_return", **WINDOWS)
    rows = {r["decisions.confidence_threshold"]: r for r in res.table.iter_rows(named=True)}
    assert rows[1.5]["status"] == "invalid" and rows[1.5]["rank"] is None
    assert "decisions.confidence_threshold" in rows[1.5]["error"]
    assert rows[0.4]["status"] == "ok" and rows[0.4]["rank"] == 1


def test_search_space_errors_name_the_file_and_key(strategy_file, tmp_path):
    cases = {
        "indicators.rsi_14.perid: [10, 14]": "indicators.rsi_14.perid.*did you mean 'period'",
        "indicators.macd.fast: [10]": "indicators.macd.*has no key 'macd'",
        "backtest.stop_loss: [0.01]": "backtest.stop_loss.*has no key 'stop_loss'",
        "model.training.learning_rate: {low: 0.1, high: 0.01}": "expected low < high",
        "model.training.learning_rate: {low: 0, high: 0.01, log: true}": "log range needs low > 0",
        "decisions.confidence_threshold: {low: 0.4, hi: 0.7}": "unknown range key 'hi'",
        "decisions.confidence_threshold: []": "non-empty list",
    }
    for text, message in cases.items():
        path = tmp_path / "space.yaml"
        path.write_text(text + "\n")
        with pytest.raises(StrategyError, match=f"{path}: .*{message}"):
            search(strategy_file, path, trials=1, **WINDOWS)
    # a key the grammar allows but the base strategy leaves at its default is fine
    raw = yaml.safe_load(strategy_file.read_text())
    sp = fv_space({"backtest.sl_stop": [0.01], "training.labels.zigzag_threshold": [0.01]}, raw)
    assert sp.keys == ["backtest.sl_stop", "training.labels.zigzag_threshold"]
    with pytest.raises(StrategyError, match="grid search needs a list of choices or a range with num"):
        fv_space({"backtest.sl_stop": {"low": 0.01, "high": 0.02}}, raw).grid(None, 0)


def fv_space(mapping, raw):
    from fuzzyvec.research.space import load_space

    return load_space(mapping, raw)


def test_tune_search_is_seeded(strategy_file, data, ray_ex):
    """Tune's BasicVariantGenerator with the seed draws numpy's default_rng(seed) in dimension order:
    the candidates of ``--algo random`` with the same seed (before its 6-digit rounding)."""
    pytest.importorskip("ray.tune")
    res = search(strategy_file, SPACE, trials=2, seed=3, algo="tune", data=data, **WINDOWS)
    assert res.table.height == 2 and set(res.table["status"]) <= {"ok", "unscored"}
    assert res.table["rank"][0] == 1
    expected = fv_space(SPACE, yaml.safe_load(strategy_file.read_text())).sample(2, 3)
    got = [res.candidates[t] for t in sorted(res.candidates)]
    for cand, exp in zip(got, expected, strict=True):
        assert cand["indicators"]["rsi_14"]["period"] == exp["indicators.rsi_14.period"]
        assert cand["model"]["architecture"]["hidden_layers"] == exp["model.architecture.hidden_layers"]
        assert cand["decisions"]["confidence_threshold"] == pytest.approx(exp["decisions.confidence_threshold"],
                                                                         rel=1e-5)


# ---------------------------------------------------------------------------------------------
# command line (in this process, through fuzzyvec.run.main)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["sweep", str(E2E), "--grid", "sl_stop=0.01", "--executor", "ray"],
    ["walk-forward", str(E2E), "--train-bars", "3000", "--test-bars", "1500", "--executor", "ray"],
    ["batch", str(E2E), "--executor", "ray"],
    ["search", str(E2E), "--space", "SPACE", "--executor", "ray"],
])
def test_executor_ray_without_ray_exits_2_with_an_install_hint(argv, monkeypatch, capsys, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("decisions.confidence_threshold: [0.5]\n")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    rc = main([str(space) if a == "SPACE" else a for a in argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert 'pip install "fuzzyvec[ray]"' in err and "Traceback" not in err


def test_search_cli_unknown_key_exits_2(strategy_file, tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("indicators.rsi_14.period: [7, 14]\nmodel.training.learnin_rate: [0.01]\n")
    rc = main(["search", str(strategy_file), "--space", str(space), "--trials", "2", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert f"{space}: model.training.learnin_rate" in err and "did you mean 'learning_rate'" in err


def test_search_cli_writes_ranking_and_best_yaml(strategy_file, tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("indicators.rsi_14.period: [7, 14]\n")
    rc = main(["search", str(strategy_file), "--space", str(space), "--algo", "grid", "--objective",
               "oos_total_return", "--train-bars", "3000", "--test-bars", "1500", "--workers", "1",
               "--out", str(tmp_path / "out"), "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "ranked by oos_total_return" in out and "best: trial" in out
    (run,) = (tmp_path / "out").iterdir()
    table = pl.read_csv(run / "search.csv")
    assert table.height == 2 and table["rank"].to_list()[0] == 1
    assert fv.load_strategy(run / "best.yaml").indicators["rsi_14"].params["period"] == \
        table["indicators.rsi_14.period"][0]


def test_batch_cli_runs_each_file(strategy_file, tmp_path, capsys):
    rc = main(["batch", str(strategy_file), str(E2E), "--workers", "1", "--out", str(tmp_path), "--json", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    rows = json.loads(out)["rows"]
    assert [r["file"] for r in rows] == [str(strategy_file), str(E2E)]
    assert rows[0]["trades"] > 0 and all(r["status"] == "ok" for r in rows)
    for r in rows:  # one run folder per file (same strategy name: the second gets "-2")
        for f in ("metrics.json", "trades.csv", "equity.csv", "report.html", "bundle/model.pt"):
            assert (Path(r["run"]) / f).exists(), f
    assert {p.name for p in tmp_path.iterdir()} == {"v3_e2e_test", "v3_e2e_test-2"}


def fail(item: int) -> int:
    if item == 1:
        raise fv.DataError(f"bad bars in task {item}")
    return item


def test_a_task_error_arrives_as_itself(ray_ex):
    for ex in (LocalExecutor(1), ray_ex):
        with pytest.raises(fv.DataError, match=r"^bad bars in task 1$"):
            list(ex.map(fail, range(3)))
