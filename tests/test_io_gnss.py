"""GNSS readers: real-file known answers, ECEF -> ENU, csv round trip, one-line errors."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from insarfusion.errors import InputError
from insarfusion.io import read_gnss
from insarfusion.io.gnss import (
    ecef_to_enu,
    read_ecef,
    read_gnss_csv,
    read_pos,
    read_tenv,
    read_tenv3,
)

TENV3_HEADER = ("site YYMMMDD yyyy.yyyy __MJD week d reflon _e0(m) __east(m) ____n0(m) _north(m) "
                "u0(m) ____up(m) _ant(m) sig_e(m) sig_n(m) sig_u(m) __corr_en __corr_eu "
                "__corr_nu _latitude(deg) _longitude(deg) __height(m)")
TENV3_ROWS = [
    "TEST 20JAN01 2020.0000 58849 2086 3 10.0 100 0.100000 5000000 0.200000 50 0.300000 "
    "0.0 0.001 0.002 0.003 0.0 0.0 0.0 45.0 -350.0 50.3",
    "TEST 20JAN02 2020.0027 58850 2086 4 10.0 100 0.101000 5000000 0.198000 50 0.305000 "
    "0.0 0.001 0.002 0.003 0.0 0.0 0.0 45.0 -350.0 50.3",
    "TEST 20JAN03 2020.0055 58851 2086 5 10.0 101 -0.897000 5000000 0.199000 50 0.310000 "
    "0.0 0.001 0.002 0.003 0.0 0.0 0.0 45.0 -350.0 50.3",
]
TENV_ROW = ("BARC 07JUN07 2007.4305 54258 1430 4   0.000165   0.001074  -0.007487  0.0000 "
            "0.000596 0.000846 0.002619 -0.162140  0.235922 -0.268682")


def write(path, lines, end="\n"):
    path.write_text(end.join(lines) + end)
    return path


def one_line(exc: InputError, *parts):
    msg = str(exc)
    assert "\n" not in msg and "Traceback" not in msg
    for part in parts:
        assert part in msg, (part, msg)
    return msg


# --------------------------------------------------------------------------- synthetic files

def test_tenv3_synthetic_known_answer(tmp_path):
    ds = read_tenv3(write(tmp_path / "TEST.tenv3", [TENV3_HEADER, *TENV3_ROWS]))
    assert list(ds["station"].values) == ["TEST"]
    # east: 100.100, 100.101, 101 - 0.897 = 100.103 m -> relative mm 0, 1, 3
    np.testing.assert_allclose(ds["east"].values[0], [0.0, 1.0, 3.0], atol=1e-9)
    np.testing.assert_allclose(ds["north"].values[0], [0.0, -2.0, -1.0], atol=1e-9)
    np.testing.assert_allclose(ds["up"].values[0], [0.0, 5.0, 10.0], atol=1e-9)
    np.testing.assert_allclose(ds["sigma_north"].values[0], 2.0)
    assert ds["lon"].item() == pytest.approx(10.0)  # -350 wrapped
    assert ds["height"].item() == pytest.approx(50.3)
    assert ds.attrs["origin"] == "first epoch"


def test_tenv3_columns_found_by_name_not_position(tmp_path):
    cols = TENV3_HEADER.split()
    table = pd.DataFrame([r.split() for r in TENV3_ROWS], columns=cols)
    shuffled = table[cols[::-1]]
    lines = [" ".join(shuffled.columns)] + [" ".join(r) for r in shuffled.to_numpy()]
    ds = read_tenv3(write(tmp_path / "TEST.tenv3", lines))
    np.testing.assert_allclose(ds["east"].values[0], [0.0, 1.0, 3.0], atol=1e-9)


def test_duplicate_dates_dropped_and_logged(tmp_path, caplog):
    rows = [TENV3_ROWS[0], TENV3_ROWS[1], TENV3_ROWS[1].replace("0.101000", "0.500000"),
            TENV3_ROWS[2]]
    with caplog.at_level("WARNING", logger="insarfusion"):
        ds = read_tenv3(write(tmp_path / "TEST.tenv3", [TENV3_HEADER, *rows]))
    assert ds.sizes["time"] == 3
    assert ds["east"].values[0, 1] == pytest.approx(1.0)  # the first of the repeated rows
    assert "dropped 1 row" in caplog.text


def test_tenv_location_from_options_and_coordinates_file(tmp_path):
    f = write(tmp_path / "BARC.tenv", [TENV_ROW.replace("07JUN07", "07JUN06"), TENV_ROW])
    ds = read_tenv(f, lon=13.1, lat=46.0)
    assert ds["lon"].item() == pytest.approx(13.1)
    np.testing.assert_allclose(ds["up"].values[0], [0.0, 0.0])  # two equal rows, relative
    coords = write(tmp_path / "coords.csv", ["station,lon,lat,height", "BARC,12.5,46.2,300"])
    ds = read_tenv(f, coordinates=coords)
    assert (ds["lon"].item(), ds["lat"].item(), ds["height"].item()) == (12.5, 46.2, 300.0)
    assert np.isfinite(ds["x"].item())


def test_tenv_without_location_is_nan_and_warned(tmp_path, caplog):
    f = write(tmp_path / "BARC.tenv", [TENV_ROW])
    with caplog.at_level("WARNING", logger="insarfusion"):
        ds = read_tenv(f)
    assert np.isnan(ds["lon"].item()) and np.isnan(ds["x"].item())
    assert "no position" in caplog.text


def test_pos_synthetic(tmp_path):
    header = ["PBO Station Position Time Series. Reference Frame : ITRF08",
              "4-character ID: ABCD",
              "NEU Reference position :    40.0  236.5  100.0 (ITRF08/WGS84)",
              "*YYYYMMDD HHMMSS JJJJJ.JJJJ X Y Z Sx Sy Sz Rxy Rxz Ryz NLat Elong Height "
              "dN dE dU Sn Se Su Rne Rnu Reu Soln"]
    row = ("20100102 120000 55198.5 1 2 3 0.1 0.1 0.1 0 0 0 40.0 236.5 100.0 "
           "{dn} {de} {du} 0.002 0.001 0.003 0 0 0 final")
    lines = header + [row.format(dn=0.01, de=0.02, du=0.03).replace("20100102", "20100101"),
                      row.format(dn=0.011, de=0.018, du=0.035)]
    ds = read_pos(write(tmp_path / "ABCD.pos", lines))
    assert ds["station"].item() == "ABCD"
    assert ds["lon"].item() == pytest.approx(-123.5)
    np.testing.assert_allclose(ds["north"].values[0], [0.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(ds["east"].values[0], [0.0, -2.0], atol=1e-9)
    np.testing.assert_allclose(ds["up"].values[0], [0.0, 5.0], atol=1e-9)
    np.testing.assert_allclose(ds["sigma_east"].values[0], 1.0)
    assert ds.attrs["frame"] == "ITRF08"


# --------------------------------------------------------------------------- ECEF -> ENU

def _geocentric(lon, lat, h):
    t = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    return np.array(t.transform(lon, lat, h))


def test_ecef_to_enu_mean_maps_to_zero():
    rng = np.random.default_rng(1)
    base = _geocentric(18.47, 50.07, 330.0)
    xyz = base[:, None] + rng.normal(0, 0.05, (3, 20))
    east, north, up, rotation = ecef_to_enu(*xyz)
    for comp in (east, north, up):
        assert abs(comp.mean()) < 1e-8
    mean = xyz.mean(axis=1)
    at_mean = ecef_to_enu(*mean, origin=tuple(mean))
    np.testing.assert_allclose([float(v) for v in at_mean[:3]], 0.0, atol=1e-9)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)


def test_ecef_station_shifted_up_10_mm(tmp_path):
    lon, lat = np.deg2rad(18.4749), np.deg2rad(50.0664)
    up_unit = np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    base = _geocentric(18.4749, 50.0664, 331.0)
    moved = base + 0.010 * up_unit
    rows = [f"2020 1 {d}\t{p[0]:.7f}\t{p[1]:.7f}\t{p[2]:.7f}\t0.001\t0.001\t0.001\t\t"
            for d, p in ((1, base), (2, moved))]
    f = tmp_path / "GNSS.txt"
    f.write_bytes(("YYYY MM DD X Y Z mX mY mZ\r\n" + "\r\n".join(rows)).encode())  # no final EOL
    ds = read_ecef(f)
    assert ds["station"].item() == tmp_path.name
    np.testing.assert_allclose(ds["up"].values[0], [0.0, 10.0], atol=1e-3)
    np.testing.assert_allclose(ds["east"].values[0], 0.0, atol=1e-3)
    np.testing.assert_allclose(ds["north"].values[0], 0.0, atol=1e-3)
    # equal X/Y/Z sigmas rotate into equal E/N/U sigmas
    np.testing.assert_allclose(ds["sigma_up"].values[0], 1.0, rtol=1e-6)
    assert ds["lat"].item() == pytest.approx(50.0664, abs=1e-6)
    assert read_ecef(f, station="XY01")["station"].item() == "XY01"


# --------------------------------------------------------------------------- csv

def test_csv_several_stations_long_format(tmp_path):
    f = write(tmp_path / "gnss.csv", [
        "station,date,east,north,up,lon,lat,sigma_up",
        "A,2020-01-01,1,2,3,10,45,1.5",
        "B,20200102,0,0,0,10.1,45.1,2",
        "A,2020-01-03,2,2,1,10,45,1.5",
    ])
    ds = read_gnss_csv(f)
    assert list(ds["station"].values) == ["A", "B"] and ds.sizes["time"] == 3
    np.testing.assert_allclose(ds["east"].sel(station="A").values, [0, np.nan, 1])
    np.testing.assert_allclose(ds["up"].sel(station="A").values, [0, np.nan, -2])
    assert np.isnan(ds["sigma_east"].values).all()
    assert ds["sigma_up"].sel(station="B").values[1] == 2


station_names = st.lists(st.from_regex(r"[A-Z][A-Z0-9]{3}", fullmatch=True), min_size=1,
                         max_size=3, unique=True)
mm = st.floats(-1e4, 1e4, allow_nan=False, width=64)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=station_names, data=st.data())
def test_csv_round_trip(tmp_path, names, data):
    n_days = data.draw(st.integers(1, 6))
    day_offsets = sorted(data.draw(st.sets(st.integers(0, 5000), min_size=n_days,
                                           max_size=n_days)))
    dates = np.datetime64("2015-01-01") + np.array(day_offsets)
    rows = []
    truth = {}
    for name in names:
        enu = np.array(data.draw(st.lists(st.tuples(mm, mm, mm), min_size=n_days,
                                          max_size=n_days)))
        truth[name] = enu
        for d, (e, n, u) in zip(dates, enu, strict=True):
            rows.append({"station": name, "date": str(d), "east": e, "north": n, "up": u,
                         "lon": 5.0, "lat": 50.0})
    f = tmp_path / "rt.csv"
    pd.DataFrame(rows).sample(frac=1, random_state=0).to_csv(f, index=False)
    ds = read_gnss_csv(f)
    assert sorted(ds["station"].values) == sorted(names)
    np.testing.assert_array_equal(ds["time"].values.astype("datetime64[D]"), dates)
    for name, enu in truth.items():
        got = np.stack([ds[c].sel(station=name).values for c in ("east", "north", "up")], 1)
        np.testing.assert_allclose(got, enu - enu[0], atol=1e-8)


# --------------------------------------------------------------------------- bad input

BAD_TENV3 = {
    "truncated": ([TENV3_HEADER, TENV3_ROWS[0], TENV3_ROWS[1][:60]], "row 3", "truncated"),
    "not_number": ([TENV3_HEADER, TENV3_ROWS[0].replace("0.100000", "0.1x")],
                   "row 2, column '__east(m)'", "not a number"),
    "bad_date": ([TENV3_HEADER, TENV3_ROWS[0].replace("20JAN01", "20JXN01")],
                 "row 2, column 'YYMMMDD'", "not a date"),
    "missing_column": ([TENV3_HEADER.replace("sig_e(m)", "sigma(m)"), TENV3_ROWS[0]],
                       "row 1", "missing column 'sig_e(m)'"),
    "header_only": ([TENV3_HEADER], "", "no data rows"),
    "too_many": ([TENV3_HEADER, TENV3_ROWS[0] + " 7"], "row 2", "too many values"),
}


@pytest.mark.parametrize("case", sorted(BAD_TENV3))
def test_bad_tenv3(tmp_path, case):
    lines, where, what = BAD_TENV3[case]
    f = write(tmp_path / "BAD.tenv3", lines)
    with pytest.raises(InputError) as err:
        read_tenv3(f)
    one_line(err.value, str(f), where, what)


def test_empty_file(tmp_path):
    f = tmp_path / "EMPTY.tenv3"
    f.write_text("")
    with pytest.raises(InputError) as err:
        read_tenv3(f)
    one_line(err.value, str(f), "empty")


BAD_ECEF = {
    "wrong_count": (["2020 1 1 3890988.0 1300010.5 4867786.5 0.001 0.001"], "row 2",
                    "expected 9 values, found 8"),
    "bad_month": (["2020 1 1 3890988.0 1300010.5 4867786.5 0.001 0.001 0.001",
                   "2020 13 1 3890988.0 1300010.5 4867786.5 0.001 0.001 0.001"], "row 3",
                  "not a date"),
    "not_number": (["2020 1 1 3890988.0 1300010.5 4867786.5 0.001 0.001 0.00l"],
                   "row 2, column 'sz'", "not a number"),
    "not_geocentric": (["2020 1 1 18.4 50.0 300.0 0.001 0.001 0.001"], "row 2",
                       "not geocentric"),
}


@pytest.mark.parametrize("case", sorted(BAD_ECEF))
def test_bad_ecef(tmp_path, case):
    lines, where, what = BAD_ECEF[case]
    f = write(tmp_path / "GNSS.txt", ["YYYY MM DD X Y Z mX mY mZ", *lines], end="\r\n")
    with pytest.raises(InputError) as err:
        read_ecef(f)
    one_line(err.value, str(f), where, what)


def test_bad_pos(tmp_path):
    f = write(tmp_path / "X.pos", ["PBO Station Position Time Series", "no star line"])
    with pytest.raises(InputError) as err:
        read_pos(f)
    one_line(err.value, str(f), "*YYYYMMDD")


def test_bad_tenv(tmp_path):
    f = write(tmp_path / "BARC.tenv", [TENV_ROW, " ".join(TENV_ROW.split()[:13])])
    with pytest.raises(InputError) as err:
        read_tenv(f)
    one_line(err.value, str(f), "row 2", "truncated line: expected 16 values, found 13")
    with pytest.raises(InputError) as err:
        read_tenv(write(tmp_path / "OK.tenv", [TENV_ROW]), lon=13.0)
    one_line(err.value, "both 'lon' and 'lat'")


BAD_CSV = {
    "missing_up": ("station,date,east,north,lon,lat\nA,2020-01-01,1,2,10,45\n", "",
                   "missing column 'up'"),
    "bad_date": ("station,date,east,north,up,lon,lat\nA,2020-01-01,1,2,3,10,45\n"
                 "A,2020-02-30,1,2,3,10,45\n", "row 3, column 'date'", "not a date"),
    "not_number": ("station,date,east,north,up,lon,lat\nA,2020-01-01,1,two,3,10,45\n",
                   "row 2, column 'north'", "not a number: 'two'"),
    "no_station": ("station,date,east,north,up,lon,lat\n,2020-01-01,1,2,3,10,45\n",
                   "row 2, column 'station'", "station name is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv(tmp_path, case):
    text, where, what = BAD_CSV[case]
    f = tmp_path / "gnss.csv"
    f.write_text(text)
    with pytest.raises(InputError) as err:
        read_gnss_csv(f)
    one_line(err.value, str(f), where, what)


def test_duplicate_station_in_folder(tmp_path):
    write(tmp_path / "A.tenv3", [TENV3_HEADER, *TENV3_ROWS])
    write(tmp_path / "B.tenv3", [TENV3_HEADER, *TENV3_ROWS])
    with pytest.raises(InputError) as err:
        read_gnss(tmp_path)
    one_line(err.value, "'TEST'", "A.tenv3", "B.tenv3")


def test_bad_input_through_cli(tmp_path, cli):
    f = write(tmp_path / "BAD.tenv3", [TENV3_HEADER, TENV3_ROWS[0][:50]])
    code, out, err = cli("inspect", f)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "row 2" in lines[0] and str(f) in lines[0]


# --------------------------------------------------------------------------- real files

def _span(ds):
    t = ds["time"].values.astype("datetime64[D]")
    return ds.sizes["time"], str(t[0]), str(t[-1])


def test_real_tenv3(real_data):
    folder = real_data / "gnss_ngl_tenv3"
    mxtm = read_tenv3(folder / "MXTM.NA.tenv3")
    assert _span(mxtm) == (548, "2017-06-15", "2019-05-04")
    # second row: east 0.665089 - 0.665080 m, north 0.602987 - 0.600640, up 0.376351 - 0.376703
    np.testing.assert_allclose(
        [mxtm[c].values[0, 1] for c in ("east", "north", "up")], [0.009, 2.347, -0.352],
        atol=1e-6)
    assert mxtm["sigma_east"].values[0, 1] == pytest.approx(0.774)
    assert mxtm["lat"].item() == pytest.approx(19.4844, abs=1e-4)
    a2 = read_tenv3(folder / "34A2.tenv3")
    assert _span(a2) == (148, "2015-03-20", "2016-10-18")
    # e0 = -611 with a negative fraction: -0.512062 - (-0.510421) m
    assert a2["east"].values[0, 1] == pytest.approx(-1.641, abs=1e-6)
    lhas = read_tenv3(folder / "LHAS.tenv3")
    assert _span(lhas) == (3631, "1995-05-19", "2007-01-29")
    assert lhas["lon"].item() == pytest.approx(91.104, abs=1e-3)  # -268.896 wrapped
    assert lhas["east"].values[0, 1] == pytest.approx(24.531, abs=1e-6)


def test_real_tenv3_folder(real_data, tmp_path):
    for name in ("MXTM.NA.tenv3", "34A2.tenv3", "LHAS.tenv3"):
        shutil.copy(real_data / "gnss_ngl_tenv3" / name, tmp_path / name)
    ds = read_gnss(tmp_path)
    assert sorted(ds["station"].values) == ["34A2", "LHAS", "MXTM"]
    counts = np.isfinite(ds["up"].values).sum(axis=1)
    assert dict(zip(ds["station"].values, counts, strict=True)) == {
        "34A2": 148, "LHAS": 3631, "MXTM": 548}
    assert ds.attrs["crs"].startswith("EPSG:")
    assert np.isfinite(ds["x"].values).all()


def test_real_tenv(real_data, tmp_path):
    folder = real_data / "gnss_ngl_tenv_friuli"
    barc = read_tenv(folder / "BARC.IGS08.tenv.txt")
    assert _span(barc) == (1812, "2007-06-06", "2012-06-30")
    np.testing.assert_allclose([barc[c].values[0, 1] for c in ("east", "north", "up")],
                               [0.165, 1.074, -7.487], atol=1e-9)
    coords = write(tmp_path / "c.csv", ["station,lon,lat", "BARC,12.56,46.08",
                                        "CODR,12.98,46.0"])
    ds = read_gnss(folder, "tenv", coordinates=coords)
    assert ds.sizes["station"] == 4
    located = np.isfinite(ds["lon"].values)
    assert located.sum() == 2 and ds.attrs["crs"] == "EPSG:32633"


def test_real_pos(real_data):
    ds = read_pos(real_data / "gnss_pbo_pos" / "P156.pbo.final_igs08.pos")
    assert ds["station"].item() == "P156"
    assert _span(ds) == (3196, "2006-06-08", "2015-03-14")
    assert ds["lon"].item() == pytest.approx(-123.9061171351, abs=1e-9)
    # second row: dN -0.12046 - -0.12280, dE 0.06271 - 0.06265, dU 0.00462 - 0.00276 (m)
    np.testing.assert_allclose([ds[c].values[0, 1] for c in ("north", "east", "up")],
                               [2.34, 0.06, 1.86], atol=1e-9)
    assert ds["sigma_up"].values[0, 1] == pytest.approx(6.54)


@pytest.mark.parametrize("station,rows,first,last,lat,lon", [
    ("PI03", 425, "2019-03-31", "2021-03-31", 50.0704, 18.4570),
    ("PI16", 576, "2019-02-11", "2021-03-22", 50.0664, 18.4749),
])
def test_real_ecef(real_data, station, rows, first, last, lat, lon):
    ds = read_ecef(real_data / "multidefusion_trial_poland" / station / "GNSS.txt")
    assert ds["station"].item() == station
    assert _span(ds) == (rows, first, last)
    assert ds["lat"].item() == pytest.approx(lat, abs=1e-4)
    assert ds["lon"].item() == pytest.approx(lon, abs=1e-4)
    if station == "PI16":
        # rows 1-2: dX, dY, dZ (m) rotated by hand into E/N/U at the station
        d = np.array([3890988.0048765 - 3890988.0046995, 1300010.5956786 - 1300010.5941230,
                      4867786.5889138 - 4867786.5862111])
        la, lo = np.deg2rad(ds["lat"].item()), np.deg2rad(ds["lon"].item())
        enu = np.array([
            [-np.sin(lo), np.cos(lo), 0],
            [-np.sin(la) * np.cos(lo), -np.sin(la) * np.sin(lo), np.cos(la)],
            [np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)]]) @ d * 1000
        got = [ds[c].values[0, 1] for c in ("east", "north", "up")]
        np.testing.assert_allclose(got, enu, atol=1e-4)


@pytest.mark.parametrize("relative,expect", [
    ("gnss_ngl_tenv3", "3 stations, 4327 epochs"),
    ("gnss_ngl_tenv3/MXTM.NA.tenv3", "1 stations, 548 epochs"),
    ("gnss_ngl_tenv3/34A2.tenv3", "1 stations, 148 epochs"),
    ("gnss_ngl_tenv3/LHAS.tenv3", "1 stations, 3631 epochs"),
    ("gnss_ngl_tenv_friuli", "4 stations"),
    ("gnss_ngl_tenv_friuli/BARC.IGS08.tenv.txt", "1 stations, 1812 epochs"),
    ("gnss_pbo_pos/P156.pbo.final_igs08.pos", "1 stations, 3196 epochs"),
    ("multidefusion_trial_poland/PI03/GNSS.txt", "1 stations, 425 epochs"),
    ("multidefusion_trial_poland/PI16/GNSS.txt", "1 stations, 576 epochs"),
])
def test_cli_inspect_real(real_data, cli, relative, expect):
    code, out, err = cli("inspect", real_data / relative)
    assert code == 0, err
    assert expect in out and "span:" in out
