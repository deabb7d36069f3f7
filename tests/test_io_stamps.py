"""Tests of the StaMPS ``ps_plot(..., 'ts')`` CSV reader: dates, real Maoxian files, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from insarfusion.errors import InputError
from insarfusion.io import read_points
from insarfusion.io.stamps import read_stamps, stamps_dates

HEADER = ",".join(f"export_res_{i:2d}" for i in range(1, 7)) + "\n"
META = "103.6858,32.0086,NaN,735928,735952,735976\n"
BODY = ("103.6593,32.07623,0.893294,2.618124,2.33592,4.758702\n"
        "103.666,32.08287,1.870389,1.268022,12.73789,9.95662\n")


def write(tmp_path, text, name="stamps_ts.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_datenum_minus_one():
    dates = stamps_dates([735928, 735952, 736864], ["a", "b", "c"], "f.csv")
    assert dates[0] == np.datetime64("2014-11-26")
    assert dates[1] == np.datetime64("2014-12-20")
    assert dates[2] == np.datetime64("2017-06-19")


def test_small_file(tmp_path):
    ds = read_stamps(write(tmp_path, HEADER + META + BODY), incidence=39.0, heading=-10.0,
                     band="C", technique="PSI")
    assert list(ds["point"].values) == ["3", "4"]
    np.testing.assert_array_equal(ds["time"].values.astype("datetime64[D]"),
                                  np.array(["2014-11-26", "2014-12-20", "2015-01-13"],
                                           dtype="datetime64[D]"))
    np.testing.assert_allclose(ds["displacement"].values[1], [1.268022, 12.73789, 9.95662])
    np.testing.assert_allclose(ds["velocity"].values, [0.893294, 1.870389])
    np.testing.assert_allclose(ds["incidence"].values, 39.0)
    np.testing.assert_allclose(ds["heading"].values, -10.0)
    assert ds.attrs["reference_lon"] == 103.6858 and ds.attrs["reference_lat"] == 32.0086
    assert ds.attrs["name"] == "stamps_ts"
    assert np.isnan(read_stamps(write(tmp_path, HEADER + META + BODY))["incidence"]).all()


def test_empty_rows_dropped_and_missing_velocity_computed(tmp_path):
    text = HEADER + META + BODY + "NaN,NaN,NaN,NaN,NaN,NaN\n" + "103.6,32.1,NaN,0,12,24\n"
    ds = read_stamps(write(tmp_path, text))
    assert list(ds["point"].values) == ["3", "4", "6"]
    # 12 mm every 24 days
    assert ds["velocity"].values[2] == pytest.approx(12 / 24 * 365.25)


def test_real_ps(real_data):
    ds = read_stamps(real_data / "stamps_maoxian" / "Maoxian_PS.csv")
    assert ds.sizes == {"point": 97, "time": 41}
    assert str(ds["time"].values[0])[:10] == "2014-11-26"
    assert str(ds["time"].values[-1])[:10] == "2017-06-19"
    first = ds.isel(point=0)  # file row 3, read by hand
    assert first["point"].item() == "3"
    assert float(first["lon"]) == pytest.approx(103.6593, abs=1e-9)
    assert float(first["lat"]) == pytest.approx(32.07623, abs=1e-9)
    assert float(first["velocity"]) == 0.893294
    assert float(first["displacement"][0]) == 2.618124
    assert (ds.attrs["reference_lon"], ds.attrs["reference_lat"]) == (103.6858, 32.0086)
    assert ds.attrs["crs"] == "EPSG:32648"


def test_real_sbas(real_data):
    ds = read_points(real_data / "stamps_maoxian" / "Maoxian_SBAS.csv")  # format guessed
    assert ds.sizes == {"point": 608, "time": 38}
    assert str(ds["time"].values[0])[:10] == "2014-11-26"
    assert str(ds["time"].values[-1])[:10] == "2017-06-19"
    assert 103.654 < float(ds["lon"].min()) and float(ds["lon"].max()) < 103.667


@pytest.mark.parametrize("name,expected", [("Maoxian_PS.csv", "97 points, 41 epochs"),
                                           ("Maoxian_SBAS.csv", "608 points, 38 epochs")])
def test_cli_inspect_real(real_data, cli, name, expected):
    code, out, err = cli("inspect", real_data / "stamps_maoxian" / name)
    assert code == 0, err
    assert expected in out and "2014-11-26 .. 2017-06-19" in out
    assert "format:  stamps" in out and "reference: lon 103.685800, lat 32.008600" in out


def test_cli_inspect_bad(tmp_path, cli):
    path = write(tmp_path, HEADER + META.replace("735952", "735952.5") + BODY, "bad.csv")
    code, out, err = cli("inspect", path)
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "bad.csv: row 2, column 'export_res_ 5'" in err


BAD = {
    "fractional day number": (HEADER + META.replace("735952", "735952.5") + BODY, {},
                              ["row 2", "column 'export_res_ 5'", "not a whole number"]),
    "calendar year instead of day number": (HEADER + META.replace("735928", "2014") + BODY, {},
                                            ["row 2", "column 'export_res_ 4'",
                                             "MATLAB datenum"]),
    "dates out of order": (HEADER + META.replace("735952", "735900") + BODY, {},
                           ["row 2", "column 'export_res_ 5'", "out of order"]),
    "repeated date": (HEADER + META.replace("735976", "735952") + BODY, {},
                      ["row 2", "column 'export_res_ 6'", "appears twice"]),
    "missing day number": (HEADER + META.replace("735976", "NaN") + BODY, {},
                           ["row 2", "column 'export_res_ 6'", "missing"]),
    "non-numeric longitude": (HEADER + META + BODY + "103.6a,32.1,1,0,1,2\n", {},
                              ["row 5", "column 'export_res_ 1'", "not a number: '103.6a'"]),
    "latitude out of range": (HEADER + META + "103.6,132.1,1,0,1,2\n", {},
                              ["row 3", "column 'export_res_ 2'", "latitude 132.1"]),
    "too few columns": ("export_res_ 1,export_res_ 2\n1,2\n3,4\n", {},
                        ["row 1", "2 columns"]),
    "meta row only": (HEADER + META, {}, ["no point rows"]),
    "header only": (HEADER, {}, ["no meta row"]),
    "all rows empty": (HEADER + META + ",,,,,\n", {}, ["no point row has a displacement"]),
    "unknown option": (HEADER + META + BODY, {"reference": (1, 2)},
                       ["unknown option 'reference'"]),
    "incidence argument": (HEADER + META + BODY, {"incidence": 95.0},
                           ["incidence argument 95 outside"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_one_line(tmp_path, case):
    text, options, expected = BAD[case]
    path = write(tmp_path, text, "bad_stamps.csv")
    with pytest.raises(InputError) as info:
        read_stamps(path, **options)
    message = str(info.value)
    assert message.startswith(str(path)), message
    for part in expected:
        assert part in message, (case, message)
    assert "\n" not in message and "Traceback" not in message
