"""Tests of the EGMS reader: both CSV schemas, zip vs CSV, L3 components, the real Ustica files."""

from __future__ import annotations

import logging
import time
import zipfile

import numpy as np
import pytest

from insarfusion.conventions import los_unit_vector
from insarfusion.errors import InputError
from insarfusion.io import read_points
from insarfusion.io.egms import read_egms

DATES = ["20180105", "20180111", "20180117", "20180123"]
OLD_STATIC = ["pid", "mp_type", "latitude", "longitude", "easting", "northing", "height",
              "height_wgs84", "line", "pixel", "rmse", "temporal_coherence",
              "amplitude_dispersion", "incidence_angle", "track_angle", "los_east", "los_north",
              "los_up", "mean_velocity", "mean_velocity_std", "acceleration",
              "acceleration_std", "seasonality", "seasonality_std"]
NEW_STATIC = ["pid", "mp_type", "latitude", "longitude", "easting", "northing", "height_ortho",
              "height_ellipse", "line", "pixel", "rmse_ts", "temporal_coherence",
              "amplitude_dispersion", "incidence_angle", "track_angle", "los_east", "los_north",
              "los_up", "mean_velocity", "mean_velocity_std", "acceleration",
              "acceleration_std", "seasonality", "seasonality_std", "gnss_velocity"]
L3_STATIC = ["pid", "easting", "northing", "height_ortho", "rmse_ts", "mean_velocity",
             "mean_velocity_std", "acceleration", "acceleration_std", "seasonality",
             "seasonality_std", "gnss_velocity_n", "gnss_velocity_e", "gnss_velocity_u"]


def l2_text(static, incidence=(39.0, 39.1, 38.9), heading=(-9.0, -9.0, -9.0), track_shift=0.0):
    """A small L2 CSV: three points whose LOS vector comes from the given geometry."""
    e, n, u = los_unit_vector(np.array(incidence), np.array(heading))
    rows = []
    for i in range(3):
        values = {
            "pid": f"1WBf{i}", "mp_type": 0, "latitude": 38.70 + i * 1e-3,
            "longitude": 13.17 + i * 1e-3, "easting": 4598649.2, "northing": 1739717.3,
            "height": 10.0 + i, "height_ortho": 10.0 + i, "height_wgs84": 50.0,
            "height_ellipse": 50.0, "line": 1, "pixel": 2, "rmse": 2.0 + i, "rmse_ts": 2.0 + i,
            "temporal_coherence": 0.8 + 0.05 * i, "amplitude_dispersion": 0.3,
            "incidence_angle": incidence[i], "track_angle": heading[i] + track_shift,
            "los_east": f"{e[i]:.3f}", "los_north": f"{n[i]:.3f}", "los_up": f"{u[i]:.3f}",
            "mean_velocity": -1.5 * i, "mean_velocity_std": 0.1, "acceleration": 0.0,
            "acceleration_std": 0.1, "seasonality": 1.0, "seasonality_std": 0.1,
            "gnss_velocity": -0.7}
        disp = [0.0, 1.0 * i, -0.5, 2.0 + i]
        rows.append(",".join([str(values[c]) for c in static] + [str(d) for d in disp]))
    return ",".join(static + DATES) + "\n" + "\n".join(rows) + "\n"


def l3_text():
    rows = [f"cell{i},{4597550 + 100 * i},1739750,-40.0,1.5,{-1.0 - i},0.1,0,0,0,0,2.1,-0.7,"
            f"-1.5,0.0,{0.5 * i},1.0,-2.0" for i in range(4)]
    return ",".join(L3_STATIC + DATES) + "\n" + "\n".join(rows) + "\n"


def write(tmp_path, text, name):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("static", [OLD_STATIC, NEW_STATIC], ids=["2015-2021", "2020-2024"])
def test_l2_both_schemas(tmp_path, static, log_records):
    path = write(tmp_path, l2_text(static), "EGMS_L2b_117_0227_IW2_VV_2018_2022_1.csv")
    ds = read_egms(path)
    assert list(ds["point"].values) == ["1WBf0", "1WBf1", "1WBf2"]
    assert ds.sizes == {"point": 3, "time": 4}
    np.testing.assert_allclose(ds["incidence"].values, [39.0, 39.1, 38.9], atol=0.1)
    np.testing.assert_allclose(ds["heading"].values, -9.0, atol=0.1)
    np.testing.assert_allclose(ds["quality"].values, [0.8, 0.85, 0.9])
    np.testing.assert_allclose(ds["rmse"].values, [2.0, 3.0, 4.0])
    np.testing.assert_allclose(ds["height"].values, [10.0, 11.0, 12.0])
    np.testing.assert_allclose(ds["velocity"].values, [0.0, -1.5, -3.0])
    np.testing.assert_array_equal(ds["displacement"].values[2], [0.0, 2.0, -0.5, 4.0])
    assert ds.attrs["level"] == "L2b" and ds.attrs["component"] == "los"
    assert ds.attrs["track"] == "117" and ds.attrs["orbit"] == "ascending"
    assert ds.attrs["band"] == "C"
    assert not any(r.levelno >= logging.WARNING for r in log_records)


def test_descending_track_angle_convention(tmp_path):
    """EGMS track_angle 191 deg is our heading -169 deg (same convention, wrapped)."""
    path = write(tmp_path, l2_text(NEW_STATIC, (37.3,) * 3, (191.4,) * 3), "desc.csv")
    ds = read_egms(path)
    np.testing.assert_allclose(ds["heading"].values, 191.4 - 360, atol=0.1)
    assert ds.attrs["orbit"] == "descending" and ds.attrs["level"] == "L2"


def test_geometry_disagreement_is_logged(tmp_path, log_records):
    path = write(tmp_path, l2_text(NEW_STATIC, track_shift=5.0), "shifted.csv")
    ds = read_egms(path, incidence=39.0)
    np.testing.assert_allclose(ds["heading"].values, -9.0, atol=0.1)  # the LOS vector wins
    warned = [r.getMessage() for r in log_records if r.levelno == logging.WARNING]
    assert any("heading from the LOS vector differs from track_angle" in m and "3 of 3" in m
               for m in warned), warned


def test_zip_equals_csv(tmp_path):
    text = l2_text(NEW_STATIC)
    csv_path = write(tmp_path, text, "EGMS_L2a_022_0845_IW2_VV_2020_2024_1.csv")
    zip_path = tmp_path / "EGMS_L2a_022_0845_IW2_VV_2020_2024_1.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("EGMS_L2a_022_0845_IW2_VV_2020_2024_1.xml", "<BURST></BURST>")
        zf.writestr("EGMS_L2a_022_0845_IW2_VV_2020_2024_1.csv", text)
    a, b = read_egms(csv_path), read_egms(zip_path)
    assert b.attrs.pop("source").endswith(".zip!EGMS_L2a_022_0845_IW2_VV_2020_2024_1.csv")
    a.attrs.pop("source")
    assert a.identical(b)
    assert b.attrs["level"] == "L2a" and b.attrs["track"] == "022"


def test_l3_component_from_name_or_option(tmp_path, log_records):
    ds = read_egms(write(tmp_path, l3_text(), "EGMS_L3_E45N17_100km_U_2020_2024_1.csv"),
                   incidence=39.0)
    assert ds.attrs["component"] == "up" and ds.attrs["level"] == "L3"
    assert np.isnan(ds["incidence"].values).all() and np.isnan(ds["heading"].values).all()
    assert np.isnan(ds["quality"].values).all()
    np.testing.assert_allclose(ds["velocity"].values, [-1.0, -2.0, -3.0, -4.0])
    # 100 m apart in EPSG:3035 stays about 100 m apart in UTM (both scales within 1 %)
    step = np.hypot(np.diff(ds["x"].values), np.diff(ds["y"].values))
    np.testing.assert_allclose(step, 100.0, rtol=1e-2)
    assert any("ignored for an L3" in r.getMessage() for r in log_records)
    plain = write(tmp_path, l3_text(), "cells.csv")
    assert read_egms(plain, component="east").attrs["component"] == "east"
    assert read_egms(plain, component="U").attrs["component"] == "up"


# ----------------------------------------------------------------------------- real files
def test_real_l2b_ascending(real_data):
    path = real_data / "egms_ustica" / "EGMS_L2b_117_0227_IW2_VV_2020_2024_1.zip"
    start = time.perf_counter()
    ds = read_egms(path)
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"reading a 13 MB EGMS zip took {elapsed:.1f} s"
    assert ds.sizes == {"point": 11759, "time": 207}
    assert str(ds["time"].values[0])[:10] == "2020-01-03"
    assert str(ds["time"].values[-1])[:10] == "2024-12-31"
    first = ds.sel(point="1WBfX4cr1r")  # first row of the CSV, read by hand
    np.testing.assert_allclose(first["displacement"].values[:3], [-1.0, -1.4, -1.1])
    assert float(first["velocity"]) == -0.7 and float(first["quality"]) == 0.85
    assert float(first["height"]) == -43.9 and float(first["rmse"]) == 2.4
    assert float(first["incidence"]) == pytest.approx(38.97, abs=0.1)
    assert float(first["heading"]) == pytest.approx(-8.94, abs=0.1)
    assert ds.attrs["orbit"] == "ascending" and ds.attrs["track"] == "117"


def test_real_l2b_descending_and_l3(real_data):
    folder = real_data / "egms_ustica"
    desc = read_egms(folder / "EGMS_L2b_022_0845_IW2_VV_2020_2024_1.zip")
    assert desc.sizes == {"point": 11590, "time": 210}
    assert str(desc["time"].values[-1])[:10] == "2024-12-25"
    assert desc.attrs["orbit"] == "descending"
    np.testing.assert_allclose(desc["heading"].values, 191.4 - 360, atol=0.2)
    np.testing.assert_allclose(desc["incidence"].values, 37.3, atol=0.2)
    for comp in ("E", "U"):
        cells = read_egms(folder / f"EGMS_L3_E45N17_100km_{comp}_2020_2024_1.zip")
        assert cells.sizes == {"point": 522, "time": 304}
        assert cells.attrs["component"] == {"E": "east", "U": "up"}[comp]
        assert str(cells["time"].values[0])[:10] == "2020-01-03"
    # first L3-E row read by hand: 10LDTjEkDv at E 4597550, N 1739750, velocity -1.5, 5.3 mm
    east = read_egms(folder / "EGMS_L3_E45N17_100km_E_2020_2024_1.zip")
    row = east.sel(point="10LDTjEkDv")
    assert float(row["velocity"]) == -1.5 and float(row["displacement"][0]) == 5.3
    assert 13.14 < float(row["lon"]) < 13.16 and 38.69 < float(row["lat"]) < 38.70


@pytest.mark.parametrize("name,expected", [
    ("EGMS_L2b_117_0227_IW2_VV_2020_2024_1.zip", "11759 points, 207 epochs"),
    ("EGMS_L2b_022_0845_IW2_VV_2020_2024_1.zip", "11590 points, 210 epochs"),
    ("EGMS_L3_E45N17_100km_E_2020_2024_1.zip", "522 points, 304 epochs"),
])
def test_cli_inspect_real(real_data, cli, name, expected):
    code, out, err = cli("inspect", real_data / "egms_ustica" / name)
    assert code == 0, err
    assert expected in out and "format:  egms" in out


def test_cli_inspect_bad(tmp_path, cli):
    bad = write(tmp_path, l3_text(), "EGMS_L3_E45N17_100km_2020_2024_1.csv")
    code, out, err = cli("inspect", bad, "--format", "egms")
    assert code == 2
    assert err.strip().count("\n") == 0 and "EGMS_L3_E45N17_100km_2020_2024_1.csv" in err


# ----------------------------------------------------------------------------- bad input
def _bad_cases():
    good = l2_text(NEW_STATIC)
    header, first, second, third = good.strip().split("\n")
    cases = {
        "no pid": (good.replace("pid,", "pd,", 1), "x.csv", {},
                   ["missing column 'pid'", "'pd'"]),
        "non-numeric displacement": (good.replace(",2.0\n", ",2.0x\n", 1), "x.csv", {},
                                     ["row 2", "column '20180123'", "not a number"]),
        "LOS vector not unit": (
            header + "\n" + first + "\n" + second.replace(second.split(",")[17], "0.2") + "\n",
            "x.csv", {}, ["row 3", "column 'los_up'", "LOS vector length"]),
        "duplicate pid": (header + "\n" + first + "\n" + first + "\n", "x.csv", {},
                          ["row 3", "column 'pid'", "appears twice"]),
        "latitude out of range": (
            header + "\n" + ",".join(third.split(",")[:2] + ["138.7"] + third.split(",")[3:])
            + "\n", "x.csv", {}, ["row 2", "column 'latitude'", "latitude 138.7 outside"]),
        "L3 without component": (l3_text(), "cells.csv", {}, ["'_E_' or '_U_'", "component"]),
        "unknown component": (l3_text(), "cells.csv", {"component": "north"},
                              ["unknown component 'north'"]),
        "L3 name, L2 columns": (good, "EGMS_L3_E45N17_100km_U_2020_2024_1.csv", {},
                                ["file name says L3"]),
        "unknown option": (good, "x.csv", {"orbit": "asc"}, ["unknown option 'orbit'"]),
        "unsorted dates": (good.replace("20180111,20180117", "20180117,20180111", 1), "x.csv",
                           {}, ["column '20180111'", "out of order"]),
    }
    return cases


BAD = _bad_cases()


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_one_line(tmp_path, case):
    text, name, options, expected = BAD[case]
    path = write(tmp_path, text, name)
    with pytest.raises(InputError) as info:
        read_egms(path, **options)
    message = str(info.value)
    assert message.startswith(str(path)), message
    for part in expected:
        assert part in message, (case, message)
    assert "\n" not in message and "Traceback" not in message


def test_zip_without_csv(tmp_path):
    path = tmp_path / "EGMS_L2b_1.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.xml", "<BURST/>")
    with pytest.raises(InputError, match=r"EGMS_L2b_1.zip: zip holds no \.csv file"):
        read_egms(path)


def test_registry_guesses_egms(tmp_path):
    path = write(tmp_path, l2_text(OLD_STATIC), "EGMS_L2b_117_0227_IW2_VV_2018_2022_1.csv")
    assert read_points(path).attrs["level"] == "L2b"
