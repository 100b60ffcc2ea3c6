"""Honest-evaluation statistics (SPEC §15): deflated Sharpe, PBO, bootstrap intervals, random entries.

Conventions used throughout:

- **Sharpe ratio** means the per-bar, non-annualised ratio ``mean(r) / std(r, ddof=1)`` of
  per-bar simple returns ``r`` (risk-free rate 0), the quantity the papers' formulas take
  together with the number of observations. An annualised Sharpe ratio ``SR_a`` converts back
  as ``SR_a / sqrt(bars_per_year)``.
- **Skewness** ``m3 / m2^1.5`` and **kurtosis** ``m4 / m2^2`` are the sample moment ratios
  (central moments with divisor ``n``); kurtosis is *non-excess*: 3 for a normal distribution.

Public functions:

- :func:`probabilistic_sharpe`, :func:`expected_max_sharpe`, :func:`deflated_sharpe`,
  :func:`deflated_sharpe_from_moments` and :func:`return_moments`: Bailey & López de Prado
  (2014), "The Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and
  Non-Normality", Journal of Portfolio Management 40(5).
- :func:`block_stats`, :func:`pbo_from_block_stats`, :func:`pbo`: Bailey, Borwein, López de
  Prado & Zhu (2015), "The Probability of Backtest Overfitting", Journal of Computational
  Finance 20(4) — CSCV from per-block sufficient statistics.
- :func:`bootstrap_interval`, :func:`bootstrap_intervals`: Politis & Romano (1994), the
  stationary bootstrap, percentile intervals.
- :func:`random_positions`, :func:`baseline_pvalue`, :func:`percentile_of`: the random-entry
  baseline (the engine simulates the series; see :mod:`fuzzyvec.backtest.baselines`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from statistics import NormalDist
from typing import Any

import numpy as np

from ..nb.significance import cscv_logits_nb, psr_nb, random_positions_nb, stationary_bootstrap_nb

__all__ = [
    "EULER_GAMMA",
    "PBOResult",
    "baseline_pvalue",
    "block_stats",
    "bootstrap_interval",
    "bootstrap_intervals",
    "deflated_sharpe",
    "deflated_sharpe_from_moments",
    "expected_max_sharpe",
    "pbo",
    "pbo_from_block_stats",
    "percentile_of",
    "probabilistic_sharpe",
    "random_positions",
    "return_moments",
]

#: the Euler–Mascheroni constant γ of the expected-maximum approximation
EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()
_STATS = ("total_return", "sharpe")


# --- deflated Sharpe ratio -----------------------------------------------------------------------


def return_moments(returns: Any) -> tuple[Any, Any, Any, Any]:
    """Per-bar Sharpe ratio, observation count, skewness and kurtosis of a return series.

    Parameters
    ----------
    returns:
        Per-bar returns, ``(n,)`` for one series or ``(n, trials)`` for one series per column;
        must be finite.

    Returns
    -------
    tuple
        ``(sharpe, n, skew, kurtosis)``: floats for 1-D input, ``(trials,)`` arrays for 2-D.
        Sharpe is ``mean / std`` with ddof 1 (NaN at zero variance); skewness ``m3 / m2^1.5``
        and kurtosis ``m4 / m2^2`` (non-excess, normal = 3) use central moments with divisor
        ``n`` (NaN at zero variance).
    """
    r = _finite(returns, "returns")
    one = r.ndim == 1
    r2 = r[:, None] if one else r
    n = r2.shape[0]
    if n < 2:
        raise ValueError(f"returns must hold at least 2 bars, got {n}")
    mean = r2.mean(axis=0)
    d = r2 - mean
    m2 = (d * d).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        zero = m2 <= 1e-18 * np.maximum((r2 * r2).mean(axis=0), 1e-300)
        std = np.sqrt(m2 * n / (n - 1))
        sharpe = np.where(zero, np.nan, mean / std)
        skew = np.where(zero, np.nan, (d ** 3).mean(axis=0) / m2 ** 1.5)
        kurt = np.where(zero, np.nan, (d ** 4).mean(axis=0) / m2 ** 2)
    if one:
        return float(sharpe[0]), n, float(skew[0]), float(kurt[0])
    return sharpe, np.full(r2.shape[1], n), skew, kurt


def probabilistic_sharpe(sr: float, n: int, skew: float = 0.0, kurtosis: float = 3.0,
                         sr_benchmark: float = 0.0) -> float:
    """Probabilistic Sharpe ratio: the probability that the true Sharpe ratio exceeds ``sr_benchmark``.

    ``PSR = Φ( (SR − SR*) √(n − 1) / √(1 − γ3 SR + (γ4 − 1)/4 SR²) )`` — Bailey & López de Prado
    (2012), "The Sharpe Ratio Efficient Frontier", eq. 9; eq. 2 of the 2014 deflated-Sharpe
    paper with ``SR* = SR0``.

    Parameters
    ----------
    sr:
        Observed Sharpe ratio, per bar (non-annualised).
    n:
        Number of returns it was estimated from (``T`` of the paper).
    skew, kurtosis:
        Skewness γ3 and kurtosis γ4 of the returns (kurtosis non-excess: normal = 3).
    sr_benchmark:
        Benchmark Sharpe ratio SR*, per bar.

    Returns
    -------
    float
        In [0, 1]; NaN when an input is NaN, ``n < 2`` or the variance term is not positive.
    """
    return float(psr_nb(*(np.array([float(v)]) for v in (sr, n, skew, kurtosis, sr_benchmark)))[0])


def expected_max_sharpe(n_trials: int, trials_sharpe_var: float) -> float:
    """Expected maximum Sharpe ratio of ``n_trials`` unskilled trials (SR0 of the deflated Sharpe ratio).

    ``SR0 = √V · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e)))`` with γ the Euler–Mascheroni
    constant — Bailey & López de Prado (2014), eq. 2 (the "False Strategy" theorem's
    approximation of E[max] of N independent normal Sharpe estimates with mean 0 and variance
    V). One trial has no selection: SR0 = 0.

    Parameters
    ----------
    n_trials:
        Number of independent trials N the winner was selected from (``>= 1``).
    trials_sharpe_var:
        Variance V of the trials' per-bar Sharpe ratios (``>= 0``).

    Returns
    -------
    float
        SR0, per bar.
    """
    if not n_trials >= 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials!r}")
    if not trials_sharpe_var >= 0:
        raise ValueError(f"trials_sharpe_var must be a variance >= 0, got {trials_sharpe_var!r}")
    if n_trials == 1 or trials_sharpe_var == 0:
        return 0.0
    n = float(n_trials)
    z = (1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n) + EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (n * math.e))
    return math.sqrt(trials_sharpe_var) * z


def deflated_sharpe(returns: Any, n_trials: int, trials_sharpe_var: float) -> float:
    """Deflated Sharpe ratio of one per-bar return series selected from ``n_trials`` trials.

    The probabilistic Sharpe ratio (:func:`probabilistic_sharpe`) of the series' per-bar Sharpe
    ratio against the expected maximum Sharpe of the trials (:func:`expected_max_sharpe`), with
    the series' own skewness and kurtosis — Bailey & López de Prado (2014), eq. 2.

    Parameters
    ----------
    returns:
        ``(n,)`` per-bar returns of the selected trial.
    n_trials:
        Number of trials tried (the sweep's combinations, a search's candidates).
    trials_sharpe_var:
        Variance of the trials' per-bar (non-annualised) Sharpe ratios.

    Returns
    -------
    float
        The DSR, a probability in [0, 1] (> 0.95: significant at 5 % after the selection);
        NaN when the series has zero variance.
    """
    sr, n, skew, kurt = return_moments(np.asarray(returns, dtype=np.float64).ravel())
    return probabilistic_sharpe(sr, n, skew, kurt, expected_max_sharpe(n_trials, trials_sharpe_var))


def deflated_sharpe_from_moments(sharpe: Any, n_obs: Any, skew: Any, kurtosis: Any,
                                 n_trials: int | None = None, trials_sharpe_var: float | None = None) -> np.ndarray:
    """Deflated Sharpe ratio of every trial of a sweep, from its moments (no return arrays).

    Each trial's probabilistic Sharpe ratio against one benchmark, the expected maximum Sharpe
    of the ``n_trials`` trials — Bailey & López de Prado (2014), eq. 2.

    Parameters
    ----------
    sharpe, n_obs, skew, kurtosis:
        Arrays broadcastable to one shape (one value per trial): per-bar (non-annualised)
        Sharpe ratio, number of returns, skewness, kurtosis (non-excess, normal = 3). An
        annualised Sharpe ratio must be divided by ``sqrt(bars_per_year)`` first.
    n_trials:
        Number of trials (default: the number of finite ``sharpe`` values).
    trials_sharpe_var:
        Variance of the trials' Sharpe ratios (default: the ddof-1 variance of the finite
        ``sharpe`` values).

    Returns
    -------
    numpy.ndarray
        float64, the broadcast shape: the DSR of each trial (NaN where its moments are NaN).
    """
    sr, n, sk, ku = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (sharpe, n_obs, skew, kurtosis)))
    finite = sr[np.isfinite(sr)]
    if n_trials is None:
        n_trials = max(int(finite.size), 1)
    if trials_sharpe_var is None:
        trials_sharpe_var = float(np.var(finite, ddof=1)) if finite.size > 1 else 0.0
    sr0 = expected_max_sharpe(n_trials, trials_sharpe_var)
    flat = [np.ascontiguousarray(a.ravel()) for a in (sr, n, sk, ku)]
    out = psr_nb(*flat, np.full(flat[0].shape, sr0))
    return out.reshape(sr.shape)


# --- probability of backtest overfitting (CSCV) --------------------------------------------------


@dataclass(frozen=True)
class PBOResult:
    """What :func:`pbo_from_block_stats` returns.

    Attributes
    ----------
    pbo:
        Probability of backtest overfitting: the fraction of combinations whose in-sample best
        trial ranks at or below the out-of-sample median (logit ≤ 0).
    logits:
        ``(n_combinations,)`` logit ``λ = ln(ω̄ / (1 − ω̄))`` of the IS-best trial's OOS relative
        rank ``ω̄`` per combination (combinations in :func:`itertools.combinations` order).
    n_combinations, n_trials, blocks:
        ``C(S, S/2)``, the number of trials N and of blocks S.
    best_trial, is_sharpe, oos_sharpe:
        ``(n_combinations,)``: the IS-best trial and its IS and OOS per-bar Sharpe ratios
        (``-inf`` where undefined) — the paper's performance-degradation pairs.
    """

    pbo: float
    logits: np.ndarray = field(repr=False)
    n_combinations: int
    n_trials: int
    blocks: int
    best_trial: np.ndarray = field(repr=False)
    is_sharpe: np.ndarray = field(repr=False)
    oos_sharpe: np.ndarray = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """``pbo``, counts and logit quantiles (JSON-ready; the arrays are left out)."""
        q = np.percentile(self.logits, [5, 50, 95]) if self.logits.size else [np.nan] * 3
        return {"pbo": self.pbo, "n_combinations": self.n_combinations, "n_trials": self.n_trials,
                "blocks": self.blocks, "logit_p5": float(q[0]), "logit_median": float(q[1]),
                "logit_p95": float(q[2])}


def _finite(x: Any, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim not in (1, 2):
        raise ValueError(f"{what} must be 1-D (bars,) or 2-D (bars, trials), got shape {a.shape}")
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ValueError(f"{what} must be finite; found {a[tuple(bad)]!r} at index {tuple(int(i) for i in bad)}")
    return a


def _check_blocks(blocks: int, n: int) -> None:
    if not isinstance(blocks, int | np.integer) or blocks < 2 or blocks % 2:
        raise ValueError(f"blocks must be an even integer >= 2, got {blocks!r}")
    if n < blocks:
        raise ValueError(f"{n} bars cannot be split into {blocks} blocks")


def block_stats(returns: Any, blocks: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-block sufficient statistics of returns: bar count, sum and sum of squares.

    The bars are split into ``blocks`` contiguous blocks as :func:`numpy.array_split` does (the
    first ``n % blocks`` blocks have one bar more). These three numbers per trial and block are
    all CSCV needs (:func:`pbo_from_block_stats`); a sweep kernel can accumulate them per column
    instead of keeping returns.

    Parameters
    ----------
    returns:
        Per-bar returns, ``(bars,)`` or ``(bars, trials)``; finite.
    blocks:
        Number of blocks S, even (default 16).

    Returns
    -------
    tuple of numpy.ndarray
        ``(count, s1, s2)``: float64 ``count`` of shape ``(blocks,)``; ``s1``, ``s2`` of shape
        ``(blocks,)`` for 1-D input or ``(trials, blocks)`` for 2-D input.
    """
    r = _finite(returns, "returns")
    n = r.shape[0]
    _check_blocks(blocks, n)
    sizes = np.full(blocks, n // blocks)
    sizes[: n % blocks] += 1
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    s1 = np.add.reduceat(r, starts, axis=0)
    s2 = np.add.reduceat(r * r, starts, axis=0)
    count = sizes.astype(np.float64)
    if r.ndim == 2:
        return count, np.ascontiguousarray(s1.T), np.ascontiguousarray(s2.T)
    return count, s1, s2


def _combinations(blocks: int) -> np.ndarray:
    return np.array(list(combinations(range(blocks), blocks // 2)), dtype=np.int64)


def pbo_from_block_stats(count: Any, s1: Any, s2: Any) -> PBOResult:
    """Probability of backtest overfitting by CSCV, from per-block statistics.

    Bailey, Borwein, López de Prado & Zhu (2015), section 2.2: for every one of the
    ``C(S, S/2)`` ways to pick half of the S blocks as in-sample (the rest out-of-sample), take
    the trial with the best IS Sharpe ratio, its OOS relative rank ``ω̄ = rank / (N + 1)`` (rank
    1 = worst OOS, mid-ranks for ties) and the logit ``λ = ln(ω̄ / (1 − ω̄))``;
    ``PBO = #{λ ≤ 0} / C(S, S/2)``. Sharpe ratios of unions of blocks come from the summed
    statistics (ddof 1).

    Undefined Sharpe ratios (a half with zero variance up to rounding, e.g. a trial that never
    trades) score ``-inf``: such a trial is never the IS best unless all trials are undefined,
    and it ranks below every defined trial OOS. Ties for the IS best go to the lowest trial index.

    Parameters
    ----------
    count:
        ``(S,)`` bars per block.
    s1, s2:
        ``(N, S)`` (or ``(S,)`` for a single trial) sums and sums of squares of returns per block.

    Returns
    -------
    PBOResult
    """
    count = np.ascontiguousarray(np.asarray(count, dtype=np.float64).ravel())
    s1 = np.atleast_2d(np.asarray(s1, dtype=np.float64))
    s2 = np.atleast_2d(np.asarray(s2, dtype=np.float64))
    blocks = count.shape[0]
    if s1.shape != s2.shape or s1.shape[1] != blocks:
        raise ValueError(f"s1 and s2 must have shape (trials, {blocks}), got {s1.shape} and {s2.shape}")
    _check_blocks(blocks, int(count.sum()))
    if s1.shape[0] < 2:
        raise ValueError(f"PBO needs at least 2 trials to select from, got {s1.shape[0]}")
    combos = _combinations(blocks)
    logits, best, is_sr, oos_sr = cscv_logits_nb(count, np.ascontiguousarray(s1), np.ascontiguousarray(s2), combos)
    return PBOResult(pbo=float(np.mean(logits <= 0.0)), logits=logits, n_combinations=int(combos.shape[0]),
                     n_trials=int(s1.shape[0]), blocks=int(blocks), best_trial=best, is_sharpe=is_sr,
                     oos_sharpe=oos_sr)


def pbo(returns: Any, blocks: int = 16) -> PBOResult:
    """Probability of backtest overfitting of a (bars × trials) return matrix (CSCV).

    ``pbo_from_block_stats(*block_stats(returns, blocks))`` — Bailey, Borwein, López de Prado &
    Zhu (2015). Sweeps use the two steps separately so that they never hold the matrix.

    Parameters
    ----------
    returns:
        ``(bars, trials)`` per-bar returns, one column per trial; finite.
    blocks:
        Number of contiguous blocks S, even (default 16: 12,870 combinations).

    Returns
    -------
    PBOResult
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"returns must be a (bars, trials) matrix, got shape {r.shape}")
    return pbo_from_block_stats(*block_stats(r, blocks))


# --- stationary bootstrap ------------------------------------------------------------------------


def _bootstrap(returns: Any, n_boot: int, mean_block: float | None, seed: int) -> np.ndarray:
    r = _finite(returns, "returns")
    if r.ndim != 1:
        raise ValueError(f"returns must be one series (bars,), got shape {r.shape}")
    if r.shape[0] < 2:
        raise ValueError(f"the bootstrap needs at least 2 returns, got {r.shape[0]}")
    if not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    block = float(r.shape[0]) ** (1 / 3) if mean_block is None else float(mean_block)
    if not block >= 1:
        raise ValueError(f"mean_block must be >= 1 bar, got {mean_block!r}")
    return stationary_bootstrap_nb(np.ascontiguousarray(r), int(n_boot), block, np.random.default_rng(seed))


def _interval(values: np.ndarray, alpha: float) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if not v.size:
        return (math.nan, math.nan)
    lo, hi = np.quantile(v, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def bootstrap_intervals(returns: Any, *, n_boot: int = 1000, mean_block: float | None = None,
                        alpha: float = 0.05, seed: int = 0, ann_factor: float | None = None) -> dict[str, tuple[float, float]]:
    """Stationary-bootstrap percentile intervals of total return and Sharpe ratio, from one set of resamples.

    Politis & Romano (1994), "The Stationary Bootstrap", JASA 89(428): ``n_boot`` resamples of
    the series built from blocks with random starts and geometric lengths of mean
    ``mean_block`` (wrapping around), which keeps the serial dependence of returns within a
    block; the interval is the ``alpha/2`` and ``1 − alpha/2`` quantiles of the resampled
    statistic (the percentile method, Efron & Tibshirani 1993, ch. 13).

    Parameters
    ----------
    returns:
        ``(n,)`` per-bar returns (e.g. a walk-forward's stitched out-of-sample returns).
    n_boot:
        Number of resamples (default 1,000).
    mean_block:
        Mean block length in bars; default ``n ** (1/3)``, the rate of the optimal block length
        for variance estimation (Politis & White 2004).
    alpha:
        Two-sided level: 0.05 gives the 95 % interval.
    seed:
        Seed; the same seed gives the same interval.
    ann_factor:
        Bars per year; when given, the Sharpe interval is annualised (× √ann_factor), else it is
        per bar.

    Returns
    -------
    dict
        ``{"total_return": (low, high), "sharpe": (low, high)}``; total return is compounded,
        ``Π(1 + r) − 1``. A Sharpe interval is ``(nan, nan)`` when every resample has zero
        variance.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    boot = _bootstrap(returns, n_boot, mean_block, seed)
    sharpe = boot[:, 1] * (math.sqrt(ann_factor) if ann_factor is not None else 1.0)
    return {"total_return": _interval(boot[:, 0], alpha), "sharpe": _interval(sharpe, alpha)}


def bootstrap_interval(returns: Any, *, stat: str = "total_return", n_boot: int = 1000,
                       mean_block: float | None = None, alpha: float = 0.05, seed: int = 0,
                       ann_factor: float | None = None) -> tuple[float, float]:
    """Stationary-bootstrap percentile interval of one statistic of a return series.

    Parameters
    ----------
    returns:
        ``(n,)`` per-bar returns.
    stat:
        ``"total_return"`` (compounded) or ``"sharpe"`` (per bar, or annualised with
        ``ann_factor``).
    n_boot, mean_block, alpha, seed, ann_factor:
        As for :func:`bootstrap_intervals` (Politis & Romano 1994).

    Returns
    -------
    tuple of float
        ``(low, high)``, the ``1 − alpha`` interval.
    """
    if stat not in _STATS:
        raise ValueError(f"stat must be one of {', '.join(_STATS)}, got {stat!r}")
    return bootstrap_intervals(returns, n_boot=n_boot, mean_block=mean_block, alpha=alpha, seed=seed,
                               ann_factor=ann_factor)[stat]


# --- random-entry baseline -----------------------------------------------------------------------


def _plan(n_bars: int, trades: int, exposure: float, long_share: float) -> tuple[int, int, int]:
    """(trades, bars in a position, long trades) that fit ``n_bars`` (see :func:`random_positions`)."""
    m = n_bars - 1
    k = min(int(trades), (m + 1) // 2) if m >= 1 else 0
    if k <= 0:
        return 0, 0, 0
    exposed = min(max(round(exposure * n_bars), k), m - (k - 1))
    return k, exposed, round(long_share * k)


def random_positions(n_bars: int, *, n_series: int = 1000, trades: int, exposure: float, long_share: float,
                     seed: int = 0) -> np.ndarray:
    """Random position series with a strategy's activity: its trade count, exposure and long/short mix.

    Construction (kernel :func:`fuzzyvec.nb.significance.random_positions_nb`): every series
    has ``K = trades`` runs of non-zero positions ("trades"), ``E = round(exposure × n_bars)``
    bars in a position and ``L = round(long_share × K)`` long runs (+1), the others short (−1).
    Runs never touch (at least one flat bar between two, so each is one trade in the engine)
    and the last bar is flat (so every run is filled under ``next_open``). Among all such
    arrangements each is equally likely: the run lengths are a uniform random composition of E
    into K parts, the spare flat bars are spread uniformly over the K + 1 gaps, and the long
    runs are a uniform random subset — so entries fall at random bars. Where the activity does
    not fit, the closest one that does is used: ``K ≤ n_bars // 2``, ``K ≤ E ≤ n_bars − K``.
    ``trades = 0`` gives flat series.

    Parameters
    ----------
    n_bars:
        Bars of each series.
    n_series:
        Number of series (columns).
    trades:
        Trades (positions opened) per series.
    exposure:
        Fraction of the bars in a position, in [0, 1].
    long_share:
        Fraction of the trades that are long, in [0, 1].
    seed:
        Seed (the same seed gives the same series).

    Returns
    -------
    numpy.ndarray
        int8 ``(n_bars, n_series)`` positions in {−1, 0, +1}, time on axis 0.
    """
    for name, v in (("n_bars", n_bars), ("n_series", n_series)):
        if not isinstance(v, int | np.integer) or v < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
    if not trades >= 0:
        raise ValueError(f"trades must be >= 0, got {trades!r}")
    for name, v in (("exposure", exposure), ("long_share", long_share)):
        if not 0 <= v <= 1:
            raise ValueError(f"{name} must be a fraction in [0, 1], got {v!r}")
    k, exposed, longs = _plan(int(n_bars), int(trades), float(exposure), float(long_share))
    if k == 0 or n_series == 0:
        return np.zeros((int(n_bars), int(n_series)), dtype=np.int8)
    return random_positions_nb(int(n_bars), int(n_series), k, exposed, longs, np.random.default_rng(seed))


def baseline_pvalue(value: float, samples: Any) -> float:
    """One-sided p-value of a strategy's metric against baseline samples: ``(1 + #{s ≥ value}) / (N + 1)``.

    The Monte Carlo p-value with the +1 correction (North, Curtis & Sham 2002, "A note on the
    calculation of empirical P values from Monte Carlo procedures", Am. J. Hum. Genet. 71(2);
    Davison & Hinkley 1997, section 4.2): the strategy counts as one of the draws, so p is
    never 0 and is valid under the null that the strategy is one more random series. Larger metric = better (use −drawdown for drawdowns).

    Parameters
    ----------
    value:
        The strategy's metric (e.g. total return).
    samples:
        The baseline series' values of the same metric; NaNs are dropped.

    Returns
    -------
    float
        In ``[1/(N+1), 1]``; 1.0 with no samples; NaN when ``value`` is NaN.
    """
    s = np.asarray(samples, dtype=np.float64).ravel()
    s = s[~np.isnan(s)]
    if value is None or math.isnan(float(value)):
        return math.nan
    return float((1 + np.count_nonzero(s >= float(value))) / (s.size + 1))


def percentile_of(value: float, samples: Any) -> float:
    """Percentile (0–100) of ``value`` among ``samples``: ``100 (#{s < v} + #{s = v} / 2) / N``.

    The "mean" definition of ``scipy.stats.percentileofscore`` (ties count half). NaN samples
    are dropped.

    Returns
    -------
    float
        In [0, 100]; NaN with no samples or a NaN ``value``.
    """
    s = np.asarray(samples, dtype=np.float64).ravel()
    s = s[~np.isnan(s)]
    if value is None or not s.size or math.isnan(float(value)):
        return math.nan
    v = float(value)
    return float(100.0 * (np.count_nonzero(s < v) + 0.5 * np.count_nonzero(s == v)) / s.size)
