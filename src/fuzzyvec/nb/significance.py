"""Kernels of the honest-evaluation statistics (SPEC §15).

- :func:`psr_nb`: the probabilistic Sharpe ratio of many trials at once (Bailey & López de
  Prado, 2012, "The Sharpe Ratio Efficient Frontier", eq. 9; the deflated Sharpe ratio of
  Bailey & López de Prado, 2014, eq. 2, is this with the expected maximum Sharpe as benchmark).
- :func:`cscv_logits_nb`: the combinatorially symmetric cross-validation of Bailey, Borwein,
  López de Prado & Zhu, 2015, "The Probability of Backtest Overfitting", section 2.2 steps
  1–6, run from per-block sufficient statistics (count, sum, sum of squares), parallel over
  the combinations.
- :func:`stationary_bootstrap_nb`: the stationary bootstrap of Politis & Romano, 1994, "The
  Stationary Bootstrap", JASA 89(428), section 2 (blocks of geometric length, wrapped around
  the end of the series), evaluating total return and Sharpe ratio of every resample without
  storing it.
- :func:`random_positions_nb`: random position series with an exact number of trades, bars in
  a position and long trades (the random-entry baseline of SPEC §15).

The random kernels draw from a :class:`numpy.random.Generator` passed in (numba supports them
in nopython mode) and run serially, so a seeded generator gives the same numbers on every
machine and thread count, and no global random state is touched.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["cscv_logits_nb", "psr_nb", "random_positions_nb", "stationary_bootstrap_nb"]

#: a union of blocks whose variance is at most this fraction of its mean square is "zero variance"
#: (rounding of sum-of-squares arithmetic); that is a per-bar Sharpe above ~30,000
VAR_RTOL = 1e-9


@njit(cache=True)
def _psr_one_nb(sr, n, skew, kurt, sr_bench):
    if not (np.isfinite(sr) and np.isfinite(skew) and np.isfinite(kurt) and np.isfinite(sr_bench)) or n < 2:
        return np.nan
    den = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if den <= 0.0:
        return np.nan
    z = (sr - sr_bench) * math.sqrt(n - 1.0) / math.sqrt(den)
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


@njit(cache=True)
def psr_nb(sr, n_obs, skew, kurt, sr_bench):
    """Probabilistic Sharpe ratio of each trial: ``Φ((SR − SR*) √(n − 1) / √(1 − γ3 SR + (γ4 − 1)/4 SR²))``.

    Reference: Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier", Journal
    of Risk 15(2), eq. 9; with ``sr_bench`` = the expected maximum Sharpe of the trials it is
    the deflated Sharpe ratio of Bailey & López de Prado (2014), eq. 2. ``Φ`` is the standard
    normal CDF, ``0.5 (1 + erf(z / √2))``.

    Parameters
    ----------
    sr, n_obs, skew, kurt, sr_bench:
        float64 arrays of one shape ``(m,)``: the per-bar (non-annualised) Sharpe ratio, the
        number of returns it was estimated from, their skewness and their kurtosis (non-excess:
        3 for a normal distribution), and the benchmark Sharpe ratio (per bar).

    Returns
    -------
    numpy.ndarray
        float64 ``(m,)`` probabilities in [0, 1]; NaN where an input is NaN, ``n_obs < 2`` or the
        variance term is not positive.
    """
    m = sr.shape[0]
    out = np.empty(m)
    for i in range(m):
        out[i] = _psr_one_nb(sr[i], n_obs[i], skew[i], kurt[i], sr_bench[i])
    return out


@njit(cache=True)
def _signed_sq_sharpe_nb(n, s1, s2):
    """``sign(SR) · SR²`` of the per-bar Sharpe ratio (ddof 1) from count, sum and sum of squares.

    The same order as the Sharpe ratio without its square root; -inf where undefined.
    """
    if n < 2:
        return -np.inf
    mean = s1 / n
    var = (s2 - s1 * mean) / (n - 1.0)
    if var <= VAR_RTOL * (s2 / n):
        return -np.inf
    return mean * abs(mean) / var


@njit(cache=True)
def _best_and_logit_nb(is_q, oos_q):
    """The IS-best trial (first of the highest) and the logit of its OOS mid-rank."""
    n_trials = is_q.shape[0]
    best = 0
    for t in range(1, n_trials):
        if is_q[t] > is_q[best]:
            best = t
    target = oos_q[best]
    worse = 0
    tied = 0
    for t in range(n_trials):
        if t != best:
            if oos_q[t] < target:
                worse += 1
            elif oos_q[t] == target:
                tied += 1
    w = (1.0 + worse + 0.5 * tied) / (n_trials + 1.0)
    return best, math.log(w / (1.0 - w))


@njit(cache=True)
def _unsquare_nb(q):
    """The Sharpe ratio back from its signed square (-inf stays -inf)."""
    if q == -np.inf:
        return q
    return math.copysign(math.sqrt(abs(q)), q)


@njit(cache=True, parallel=True)
def cscv_logits_nb(count, s1, s2, combos):
    """CSCV over block statistics: for each combination, the IS-best trial and its OOS logit.

    Reference: Bailey, Borwein, López de Prado & Zhu (2015), "The Probability of Backtest
    Overfitting", Journal of Computational Finance 20(4), section 2.2, steps 1–6, with the
    Sharpe ratio as the performance statistic. The Sharpe ratio of a union of blocks is
    ``mean / std`` (ddof 1) of its pooled returns, computed from the summed count, sum and sum
    of squares, so no (bars × trials) matrix is needed.

    A trial whose Sharpe ratio in a half is undefined (fewer than 2 bars, or zero variance up to
    rounding, :data:`VAR_RTOL`) scores ``-inf`` there: it is the IS best only when every trial
    is undefined, and it ranks below every defined trial OOS. The IS best is the first trial
    (lowest index) with the highest Sharpe ratio. The OOS rank is the mid-rank
    ``1 + #{worse} + #{tied}/2`` (1 = worst, N = best), so the relative rank
    ``ω̄ = rank / (N + 1)`` lies in (0, 1) and the logit ``λ = ln(ω̄ / (1 − ω̄))`` is finite.
    Trials are compared by the signed square of the Sharpe ratio (same order, no square root);
    the square root is taken only for the IS-best trial.

    Parameters
    ----------
    count:
        float64 ``(S,)`` bars per block.
    s1, s2:
        float64 ``(N, S)`` sum and sum of squares of each trial's returns per block.
    combos:
        int64 ``(C, S/2)`` block indices of each combination's in-sample half, ordered so that
        ``combos[C - 1 - c]`` is the complement of ``combos[c]`` (what
        ``itertools.combinations(range(S), S // 2)`` yields): one pass over a half and its
        complement serves both combinations.

    Returns
    -------
    tuple of numpy.ndarray
        ``(logits, best, is_sharpe, oos_sharpe)``, each ``(C,)``: the logit of the IS-best
        trial's OOS relative rank, its index, and its IS and OOS Sharpe ratios (per bar; -inf
        where undefined).
    """
    n_trials, n_blocks = s1.shape
    n_comb, half = combos.shape
    tot_n = 0.0
    for b in range(n_blocks):
        tot_n += count[b]
    tot1 = np.zeros(n_trials)
    tot2 = np.zeros(n_trials)
    for t in range(n_trials):
        for b in range(n_blocks):
            tot1[t] += s1[t, b]
            tot2[t] += s2[t, b]
    logits = np.empty(n_comb)
    best_out = np.empty(n_comb, dtype=np.int64)
    is_out = np.empty(n_comb)
    oos_out = np.empty(n_comb)
    for c in prange((n_comb + 1) // 2):
        d = n_comb - 1 - c  # the complement of half c
        a_n = 0.0
        for k in range(half):
            a_n += count[combos[c, k]]
        b_n = tot_n - a_n
        qa = np.empty(n_trials)  # signed squared Sharpe ratio on half c
        qb = np.empty(n_trials)  # ... and on its complement
        for t in range(n_trials):
            a1 = 0.0
            a2 = 0.0
            for k in range(half):
                b = combos[c, k]
                a1 += s1[t, b]
                a2 += s2[t, b]
            qa[t] = _signed_sq_sharpe_nb(a_n, a1, a2)
            qb[t] = _signed_sq_sharpe_nb(b_n, tot1[t] - a1, tot2[t] - a2)
        best, logits[c] = _best_and_logit_nb(qa, qb)
        best_out[c] = best
        is_out[c] = _unsquare_nb(qa[best])
        oos_out[c] = _unsquare_nb(qb[best])
        if d != c:
            best, logits[d] = _best_and_logit_nb(qb, qa)
            best_out[d] = best
            is_out[d] = _unsquare_nb(qb[best])
            oos_out[d] = _unsquare_nb(qa[best])
    return logits, best_out, is_out, oos_out


@njit(cache=True)
def stationary_bootstrap_nb(returns, n_boot, mean_block, rng):
    """Total return and Sharpe ratio of ``n_boot`` stationary-bootstrap resamples of ``returns``.

    Reference: Politis & Romano (1994), "The Stationary Bootstrap", JASA 89(428), section 2: a
    resample of length ``n`` is a chain of blocks that start at uniformly random bars and have
    geometric lengths with mean ``mean_block`` (``P(L = k) = p (1 − p)^(k−1)``,
    ``p = 1 / mean_block``), wrapping from the last bar to the first. Each resample is reduced
    on the fly (no ``n_boot × n`` array): its compounded total return ``Π(1 + r) − 1`` (−1 once a
    return is ≤ −1) and its per-bar Sharpe ratio ``mean / std`` (ddof 1; NaN at zero variance).

    Parameters
    ----------
    returns:
        float64 ``(n,)`` per-bar returns, finite.
    n_boot:
        Number of resamples.
    mean_block:
        Mean block length in bars, ``>= 1``.
    rng:
        A :class:`numpy.random.Generator` (the same seed gives the same resamples).

    Returns
    -------
    numpy.ndarray
        float64 ``(n_boot, 2)``: total return and per-bar Sharpe ratio of each resample.
    """
    n = returns.shape[0]
    p = 1.0 / mean_block
    # prefix sums of r, r², log(1 + r) and of wiped bars (r <= -1): a block's sums are two lookups,
    # so a resample costs its number of blocks (~n / mean_block), not n
    c1 = np.zeros(n + 1)
    c2 = np.zeros(n + 1)
    cl = np.zeros(n + 1)
    cw = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        x = returns[i]
        c1[i + 1] = c1[i] + x
        c2[i + 1] = c2[i] + x * x
        cl[i + 1] = cl[i] + (math.log1p(x) if x > -1.0 else 0.0)
        cw[i + 1] = cw[i] + (1 if x <= -1.0 else 0)
    out = np.empty((n_boot, 2))
    for r in range(n_boot):
        s1 = 0.0
        s2 = 0.0
        logsum = 0.0
        wiped = 0
        filled = 0
        while filled < n:
            idx = min(int(rng.random() * n), n - 1)
            length = rng.geometric(p) if p < 1.0 else 1
            if length > n - filled:
                length = n - filled
            end = idx + length
            if end <= n:
                s1 += c1[end] - c1[idx]
                s2 += c2[end] - c2[idx]
                logsum += cl[end] - cl[idx]
                wiped += cw[end] - cw[idx]
            else:  # wraps from the last bar to the first
                end -= n
                s1 += (c1[n] - c1[idx]) + c1[end]
                s2 += (c2[n] - c2[idx]) + c2[end]
                logsum += (cl[n] - cl[idx]) + cl[end]
                wiped += (cw[n] - cw[idx]) + cw[end]
            filled += length
        out[r, 0] = -1.0 if wiped else math.expm1(logsum)
        mean = s1 / n
        var = (s2 - s1 * mean) / (n - 1.0) if n > 1 else 0.0
        out[r, 1] = mean / math.sqrt(var) if var > VAR_RTOL * (s2 / n) else np.nan
    return out


@njit(cache=True)
def _sample_sorted_nb(rng, m, k, out, mask):
    """``k`` distinct integers of ``0 .. m-1``, uniformly, sorted into ``out[:k]`` (Floyd's algorithm).

    Reference: Bentley & Floyd (1987), "Programming pearls: a sample of brilliance", CACM 30(9).
    ``out`` needs ``k + 1`` slots; ``mask`` (``(>= m,)`` bool, all False) is scratch and is left
    all False. The picks are put in order by sorting them (few picks) or by one branch-free scan
    of the mask (many picks).
    """
    cnt = 0
    for j in range(m - k, m):
        t = min(int(rng.random() * (j + 1)), j)  # uniform on 0..j (bias < j / 2**53); rng.integers is ~15x slower
        if mask[t]:
            t = j
        mask[t] = True
        out[cnt] = t
        cnt += 1
    if 64 * k < m:  # sorting k picks costs about k log k, a scan about m / 64 of that unit
        out[:k].sort()
        for i in range(k):
            mask[out[i]] = False
    else:
        cnt = 0
        for t in range(m):
            out[cnt] = t
            cnt += mask[t]
        mask[:m] = False


@njit(cache=True)
def random_positions_nb(n_bars, n_series, trades, exposed, longs, rng):
    """Random position series with exactly ``trades`` trades, ``exposed`` bars in a position and ``longs`` long trades.

    Reference: the random-entry benchmark of SPEC §15 (a permutation test of entry timing with
    the strategy's activity held fixed). Every arrangement of ``trades`` non-touching runs of
    non-zero positions inside bars ``0 .. n_bars - 2`` (the last bar stays flat, so every run is
    filled under ``next_open`` too) is equally likely:

    1. run lengths: a uniform composition of ``exposed`` into ``trades`` positive parts (``trades
       − 1`` distinct cut points out of ``1 .. exposed − 1``);
    2. flat gaps: the ``free = n_bars − 1 − exposed − (trades − 1)`` spare flat bars spread over
       the ``trades + 1`` gaps as a uniform composition into non-negative parts (stars and bars),
       plus the one flat bar every inner gap needs;
    3. sides: ``longs`` of the runs, chosen uniformly, are +1, the others −1.

    The caller guarantees ``trades >= 1``, ``trades <= exposed`` and ``exposed + trades − 1 <=
    n_bars − 1``, ``0 <= longs <= trades``.

    Returns
    -------
    numpy.ndarray
        int8 ``(n_bars, n_series)`` positions in {-1, 0, +1} (a Fortran-ordered view: each
        series is contiguous).
    """
    out = np.zeros((n_series, n_bars), dtype=np.int8)  # one contiguous row per series while writing
    m = n_bars - 1
    free = m - exposed - (trades - 1)
    size = max(exposed, free + trades, trades) + 1
    mask = np.zeros(size, dtype=np.bool_)
    cuts = np.empty(trades + 1, dtype=np.int64)
    gaps = np.empty(trades + 1, dtype=np.int64)
    sides = np.empty(trades + 1, dtype=np.int64)
    is_long = np.zeros(trades, dtype=np.bool_)
    for j in range(n_series):
        _sample_sorted_nb(rng, exposed - 1, trades - 1, cuts, mask)  # cut points 0 .. exposed-2 (+1 below)
        _sample_sorted_nb(rng, free + trades, trades, gaps, mask)
        _sample_sorted_nb(rng, trades, longs, sides, mask)
        for i in range(trades):
            is_long[i] = False
        for i in range(longs):
            is_long[sides[i]] = True
        pos = gaps[0]
        prev_cut = 0
        for i in range(trades):
            end_cut = cuts[i] + 1 if i < trades - 1 else exposed
            length = end_cut - prev_cut
            prev_cut = end_cut
            side = 1 if is_long[i] else -1
            for t in range(pos, pos + length):
                out[j, t] = side
            pos += length
            if i < trades - 1:
                pos += gaps[i + 1] - gaps[i]  # (g_{i+1} − g_i − 1) spare bars + the 1 required
    return out.T
