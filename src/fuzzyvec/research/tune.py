"""``search(..., algo="tune")``: the same candidates evaluation, sampled and scheduled by Ray Tune.

The search space becomes Tune domains (``tune.choice``, ``tune.uniform``, ``tune.loguniform``,
``tune.randint``, ``tune.lograndint``), sampled by ``BasicVariantGenerator(random_state=seed)``
so a seed repeats the same candidates. Each trial is one call of the same task the other
algorithms use (:func:`fuzzyvec.research.candidate.evaluate_candidate`); the bars reach the object store once
(``tune.with_parameters``). Trials are numbered in the order Tune created them. (The generator
draws from numpy's ``default_rng(seed)`` in dimension order, so its candidates are those of
``algo="random"`` with the same seed, without the rounding to 6 significant digits.)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

from .space import SearchSpace

__all__ = ["run_tune"]


def _trial(config: dict[str, Any], inputs: Any = None, keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """A Tune function trainable: evaluate one candidate and return its row as the final result."""
    from .candidate import evaluate_candidate

    overrides = {k: config[f"p{i:03d}"] for i, k in enumerate(keys)}
    row = evaluate_candidate(inputs, (-1, overrides))
    # Tune wants numbers for metrics: the row travels as is, "score" is the sortable objective
    return {"score": row["objective"] if row["objective"] is not None else float("nan"), "row": row}


def run_tune(inputs: Any, space: SearchSpace, *, trials: int, seed: int, workers: int | None,
             on_trial: Callable[[dict[str, Any]], None] | None = None
             ) -> tuple[dict[int, dict[str, Any]], list[dict[str, Any]]]:
    """Run ``trials`` Tune trials; returns ``({trial: overrides}, rows)`` in trial order."""
    from .executors import RayExecutor, require_ray

    require_ray("--algo tune")
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    keys = tuple(space.keys)
    param_space = {f"p{i:03d}": d.tune_domain() for i, d in enumerate(space.dimensions)}
    executor = RayExecutor(workers)  # the running cluster, RAY_ADDRESS, or a local one for this search
    try:
        with tempfile.TemporaryDirectory(prefix="fuzzyvec-tune-") as storage:
            tuner = tune.Tuner(
                tune.with_parameters(_trial, inputs=inputs, keys=keys),
                param_space=param_space,
                tune_config=tune.TuneConfig(num_samples=trials,
                                            search_alg=BasicVariantGenerator(random_state=seed)),
                run_config=tune.RunConfig(storage_path=storage, name="search", verbose=0),
            )
            quiet = os.environ.get("RAY_AIR_NEW_OUTPUT")
            os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # the legacy reporter honours verbose=0 (no banner)
            try:
                grid = tuner.fit()
            finally:
                if quiet is None:
                    os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
                else:
                    os.environ["RAY_AIR_NEW_OUTPUT"] = quiet
            results = sorted((grid[i] for i in range(len(grid))), key=lambda r: (r.metrics or {}).get("trial_id") or r.path)
    finally:
        executor.close()
    values: dict[int, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for trial, res in enumerate(results):
        values[trial] = {k: res.config[f"p{i:03d}"] for i, k in enumerate(keys)}
        if res.error is not None or "row" not in (res.metrics or {}):
            row = {"trial": trial, "status": "error", "objective": None, "folds": None,
                   "error": f"Tune trial failed: {res.error}"}
            row.update({c: None for c in ("oos_total_return", "oos_cagr", "oos_sharpe", "oos_calmar",
                                          "oos_max_drawdown")})
        else:
            row = {**res.metrics["row"], "trial": trial}
        rows.append(row)
        if on_trial is not None:
            on_trial(row)
    return values, rows
