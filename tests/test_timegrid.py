import logging

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from insarfusion.errors import StageError
from insarfusion.timegrid import common_epochs


def _dates(start, n, step):
    return np.datetime64(start, "D") + np.arange(n) * np.timedelta64(step, "D")


def test_known_answer_intersection_and_anchor():
    csk = _dates("2017-01-03", 40, 16)  # 2017-01-03 .. 2018-09-19
    s1 = _dates("2016-11-01", 80, 12)   # 2016-11-01 .. 2019-07-26
    epochs = common_epochs([csk, s1])
    assert epochs.dtype == np.dtype("datetime64[D]")
    assert epochs[0] == np.datetime64("2017-01-03")
    assert epochs[-1] <= csk[-1] and epochs[-1] + np.timedelta64(12, "D") > csk[-1]
    assert (np.diff(epochs) == np.timedelta64(12, "D")).all()
    assert epochs.size == (csk[-1] - csk[0]).astype(int) // 12 + 1


def test_datasets_and_mapping_and_overrides(caplog):
    time = _dates("2020-01-01", 10, 6)
    ds = xr.Dataset(coords={"time": time.astype("datetime64[ns]")}, attrs={"name": "S1A"})
    epochs = common_epochs({"S1A": ds, "CSK": ["2019-12-01", "2020-03-01"]}, step_days=6)
    assert epochs[0] == np.datetime64("2020-01-01") and epochs[-1] == np.datetime64("2020-02-24")
    with caplog.at_level(logging.WARNING, logger="insarfusion"):
        epochs = common_epochs([ds], step_days=12, start="2019-12-20", end="2020-02-10")
    assert epochs[0] == np.datetime64("2019-12-20")
    assert "time grid start 2019-12-20" in caplog.text and "extrapolated" in caplog.text
    assert "time grid end" not in caplog.text  # 2020-02-10 lies inside the data


def test_non_overlap_names_both_spans():
    with pytest.raises(StageError) as err:
        common_epochs({"CSK": ["2015-01-01", "2016-01-01"], "S1A": ["2017-01-01", "2018-01-01"]})
    text = str(err.value)
    assert "CSK" in text and "S1A" in text
    assert "2015-01-01..2016-01-01" in text and "2017-01-01..2018-01-01" in text


def test_too_short_overlap():
    with pytest.raises(StageError, match="fewer than 2 epochs"):
        common_epochs([["2020-01-01", "2020-01-10"], ["2020-01-05", "2020-02-01"]])


spans = st.tuples(st.integers(0, 2000), st.integers(1, 1500))


@settings(max_examples=60, deadline=None)
@given(st.lists(spans, min_size=1, max_size=4), st.integers(1, 40))
def test_epochs_inside_every_span_and_spaced_by_step(raw, step):
    origin = np.datetime64("2014-01-01", "D")
    arrays = [origin + np.array([a, a + length]) * np.timedelta64(1, "D") for a, length in raw]
    first = max(a for a, _ in raw)
    last = min(a + length for a, length in raw)
    if last - first < step:
        with pytest.raises(StageError):
            common_epochs(arrays, step_days=step)
        return
    epochs = common_epochs(arrays, step_days=step)
    assert (np.diff(epochs) == np.timedelta64(step, "D")).all()
    for dates in arrays:
        assert (epochs >= dates.min()).all() and (epochs <= dates.max()).all()
    assert epochs[0] == origin + np.timedelta64(first, "D")
    assert epochs[-1] + np.timedelta64(step, "D") > origin + np.timedelta64(last, "D")
