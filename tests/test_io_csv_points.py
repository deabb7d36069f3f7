"""Tests of the wide point CSV reader: known answers, round trips and one-line input errors."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insarfusion.errors import InputError
from insarfusion.io import read_points
from insarfusion.io.csv_points import read_csv_points

GOOD = """id,lon,lat,incidence,heading,velocity,coherence,height,20150312,2015-03-24,20150405
A,13.10,38.70,39.0,-10.0,2.5,0.80,12.5,0.0,1.5,3.0
B,13.20,38.71,39.2,,,0.90,13.0,0.0,-1.0,
,,,,,,,,,,
C,13.20,38.72,39.1,-10.2,-4.0,0.70,,0.0,-1.0,2.0
"""


def write(tmp_path, text, name="points.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_known_answers(tmp_path, log_records):
    ds = read_csv_points(write(tmp_path, GOOD), band="X", technique="PSI")
    assert list(ds["point"].values) == ["A", "B", "C"]
    assert ds.sizes == {"point": 3, "time": 3}
    assert str(ds["time"].values[1])[:10] == "2015-03-24"
    np.testing.assert_array_equal(ds["displacement"].values[1], [0.0, -1.0, np.nan])
    np.testing.assert_allclose(ds["quality"].values, [0.8, 0.9, 0.7])
    np.testing.assert_allclose(ds["incidence"].values, [39.0, 39.2, 39.1])
    np.testing.assert_allclose(ds["height"].values, [12.5, 13.0, np.nan])
    # B has no file velocity: least-squares slope of (0, -1) mm over 12 days.
    np.testing.assert_allclose(ds["velocity"].values, [2.5, -365.25 / 12, -4.0])
    assert np.isnan(ds["heading"].values[1])
    assert ds.attrs["name"] == "points" and ds.attrs["band"] == "X"
    assert ds.attrs["crs"] == "EPSG:32633"
    dropped = [r.getMessage() for r in log_records if "dropped" in r.getMessage()]
    assert dropped and "dropped 1 of 4 rows" in dropped[0] and "rows 4" in dropped[0]


def test_xy_needs_crs_and_is_kept(tmp_path):
    text = "id,x,y,20200101,20200113\np1,300000,4290000,0,1\np2,300100,4290050,0,2\n"
    ds = read_csv_points(write(tmp_path, text), crs="EPSG:32633")
    np.testing.assert_allclose(ds["x"].values, [300000, 300100])
    np.testing.assert_allclose(ds["y"].values, [4290000, 4290050])
    assert 12 < ds["lon"].values[0] < 13 and 38 < ds["lat"].values[0] < 39
    with pytest.raises(InputError, match="crs"):
        read_csv_points(write(tmp_path, text))


def test_missing_id_uses_row_numbers(tmp_path, log_records):
    ds = read_csv_points(write(tmp_path, "lon,lat,20200101\n13,38,0\n,,\n13.1,38,1\n"))
    assert list(ds["point"].values) == ["2", "4"]
    assert any("no 'id' column" in r.getMessage() for r in log_records)


def test_geometry_arguments(tmp_path, log_records):
    without = write(tmp_path, "id,lon,lat,20200101\na,13,38,0\n", "without.csv")
    ds = read_csv_points(without, incidence=34.0, heading=190.0)
    assert ds["incidence"].values[0] == 34.0
    assert ds["heading"].values[0] == pytest.approx(-170.0)
    # the file's column wins; a different argument is reported
    ds = read_csv_points(write(tmp_path, GOOD), incidence=30.0, heading=-10.0)
    np.testing.assert_allclose(ds["incidence"].values, [39.0, 39.2, 39.1])
    np.testing.assert_allclose(ds["heading"].values, [-10.0, -10.0, -10.2])  # B filled in
    text = " ".join(r.getMessage() for r in log_records)
    assert "incidence" in text and "differs from the given 30.00" in text
    assert "differs from the given -10.00" not in text  # heading agrees within 1 degree


def test_zip_equals_csv(tmp_path):
    csv_path = write(tmp_path, GOOD)
    zip_path = tmp_path / "points.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("inner/points.csv", GOOD)
    a, b = read_csv_points(csv_path), read_csv_points(zip_path)
    np.testing.assert_array_equal(a["displacement"].values, b["displacement"].values)
    assert b.attrs["name"] == "points"
    assert b.attrs["source"].endswith("points.zip!inner/points.csv")


def test_byte_order_mark_and_crlf(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeff" + GOOD.replace("\n", "\r\n")).encode("utf-8"))
    ds = read_csv_points(path)
    assert list(ds["point"].values) == ["A", "B", "C"]
    np.testing.assert_array_equal(ds["displacement"].values[0], [0.0, 1.5, 3.0])


def test_registry_and_unknown_option(tmp_path):
    path = write(tmp_path, GOOD)
    assert read_points(path, "csv").sizes["point"] == 3
    with pytest.raises(InputError, match="unknown option 'delimiter'"):
        read_csv_points(path, delimiter=";")


# ----------------------------------------------------------------------------- round trip
ids_strategy = st.lists(st.text("ABNaxyzn019_-", min_size=1, max_size=8), min_size=1,
                        max_size=12, unique=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(ids=ids_strategy, data=st.data())
def test_round_trip(tmp_path_factory, ids, data):
    n = len(ids)
    day_numbers = data.draw(st.lists(st.integers(7000, 22000), min_size=1, max_size=15,
                                     unique=True))
    dates = np.sort(np.array(day_numbers, dtype="datetime64[D]"))
    dashed = data.draw(st.booleans())
    labels = [str(d) if dashed else str(d).replace("-", "") for d in dates]
    values = st.floats(-1e4, 1e4, allow_nan=False, width=64)
    disp = np.array(data.draw(st.lists(st.lists(values, min_size=len(dates),
                                                max_size=len(dates)),
                                       min_size=n, max_size=n)))
    holes = np.array(data.draw(st.lists(st.lists(st.booleans(), min_size=len(dates),
                                                 max_size=len(dates)),
                                        min_size=n, max_size=n)))
    holes[:, 0] = False  # every row keeps a value
    disp[holes] = np.nan
    lon0 = data.draw(st.floats(-170, 170))
    lat0 = data.draw(st.floats(-75, 75))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    lon = lon0 + rng.uniform(-0.5, 0.5, n)
    lat = lat0 + rng.uniform(-0.5, 0.5, n)
    inc = rng.uniform(1, 89, n)
    coh = rng.uniform(0, 1, n)
    frame = pd.DataFrame({"id": ids, "lon": lon, "lat": lat, "incidence": inc,
                          "coherence": coh})
    frame = pd.concat([frame, pd.DataFrame(disp, columns=labels)], axis=1)
    path = tmp_path_factory.mktemp("rt") / "rt.csv"
    frame.to_csv(path, index=False)

    ds = read_csv_points(path)
    assert list(ds["point"].values) == ids
    np.testing.assert_array_equal(ds["time"].values.astype("datetime64[D]"), dates)
    np.testing.assert_allclose(ds["displacement"].values, disp, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(ds["lat"].values, lat, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ds["incidence"].values, inc, rtol=1e-12)
    np.testing.assert_allclose(ds["quality"].values, coh, rtol=1e-12)


# ----------------------------------------------------------------------------- bad input
H = "id,lon,lat,incidence,20150312,20150324\n"
BAD = {
    "non-numeric cell": (H + "a,13,38,39,0,1\nb,13,38,39,0,x1\n",
                         ["row 3", "column '20150324'", "not a number: 'x1'"]),
    "misspelled lon": ("id,lng,lat,20150312\na,13,38,0\n",
                       ["missing column 'lon'", "'lng'", "misspelled"]),
    "no coordinates": ("id,foo,20150312\na,13,0\n", ["missing column 'lon'"]),
    "invalid date": ("id,lon,lat,20150312,20151332\na,13,38,0,1\n",
                     ["column '20151332'", "not a valid date"]),
    "duplicate date column": ("id,lon,lat,20150312,20150312\na,13,38,0,1\n",
                              ["column '20150312'", "appears twice"]),
    "same date spelled twice": ("id,lon,lat,20150312,2015-03-12\na,13,38,0,1\n",
                                ["column '2015-03-12'", "2015-03-12 appears twice"]),
    "unsorted dates": ("id,lon,lat,20150324,20150312\na,13,38,0,1\n",
                       ["column '20150312'", "out of order"]),
    "latitude out of range": (H + "a,13,38,39,0,1\nb,13,95,39,0,1\n",
                              ["row 3", "column 'lat'", "latitude 95 outside"]),
    "incidence zero": (H + "a,13,38,0,0,1\n", ["row 2", "column 'incidence'", "incidence"]),
    "incidence 90": (H + "a,13,38,39,0,1\nb,13,38,39,0,1\nc,13,38,90,0,1\n",
                     ["row 4", "column 'incidence'", "90 outside (0, 90)"]),
    "semicolons": ("id;lon;lat;20150312\na;13;38;0\n", ["row 1", "wrong delimiter"]),
    "header only": (H, ["header only"]),
    "all rows empty": (H + ",,,,,\n,,,,,\n", ["no row has a displacement"]),
    "duplicate ids": (H + "a,13,38,39,0,1\nb,13,38,39,0,1\na,13,38,39,0,1\n",
                      ["row 4", "column 'id'", "'a' appears twice", "first at row 2"]),
    "x/y without crs": ("id,x,y,20150312\na,1,2,0\n", ["crs"]),
    "column after dates": ("id,lon,lat,20150312,note\na,13,38,0,x\n",
                           ["column 'note'", "non-date column after the date columns"]),
    "missing longitude": (H + "a,,38,39,0,1\n", ["row 2", "column 'lon'", "longitude missing"]),
    "empty id": (H + "a,13,38,39,0,1\n,13,38,39,0,1\n", ["row 3", "column 'id'", "empty"]),
    "ragged row": (H + "a,13,38,39,0,1\nb,13,38,39,0,1,7\n", ["row 3", "cannot parse"]),
    "no date columns": ("id,lon,lat\na,13,38\n", ["no acquisition-date columns"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_one_line(tmp_path, case):
    text, expected = BAD[case]
    path = write(tmp_path, text, "bad_input.csv")
    with pytest.raises(InputError) as info:
        read_csv_points(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for part in expected:
        assert part in message, (case, message)
    assert "\n" not in message and "Traceback" not in message


def test_empty_file(tmp_path):
    path = write(tmp_path, "", "empty.csv")
    with pytest.raises(InputError, match="empty.csv: file is empty"):
        read_csv_points(path)


def test_cli_inspect(tmp_path, cli):
    code, out, err = cli("inspect", write(tmp_path, GOOD), "--format", "csv")
    assert code == 0, err
    assert "3 points, 3 epochs" in out and "2015-03-12 .. 2015-04-05" in out
    bad = write(tmp_path, BAD["non-numeric cell"][0], "bad.csv")
    code, out, err = cli("inspect", bad, "--format", "csv")
    assert code == 2
    assert err.strip().count("\n") == 0 and "bad.csv: row 3, column '20150324'" in err
