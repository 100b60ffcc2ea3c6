"""Strategy search (SPEC §13): sample candidates, check, train and score them out of sample.

The offline, reproducible form of the original system's "research" command:

1. the base strategy (its YAML mapping) and a search space (:mod:`fuzzyvec.research.space`);
2. candidates = the base with the sampled values set at their key paths, sampled by ``grid``
   (every point), ``random`` (seeded) or ``tune`` (Ray Tune's ``BasicVariantGenerator``, seeded);
3. each candidate is re-validated by the strategy grammar (an invalid one is reported and
   skipped), checked for look-ahead on a few cuts (:func:`fuzzyvec.check_lookahead`), then
   trained and scored by walk-forward (:func:`fuzzyvec.walk_forward`): the objective is a metric
   of the stitched out-of-sample equity (``oos_sharpe``, ``oos_total_return``, ``oos_calmar``,
   ``oos_cagr``; ``oos_max_drawdown`` is minimised), averaged over symbols;
4. the result is a ranked polars table and the best candidate as a normal strategy mapping,
   written as YAML. The walk-forward windows and an epochs override are written into every
   candidate, so ``walk_forward`` of the written file on the same bars gives the same score.

Candidates run on an executor (:mod:`fuzzyvec.research.executors`): the bars and the base strategy reach
each worker once; every candidate trains with the strategy's fixed seed in one thread, so the
table does not depend on the executor or the number of workers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import StrategyError, UsageError
from .candidate import OOS_COLUMNS, CandidateInputs, evaluate_candidate
from .space import SearchSpace, apply_overrides, describe, load_space, strategy_to_raw

__all__ = ["ALGORITHMS", "OBJECTIVES", "SearchResult", "search"]

#: objective name -> (out-of-sample metric of :func:`fuzzyvec.walk_forward`, direction)
OBJECTIVES: dict[str, tuple[str, str]] = {
    "oos_sharpe": ("sharpe", "max"),
    "oos_total_return": ("total_return", "max"),
    "oos_calmar": ("calmar", "max"),
    "oos_cagr": ("cagr", "max"),
    "oos_max_drawdown": ("max_drawdown", "min"),
}
ALGORITHMS = ("random", "grid", "tune")



@dataclass(frozen=True)
class SearchResult:
    """What :func:`search` returns.

    Attributes
    ----------
    table:
        One row per candidate, best first: ``rank`` (null for candidates without a score),
        ``trial``, ``status`` (``ok``; ``invalid``: the grammar refused the values;
        ``lookahead``: a feature changed when future bars were removed; ``unscored``: the
        objective is undefined, e.g. no trades; ``error``: training or backtesting failed),
        ``objective``, the out-of-sample metrics, ``folds``, one column per searched key, and
        ``error`` (why a candidate was skipped).
    candidates:
        ``{trial: strategy mapping}`` of every candidate.
    objective:
        The objective's name.
    space:
        The search space.
    pbo:
        The probability of backtest overfitting of the scored candidates
        (:class:`~fuzzyvec.backtest.significance.PBOResult`), or None with fewer than two.
        The table's ``dsr`` column is each candidate's deflated Sharpe ratio among them.
    """

    table: pl.DataFrame
    candidates: dict[int, dict[str, Any]]
    objective: str
    space: SearchSpace
    pbo: Any = None

    @property
    def best(self) -> dict[str, Any] | None:
        """The first row of :attr:`table` if it scored, else None."""
        if self.table.height == 0 or self.table["rank"][0] is None:
            return None
        return self.table.row(0, named=True)

    @property
    def best_strategy(self) -> dict[str, Any]:
        """The best candidate's strategy mapping (raises when no candidate scored)."""
        best = self.best
        if best is None:
            raise StrategyError(f"no candidate of the search could be scored; statuses: "
                                f"{dict(self.table['status'].value_counts().rows())}")
        return self.candidates[best["trial"]]

    def best_yaml(self) -> str:
        """The best candidate as strategy YAML (a comment header states its score)."""
        import yaml

        strategy = self.best_strategy  # raises when no candidate scored
        best = self.best
        set_keys = ", ".join(f"{k}={describe(best[k])}" for k in self.space.keys)
        head = (f"# fuzzyvec search: best of {self.table.height} candidates by {self.objective} = "
                f"{best['objective']!r} (trial {best['trial']})\n# searched: {set_keys}\n")
        return head + yaml.safe_dump(strategy, sort_keys=False, allow_unicode=True)

    def write_best(self, path: str | Path) -> Path:
        """Write :meth:`best_yaml` to ``path`` (atomically)."""
        from ..io_utils import atomic_write_text

        return atomic_write_text(path, self.best_yaml())


# ---------------------------------------------------------------------------------------------
# the search
# ---------------------------------------------------------------------------------------------


def _base_mapping(strategy: Any) -> tuple[dict[str, Any], str, Any]:
    """(YAML mapping, name for messages, validated Strategy) of the base strategy."""
    import yaml

    from ..strategy.grammar import Strategy
    from ..strategy.load import load_strategy

    spec = load_strategy(strategy, warn=False)
    if isinstance(strategy, Strategy):
        return strategy_to_raw(spec), spec.source_path or spec.name, spec
    if isinstance(strategy, Mapping):
        return dict(strategy), spec.name, spec
    raw = yaml.safe_load(Path(strategy).read_text(encoding="utf-8"))
    data_dir = (raw.get("data") or {}).get("dir")
    if data_dir is not None and not Path(data_dir).expanduser().is_absolute():
        # candidates are written elsewhere: keep data.dir pointing where the base file meant
        raw["data"]["dir"] = str((Path(strategy).resolve().parent / Path(data_dir).expanduser()).resolve())
    return raw, str(strategy), spec


def _prepare_base(raw: dict[str, Any], spec: Any, *, train_bars: int | None, test_bars: int | None,
                  step_bars: int | None, epochs: int | None) -> dict[str, Any]:
    """The base mapping with the walk-forward windows and the epochs override written in."""
    from .walkforward import resolve_walk_forward

    walk = resolve_walk_forward(spec, train_bars=train_bars, test_bars=test_bars, step_bars=step_bars)
    fixed: dict[str, Any] = {"training.walk_forward": walk.model_dump(exclude_none=True)}
    if epochs is not None:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise UsageError(f"epochs: expected a positive integer, got {epochs!r}")
        fixed["model.training.epochs"] = epochs
    return apply_overrides(raw, fixed)


def _rank(rows: list[dict[str, Any]], objective: str, keys: list[str],
          values: dict[int, dict[str, Any]]) -> pl.DataFrame:
    sign = -1.0 if OBJECTIVES[objective][1] == "max" else 1.0
    scored = sorted((r for r in rows if r["objective"] is not None), key=lambda r: (sign * r["objective"], r["trial"]))
    failed = sorted((r for r in rows if r["objective"] is None), key=lambda r: r["trial"])
    out = []
    for i, r in enumerate([*scored, *failed]):
        out.append({"rank": i + 1 if r["objective"] is not None else None, "trial": r["trial"],
                    "status": r["status"], "objective": r["objective"], **{c: r[c] for c in OOS_COLUMNS},
                    "folds": r["folds"], **{k: describe(values[r["trial"]][k]) for k in keys}, "error": r["error"]})
    schema = {"rank": pl.Int64, "trial": pl.Int64, "status": pl.String, "objective": pl.Float64,
              **dict.fromkeys(OOS_COLUMNS, pl.Float64), "folds": pl.Int64}
    frame = pl.DataFrame(out, schema_overrides=schema, strict=False, infer_schema_length=None)
    return frame if frame.height else pl.DataFrame(schema={**schema, **dict.fromkeys(keys, pl.String),
                                                           "error": pl.String})


def search(
    strategy: Any,
    space: str | Path | Mapping[str, Any],
    *,
    trials: int | None = 20,
    algo: str = "random",
    objective: str = "oos_sharpe",
    seed: int = 0,
    data: Any = None,
    data_dir: Any = None,
    start: Any = None,
    end: Any = None,
    train_bars: int | None = None,
    test_bars: int | None = None,
    step_bars: int | None = None,
    epochs: int | None = None,
    lookahead_cuts: int = 2,
    executor: Any = None,
    workers: int | None = None,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
) -> SearchResult:
    """Search strategy variants and rank them by a walk-forward out-of-sample objective.

    Parameters
    ----------
    strategy:
        The base strategy: a YAML path, a mapping, or a :class:`~fuzzyvec.strategy.grammar.Strategy`.
    space:
        A search-space YAML path or mapping (see :mod:`fuzzyvec.research.space`).
    trials:
        Candidates to draw (``random``, ``tune``); for ``grid`` at most this many grid points
        (None: all of them).
    algo:
        ``random`` (seeded, numpy), ``grid`` (every point; ranges need ``num``) or ``tune``
        (Ray Tune, seeded; needs ``fuzzyvec[ray]`` and runs on Ray).
    objective:
        A key of :data:`OBJECTIVES`.
    seed:
        Seeds the sampling; with the strategy's own training seed a search is repeatable.
    data, data_dir, start, end:
        The bars (loaded for the base strategy when omitted).
    train_bars, test_bars, step_bars:
        Walk-forward windows (default: the strategy's ``training.walk_forward``).
    epochs:
        Override ``model.training.epochs`` of every candidate (written into the candidates).
    lookahead_cuts:
        Cut points of each candidate's look-ahead check.
    executor:
        Runs the candidates (an :class:`~fuzzyvec.research.executors.Executor`; default this process).
        Ignored by ``tune``, which always runs on Ray.
    workers:
        CPUs of the local Ray cluster started for ``tune`` when none is running.
    on_trial:
        Called with each finished candidate's row (progress bars).

    Returns
    -------
    SearchResult

    Raises
    ------
    StrategyError
        An invalid base strategy or search space (unknown key path, malformed range).
    UsageError
        An unknown algorithm or objective, or ``tune`` without Ray installed.
    """
    from ..data.files import load_strategy_data

    if algo not in ALGORITHMS:
        raise UsageError(f"algo: expected one of {list(ALGORITHMS)}, got {algo!r}")
    if objective not in OBJECTIVES:
        raise UsageError(f"objective: expected one of {list(OBJECTIVES)}, got {objective!r}")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise UsageError(f"trials: expected a positive integer, got {trials!r}")
    raw, source, spec = _base_mapping(strategy)
    sp = load_space(space, raw, base_name=source)
    base = _prepare_base(raw, spec, train_bars=train_bars, test_bars=test_bars, step_bars=step_bars, epochs=epochs)
    if data is None:
        data = load_strategy_data(spec, data_dir=data_dir, start=start, end=end)
    inputs = CandidateInputs(base, source, data, objective, lookahead_cuts)
    if algo == "tune":
        from .tune import run_tune

        values, rows = run_tune(inputs, sp, trials=trials or 20, seed=seed, workers=workers, on_trial=on_trial)
    else:
        from .executors import run_tasks

        points = sp.grid(trials, seed) if algo == "grid" else sp.sample(trials or 20, seed)
        distinct: list[dict[str, Any]] = []
        for p in points:  # the same candidate twice would train twice for nothing
            if p not in distinct:
                distinct.append(p)
        values = dict(enumerate(distinct))
        rows = []
        for row in run_tasks(executor, evaluate_candidate, list(values.items()), shared=inputs):
            rows.append(row)
            if on_trial is not None:
                on_trial(row)
    table = _rank(rows, objective, sp.keys, values)
    table, pbo = _overfitting(table, rows)
    candidates = {t: apply_overrides(base, v) for t, v in values.items()}
    return SearchResult(table, candidates, objective, sp, pbo)


def _overfitting(table: pl.DataFrame, rows: list[dict[str, Any]]) -> tuple[pl.DataFrame, Any]:
    """A ``dsr`` column (each candidate among all scored ones) and the PBO of the candidates.

    Every candidate is walk-forwarded on the same out-of-sample bars, so their stitched
    out-of-sample returns are trials over one common period: the deflated Sharpe ratio
    (Bailey & López de Prado 2014) and CSCV's probability of backtest overfitting (Bailey,
    Borwein, López de Prado & Zhu 2015) apply as for a sweep's combinations.
    """
    import numpy as np

    from ..backtest.significance import deflated_sharpe_from_moments, pbo_from_block_stats

    stats = {r["trial"]: r.get("_returns") for r in rows if r.get("_returns") and r["objective"] is not None}
    dsr: dict[int, float] = {}
    pbo = None
    if stats:
        trials = list(stats)
        mom = np.array([[stats[t][k] for k in ("sr", "n", "skew", "kurtosis")] for t in trials])
        for t, v in zip(trials, deflated_sharpe_from_moments(*mom.T), strict=True):
            dsr[t] = float(v) if np.isfinite(v) else None
        lengths = {len(stats[t]["count"]) for t in trials}
        same_bars = len({tuple(stats[t]["count"]) for t in trials}) == 1
        defined = sum(1 for t in trials if dsr.get(t) is not None)
        if defined >= 2 and lengths == {16} and same_bars:
            count = np.asarray(stats[trials[0]]["count"])
            s1 = np.array([stats[t]["s1"] for t in trials])
            s2 = np.array([stats[t]["s2"] for t in trials])
            pbo = pbo_from_block_stats(count, s1, s2)
    column = pl.Series("dsr", [dsr.get(t) for t in table["trial"].to_list()], dtype=pl.Float64)
    at = table.columns.index("folds") + 1 if "folds" in table.columns else table.width
    table = table.insert_column(at, column)
    return table, pbo


def search_summary(result: SearchResult, settings: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-ready record of a search: settings, space, ranked rows."""
    dims = [{k: v for k, v in vars(d).items() if v is not None and v is not False} for d in result.space.dimensions]
    pbo = result.pbo.to_json() if result.pbo is not None else None
    return json.loads(json.dumps({**settings, "objective": result.objective, "space": dims, "pbo": pbo,
                                  "best": result.best, "rows": result.table.to_dicts()}, default=str))
