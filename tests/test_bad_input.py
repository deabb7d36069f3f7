"""Bad input through the command line: one line naming the file and what is wrong, exit 2.

Each reader's own tests check the exact wording (row/column); this sweep checks the contract
the command line gives users for every kind of input: no traceback, one line, non-zero exit.
"""

from __future__ import annotations

import zipfile

import h5py
import numpy as np
import pytest

DATES = "20150312,20150324,20150405"
CSV_HEAD = f"id,lon,lat,incidence,heading,{DATES}\n"
ROW = "p1,-79.0,-2.9,30,-10,0.0,1.0,2.0\n"
EGMS_HEAD = ("pid,mp_type,latitude,longitude,easting,northing,height_ortho,rmse_ts,"
             "temporal_coherence,incidence_angle,track_angle,los_east,los_north,los_up,"
             f"mean_velocity,{DATES}\n")
EGMS_ROW = "a1,0,38.7,13.17,4598649,1739717,10,1.2,0.9,39,-8.9,-0.621,-0.098,0.777,-0.7,0,1,2\n"
TENV3_HEAD = ("site YYMMMDD yyyy.yyyy __MJD week d reflon _e0(m) __east(m) ____n0(m) _north(m) "
              "u0(m) ____up(m) _ant(m) sig_e(m) sig_n(m) sig_u(m) __corr_en __corr_eu "
              "__corr_nu _latitude(deg) _longitude(deg) __height(m)\n")
TENV3_ROW = ("MXTM 17JUN15 2017.4538 57919 1953 4 -99.0 2133 0.5 2154815 0.2 2161 0.3 0.0 "
             "0.001 0.001 0.004 0.0 0.0 0.0 19.4844 -98.9785 2161.3\n")


def _zip_without_csv(p):
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("readme.xml", "<x/>")


def _h5_without_timeseries(p):
    with h5py.File(p, "w") as f:
        f["velocity"] = np.zeros((2, 2))


CASES = {
    # point CSV (wide)
    "csv_empty": ("points.csv", ""),
    "csv_header_only": ("points.csv", CSV_HEAD),
    "csv_no_coordinates": ("points.csv", f"id,incidence,{DATES}\np1,30,0,1,2\n"),
    "csv_misspelled_lat": ("points.csv", CSV_HEAD.replace(",lat,", ",latt,") + ROW),
    "csv_non_numeric": ("points.csv", CSV_HEAD + ROW.replace("1.0,2.0", "1.0,abc")),
    "csv_bad_date": ("points.csv", CSV_HEAD.replace("20150324", "20151324") + ROW),
    "csv_duplicate_date": ("points.csv", CSV_HEAD.replace("20150324", "20150312") + ROW),
    "csv_unsorted_dates": ("points.csv", CSV_HEAD.replace("20150324", "20150301") + ROW),
    "csv_lat_out_of_range": ("points.csv", CSV_HEAD + ROW.replace("-2.9", "-92.9")),
    "csv_incidence_zero": ("points.csv", CSV_HEAD + ROW.replace(",30,", ",0,")),
    "csv_incidence_90": ("points.csv", CSV_HEAD + ROW.replace(",30,", ",90,")),
    "csv_semicolons": ("points.csv", (CSV_HEAD + ROW).replace(",", ";")),
    "csv_all_nan": ("points.csv", CSV_HEAD + "p1,-79.0,-2.9,30,-10,,,\n"),
    "csv_duplicate_id": ("points.csv", CSV_HEAD + ROW + ROW),
    # EGMS
    "egms_missing_los": ("egms.csv", EGMS_HEAD.replace("los_up,", "los_upp,") + EGMS_ROW),
    "egms_non_numeric": ("egms.csv", EGMS_HEAD + EGMS_ROW.replace(",0.777,", ",x,")),
    "zip_without_csv": ("egms.zip", _zip_without_csv),
    # StaMPS
    "stamps_short_meta": ("ps.csv", "export_res_ 1,export_res_ 2\n103.6,32.0\n"),
    "stamps_non_numeric": ("ps.csv", "export_res_ 1,export_res_ 2,export_res_ 3,export_res_ 4\n"
                                     "103.6,32.0,NaN,735928\n103.7,32.1,x,1.0\n"),
    # MintPy
    "h5_without_timeseries": ("timeseries.h5", _h5_without_timeseries),
    "h5_not_hdf5": ("timeseries.h5", "this is not HDF5"),
    # GNSS
    "tenv3_truncated": ("M01.tenv3", TENV3_HEAD + TENV3_ROW + TENV3_ROW[:40] + "\n"),
    "tenv3_bad_date": ("M01.tenv3", TENV3_HEAD + TENV3_ROW.replace("17JUN15", "17JUX15")),
    "tenv3_missing_column": ("M01.tenv3", TENV3_HEAD.replace("__east(m)", "__eest(m)")
                             + TENV3_ROW),
    "tenv3_non_numeric": ("M01.tenv3", TENV3_HEAD + TENV3_ROW.replace(" 0.5 ", " x.5 ")),
    "ecef_wrong_columns": ("GNSS.txt", "YYYY MM DD X Y Z mX mY mZ\n2019 2 11 3890988.0 "
                                       "1300010.5 4867786.5 0.0003\n"),
    "gnss_csv_missing_up": ("gnss.csv", "station,date,east,north,lon,lat\nA,2020-01-01,0,0,1,2\n"),
    "gnss_csv_bad_date": ("gnss.csv", "station,date,east,north,up,lon,lat\n"
                                      "A,2020-13-01,0,0,0,1,2\n"),
    "missing_file": ("does_not_exist.csv", None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line(case, tmp_path, cli):
    name, content = CASES[case]
    path = tmp_path / name
    if callable(content):
        content(path)
    elif content is not None:
        path.write_text(content)
    code, out, err = cli("inspect", path)
    assert code == 2, (case, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, (case, err)
    assert "Traceback" not in err
    assert lines[0].startswith("error: ")
    assert str(path) in lines[0], (case, lines[0])


CONFIG_CASES = {
    "unknown_key": "datasets:\n  - {name: A, path: a.csv}\nsede: 1\n",
    "wrong_type": "datasets:\n  - {name: A, path: a.csv}\nseed: one\n",
    "unknown_format": "datasets:\n  - {name: A, path: a.csv, format: shp}\n",
    "no_datasets": "datasets: []\n",
    "bad_yaml": "datasets: [\n",
    "missing_dataset_file": "datasets:\n  - {name: A, path: nowhere.csv, format: csv}\n",
    "bad_crs": "crs: EPSG:99999999\ndatasets:\n  - {name: A, path: a.csv, format: csv}\n",
    "missing_gnss_folder": "datasets:\n  - {name: A, path: a.csv, format: csv}\n"
                           "gnss: {path: nogps/, format: tenv3, reference: [R1]}\n",
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config_is_one_line(case, tmp_path, cli):
    (tmp_path / "a.csv").write_text(CSV_HEAD + ROW)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG_CASES[case])
    code, out, err = cli("run", cfg, "--out", tmp_path / "out")
    assert code == 2, (case, out, err)
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], (case, err)
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_unknown_format_option(tmp_path, cli):
    p = tmp_path / "points.csv"
    p.write_text(CSV_HEAD + ROW)
    code, _, err = cli("inspect", p, "--format", "shapefile")
    assert code == 2 and "unknown" in err and "shapefile" in err


def test_case_count():
    assert len(CASES) + len(CONFIG_CASES) >= 30
