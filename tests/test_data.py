"""Data layer: loading, validation with clear messages, timestamp parsing, resampling."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import polars as pl
import pytest

import fuzzyvec as fv
from fuzzyvec.data.bars import resample
from fuzzyvec.data.files import describe_data

from .conftest import SAMPLE_DIR, STRATEGIES_DIR

GOOD_CSV = """timestamp,open,high,low,close,volume
2023-01-01T00:00:00Z,100,101,99,100.5,10
2023-01-01T00:05:00Z,100.5,102,100,101,12
2023-01-01T00:10:00Z,101,101.5,100.2,100.8,9
2023-01-01T00:15:00Z,100.8,101,100.1,100.9,11
"""


def _csv(tmp_path, text, name="bars.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _edit(row: int, col: str, value: str) -> str:
    lines = GOOD_CSV.strip().splitlines()
    header = lines[0].split(",")
    cells = lines[row + 1].split(",")
    cells[header.index(col)] = value
    lines[row + 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


def test_bundled_sample_data_schema():
    for name in ("EURUSD_1h", "BTCUSDT_5m", "ETHUSDT_5m"):
        tf = name.split("_")[1]
        df = fv.load_ohlcv(SAMPLE_DIR / f"{name}.parquet", timeframe=tf)
        assert df.schema == pl.Schema({
            "timestamp": pl.Datetime("us", "UTC"), "open": pl.Float64, "high": pl.Float64,
            "low": pl.Float64, "close": pl.Float64, "volume": pl.Float64,
        })
        assert df["timestamp"].is_sorted() and df["timestamp"].n_unique() == df.height


def test_sample_data_is_real_and_documented():
    df = fv.load_ohlcv(SAMPLE_DIR / "BTCUSDT_5m.parquet")
    assert df.height == 104_816
    assert df["open"][0] == 16541.77  # the 2023-01-01 00:00 Binance open
    assert (SAMPLE_DIR / "README.md").read_text().count("sha256") >= 3
    total = sum(p.stat().st_size for p in SAMPLE_DIR.glob("*.parquet"))
    assert total < 5_000_000


def test_good_csv_loads(tmp_path):
    df = fv.load_ohlcv(_csv(tmp_path, GOOD_CSV), timeframe="5m")
    assert df.height == 4
    assert df["timestamp"][0] == datetime(2023, 1, 1, tzinfo=UTC)
    assert df["close"].to_list() == [100.5, 101.0, 100.8, 100.9]


# (csv text, expected fragments) — each message names the file, the column and the row
BAD_FILES = {
    "missing column": (GOOD_CSV.replace(",volume", ",vol"), ["missing column 'volume'"]),
    "missing timestamp": (GOOD_CSV.replace("timestamp,", "when,"), ["missing column 'timestamp'"]),
    "empty": ("timestamp,open,high,low,close,volume\n", ["no bars"]),
    "nan price": (_edit(1, "close", "NaN"), ["column 'close'", "row 1 (line 3)", "NaN"]),
    "inf price": (_edit(2, "high", "inf"), ["column 'high'", "row 2 (line 4)"]),
    "empty price": (_edit(2, "open", ""), ["column 'open'", "row 2 (line 4)"]),
    "non-numeric price": (_edit(3, "low", "abc"), ["column 'low'", "'abc'", "row 3 (line 5)"]),
    "non-positive price": (_edit(0, "low", "0"), ["column 'low'", "non-positive", "row 0 (line 2)"]),
    "high below body": (_edit(1, "high", "100.9"), ["column 'high'", "high < max(open, close)", "row 1"]),
    "low above body": (_edit(2, "low", "100.9"), ["column 'low'", "low > min(open, close)", "row 2"]),
    "negative volume": (_edit(3, "volume", "-1"), ["column 'volume'", "negative volume", "row 3"]),
    "duplicate timestamp": (_edit(2, "timestamp", "2023-01-01T00:05:00Z"),
                            ["column 'timestamp'", "duplicate timestamp", "row 2 (line 4)"]),
    "not increasing": (_edit(3, "timestamp", "2023-01-01T00:01:00Z"),
                       ["column 'timestamp'", "not increasing", "row 3", "sort=True"]),
    "too close": (_edit(3, "timestamp", "2023-01-01T00:12:00Z"),
                  ["column 'timestamp'", "closer together than the 5m timeframe", "row 3", "0:02:00"]),
    "bad timestamp": (_edit(1, "timestamp", "yesterday"), ["column 'timestamp'", "'yesterday'", "row 1"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_messages(tmp_path, case):
    text, fragments = BAD_FILES[case]
    p = _csv(tmp_path, text, f"{case.replace(' ', '_')}.csv")
    with pytest.raises(fv.DataError) as info:
        fv.load_ohlcv(p, timeframe="5m")
    msg = str(info.value)
    assert msg.startswith(f"{p}: "), msg
    for f in fragments:
        assert f in msg, msg


def test_sort_option_sorts_instead_of_failing(tmp_path):
    lines = GOOD_CSV.strip().splitlines()
    shuffled = "\n".join([lines[0], lines[3], lines[1], lines[4], lines[2]]) + "\n"
    p = _csv(tmp_path, shuffled)
    with pytest.raises(fv.DataError, match="not increasing"):
        fv.load_ohlcv(p)
    df = fv.load_ohlcv(p, sort=True, timeframe="5m")
    assert df["timestamp"].is_sorted() and df["close"].to_list() == [100.5, 101.0, 100.8, 100.9]


def test_gaps_are_allowed():
    df = fv.load_ohlcv(SAMPLE_DIR / "EURUSD_1h.parquet", timeframe="1h")  # 52 weekend/holiday gaps
    gaps = np.diff(df["timestamp"].dt.epoch("s").to_numpy())
    assert (gaps > 3600).sum() == 52


def test_missing_file(tmp_path):
    with pytest.raises(fv.DataError, match=r"nope.csv: file not found"):
        fv.load_ohlcv(tmp_path / "nope.csv")


@pytest.mark.parametrize("stamp, expected", [
    ("2023-01-01 00:05:00", "2023-01-01T00:05:00+00:00"),          # naive ISO -> UTC
    ("2023-01-01T00:05:00Z", "2023-01-01T00:05:00+00:00"),
    ("2023-01-01T02:05:00+02:00", "2023-01-01T00:05:00+00:00"),    # offset converted to UTC
    ("1672531500", "2023-01-01T00:05:00+00:00"),                   # epoch seconds
    ("1672531500000", "2023-01-01T00:05:00+00:00"),                # epoch milliseconds
    ("01.01.2023 00:05:00.000", "2023-01-01T00:05:00+00:00"),      # Dukascopy export
])
def test_timestamp_parsing(tmp_path, stamp, expected):
    text = f"Date,Open,High,Low,Close,Volume\n{stamp},1,2,0.5,1.5,10\n"
    df = fv.load_ohlcv(_csv(tmp_path, text))
    assert df["timestamp"][0].isoformat() == expected
    assert df.schema["timestamp"] == pl.Datetime("us", "UTC")


def test_column_names_case_insensitive_and_open_time(tmp_path):
    text = "Open Time,OPEN,High,low,Close,VOLUME,trades\n1672531500000,1,2,0.5,1.5,10,3\n"
    df = fv.load_ohlcv(_csv(tmp_path, text))
    assert df.columns == ["timestamp", "open", "high", "low", "close", "volume"]


def test_frames_polars_and_pandas():
    idx = pd.date_range("2023-01-01", periods=3, freq="1h")  # naive -> UTC
    pdf = pd.DataFrame({"Open": [1.0, 2, 3], "High": [2.0, 3, 4], "Low": [0.5, 1, 2], "Close": [1.5, 2.5, 3.5],
                        "Volume": [1.0, 1, 1]}, index=idx)
    df = fv.load_ohlcv(pdf, timeframe="1h")
    assert df["timestamp"][2] == datetime(2023, 1, 1, 2, tzinfo=UTC)
    df2 = fv.load_ohlcv(df)
    assert df2.equals(df)
    with pytest.raises(fv.DataError, match=r"<frame>: column 'timestamp': bars closer together than the 1d"):
        fv.load_ohlcv(pdf, timeframe="1d")


def test_integer_epoch_column_polars():
    df = pl.DataFrame({"time": [1672531200, 1672531500], "open": [1, 1], "high": [2, 2], "low": [1, 1],
                       "close": [2, 2], "volume": [0, 0]})
    out = fv.load_ohlcv(df, timeframe="5m")
    assert out["timestamp"][1] == datetime(2023, 1, 1, 0, 5, tzinfo=UTC)
    assert out.schema["open"] == pl.Float64


def _pandas_resample(df: pl.DataFrame, rule: str) -> pd.DataFrame:
    """Independent reference: pandas resample, left-closed/left-labelled, empty buckets dropped."""
    pdf = df.to_pandas().set_index("timestamp")
    out = pdf.resample(rule, closed="left", label="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    out = out[pdf.resample(rule, closed="left", label="left")["close"].count() > 0]
    return out


@pytest.mark.parametrize("tf, rule", [("15m", "15min"), ("1h", "1h"), ("4h", "4h"), ("1d", "1D")])
def test_resample_matches_pandas_on_real_5m_data(eth_5m, tf, rule):
    ours = resample(eth_5m, tf, base_timeframe="5m")
    ref = _pandas_resample(eth_5m, rule)
    # the sample ends on a bucket boundary, so every bucket is complete
    assert ours.height == len(ref)
    assert ours["timestamp"].to_list() == list(ref.index.to_pydatetime())
    for c in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(ours[c].to_numpy(), ref[c].to_numpy(), rtol=1e-12)


def test_resample_over_the_halt_gap(eth_5m):
    """2023-03-24: 16 missing 5m bars; the 1h bucket 12:00 holds only the bars that exist."""
    h = resample(eth_5m, "1h", base_timeframe="5m")
    row = h.filter(pl.col("timestamp") == datetime(2023, 3, 24, 12, tzinfo=UTC))
    src = eth_5m.filter((pl.col("timestamp") >= datetime(2023, 3, 24, 12, tzinfo=UTC))
                        & (pl.col("timestamp") < datetime(2023, 3, 24, 13, tzinfo=UTC)))
    assert src.height == 8 and row["volume"][0] == src["volume"].sum()
    # the 13:00 bucket has no bars at all and is not invented
    assert h.filter(pl.col("timestamp") == datetime(2023, 3, 24, 13, tzinfo=UTC)).height == 0


def test_resample_drops_incomplete_last_bucket(eth_5m):
    cut = eth_5m.head(12 * 10 + 7)  # 10 full hours and 7 bars of the 11th
    h = resample(cut, "1h", base_timeframe="5m")
    assert h.height == 10
    h_full = resample(eth_5m.head(12 * 11), "1h", base_timeframe="5m")
    assert h_full.height == 11
    assert h.equals(h_full.head(10))


def test_resample_rejects_non_multiple(eth_5m):
    with pytest.raises(fv.DataError, match="not a whole multiple"):
        resample(eth_5m, "7m", base_timeframe="5m")


def test_load_strategy_data_derives_higher_timeframe():
    spec = fv.load_strategy(STRATEGIES_DIR / "v3_test_example.yaml")
    data = fv.load_strategy_data(spec)
    assert list(data) == ["BTCUSDT"] and list(data["BTCUSDT"]) == ["5m", "1h"]
    base, hour = data["BTCUSDT"]["5m"], data["BTCUSDT"]["1h"]
    assert base.height == 104_816
    assert hour.equals(resample(base, "1h", base_timeframe="5m"))


def test_load_strategy_data_start_end_keeps_history():
    spec = fv.load_strategy(STRATEGIES_DIR / "v3_test_example.yaml")  # history_required: 200
    data = fv.load_strategy_data(spec, start="2023-06-01", end="2023-06-10T12:00")
    base = data["BTCUSDT"]["5m"]
    start = datetime(2023, 6, 1, tzinfo=UTC)
    assert base.filter(pl.col("timestamp") < start).height == 200
    assert base["timestamp"][-1] == datetime(2023, 6, 10, 12, tzinfo=UTC)  # inclusive
    hour = data["BTCUSDT"]["1h"]
    assert hour.filter(pl.col("timestamp") < start).height == 200
    # the last hourly bar is the last one complete when the 12:00 5m bar closes (12:05)
    assert hour["timestamp"][-1] == datetime(2023, 6, 10, 11, tzinfo=UTC)


def test_load_strategy_data_from_folder_and_csv(tmp_path, eurusd_1h):
    eurusd_1h.head(500).write_csv(tmp_path / "EURUSD_1h.csv")
    spec = fv.load_strategy(STRATEGIES_DIR / "v3_e2e_test.yaml")
    data = fv.load_strategy_data(spec, data_dir=tmp_path)
    bars = data["EURUSD"]["1h"]
    assert bars.height == 500
    np.testing.assert_array_equal(bars["close"].to_numpy(), eurusd_1h.head(500)["close"].to_numpy())


def test_load_strategy_data_missing_file(tmp_path):
    spec = fv.load_strategy(STRATEGIES_DIR / "v3_e2e_test.yaml")
    with pytest.raises(fv.DataError, match=r"no 1h bars for EURUSD: expected .*EURUSD_1h"):
        fv.load_strategy_data(spec, data_dir=tmp_path)


def test_load_strategy_data_start_after_data():
    spec = fv.load_strategy(STRATEGIES_DIR / "v3_e2e_test.yaml")
    with pytest.raises(fv.DataError, match="no bars at or after start"):
        fv.load_strategy_data(spec, start="2030-01-01")


def test_describe_data():
    spec = fv.load_strategy(STRATEGIES_DIR / "v3_e2e_test.yaml")
    rows = describe_data(fv.load_strategy_data(spec))
    assert rows == [{"symbol": "EURUSD", "timeframe": "1h", "bars": 6225,
                     "first": "2017-01-01 22:00:00+00:00", "last": "2017-12-29 21:00:00+00:00"}]


def test_no_invented_values(tmp_path):
    """A NaN is never replaced: the loader fails instead of filling."""
    text = _edit(1, "volume", "nan")
    with pytest.raises(fv.DataError, match="column 'volume'"):
        fv.load_ohlcv(_csv(tmp_path, text))
    assert not math.isnan(fv.load_ohlcv(_csv(tmp_path, GOOD_CSV))["volume"].sum())
