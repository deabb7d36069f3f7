"""Hostile but fair input and run conditions, through the command line.

Every malformed file is made from a small valid one in ``tmp_path``. A case that must fail
exits with code 2 and one line on stderr that names the file (with its row or column) or the
config key, without a traceback, and leaves no output folder, staging folder or lock behind.
Cases that are valid but unusual run, and their log says what was done.

Most cases run in-process (``insarfusion.cli.main``); signals are sent to real subprocesses.
"""

from __future__ import annotations

import errno
import fcntl
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from insarfusion import products

SRC = Path(__file__).resolve().parents[1] / "src"

# --------------------------------------------------------------------------- valid sources

DATES = ["20150312", "20150324", "20150405", "20150417"]
CSV_COLS = ["id", "lon", "lat", "incidence", "heading", "velocity", "coherence", *DATES]


def csv_rows(n=5):
    return [[f"p{i}", f"-79.0{i}", f"-2.90{i}", "30.5", "-10.0", "-3.1", "0.8",
             "0.0", f"-1.{i}", f"-2.{i}", f"-3.{i}"] for i in range(1, n + 1)]


def table(cols, rows, sep=",", end="\n"):
    return end.join(sep.join(r) for r in [cols, *rows]) + end


def csv_text(**cells):
    """The valid CSV with cells replaced: ``cells={"r2_lon": "200"}`` sets file row 2."""
    rows = csv_rows()
    for key, value in cells.items():
        row, col = key.split("_", 1)
        rows[int(row[1:]) - 2][CSV_COLS.index(col)] = value
    return table(CSV_COLS, rows)


EGMS_DATES = ["20180105", "20180111", "20180117"]
EGMS_COLS = ["pid", "mp_type", "latitude", "longitude", "easting", "northing", "height_ortho",
             "rmse_ts", "temporal_coherence", "incidence_angle", "track_angle", "los_east",
             "los_north", "los_up", "mean_velocity", *EGMS_DATES]


def egms_rows(n=4):
    return [[f"a{i}", "0", f"38.70{i}", f"13.17{i}", "4598649", "1739717", "10", "1.2", "0.9",
             "39", "-8.9", "-0.621", "-0.098", "0.777", "-0.7", "0", f"1.{i}", f"2.{i}"]
            for i in range(1, n + 1)]


def egms_text(**cells):
    rows = egms_rows()
    for key, value in cells.items():
        row, col = key.split("_", 1)
        rows[int(row[1:]) - 2][EGMS_COLS.index(col)] = value
    return table(EGMS_COLS, rows)


L3_COLS = ["pid", "easting", "northing", "height", "rmse", "mean_velocity", *EGMS_DATES]


def l3_text(**cells):
    rows = [[f"c{i}", f"{4598650 + 100 * i}", "1739750", "10", "1.0", "0.5", "0", "0.1", "0.2"]
            for i in range(1, 4)]
    for key, value in cells.items():
        row, col = key.split("_", 1)
        rows[int(row[1:]) - 2][L3_COLS.index(col)] = value
    return table(L3_COLS, rows)


def stamps_text(meta=None, **cells):
    cols = [f"export_res_ {i}" for i in range(1, 7)]
    rows = [meta or ["-79.0", "-2.9", "NaN", "735928", "735940", "735952"]]
    rows += [[f"-79.0{i}", f"-2.9{i}", "-3.0", "0.0", f"-1.{i}", f"-2.{i}"] for i in range(1, 5)]
    names = ["lon", "lat", "velocity", "d1", "d2", "d3"]
    for key, value in cells.items():
        row, col = key.split("_", 1)
        rows[int(row[1:]) - 2][names.index(col)] = value
    return table(cols, rows)


GNSS_COLS = ["station", "date", "east", "north", "up", "lon", "lat"]


def gnss_csv_text(**cells):
    rows = [[s, d, "0.0", "1.0", f"{k}.0", lon, "-2.9"]
            for s, lon in (("A", "-79.0"), ("B", "-79.1"))
            for k, d in enumerate(("2020-01-01", "2020-01-02", "2020-01-03"))]
    for key, value in cells.items():
        row, col = key.split("_", 1)
        rows[int(row[1:]) - 2][GNSS_COLS.index(col)] = value
    return table(GNSS_COLS, rows)


TENV3_HEAD = ("site YYMMMDD yyyy.yyyy __MJD week d reflon _e0(m) __east(m) ____n0(m) _north(m) "
              "u0(m) ____up(m) _ant(m) sig_e(m) sig_n(m) sig_u(m) __corr_en __corr_eu "
              "__corr_nu _latitude(deg) _longitude(deg) __height(m)")


def tenv3_text(up2="0.3", lat="19.4844", lon="-98.9785", day3="17JUN17"):
    rows = [f"MXTM {d} 2017.4538 57919 1953 4 -99.0 2133 0.5 2154815 0.2 2161 {u} 0.0 0.001 "
            f"0.001 0.004 0.0 0.0 0.0 {lat} {lon} 2161.3"
            for d, u in (("17JUN15", "0.3"), ("17JUN16", up2), (day3, "0.31"))]
    return "\n".join([TENV3_HEAD, *rows]) + "\n"


def ecef_text(x2="1270000.0"):
    rows = [f"2019 2 {d} {x} -6250000.0 -320000.0 0.001 0.001 0.001"
            for d, x in ((11, "1270000.0"), (12, x2), (13, "1270000.002"))]
    return "\n".join(["YYYY MM DD X Y Z mX mY mZ", *rows]) + "\n"


POS_HEAD = ["PBO Station Position Time Series. Reference Frame : ITRF08",
            "4-character ID: ABCD",
            "NEU Reference position :    40.0  236.5  100.0 (ITRF08/WGS84)",
            "*YYYYMMDD HHMMSS JJJJJ.JJJJ X Y Z Sx Sy Sz Rxy Rxz Ryz NLat Elong Height "
            "dN dE dU Sn Se Su Rne Rnu Reu Soln"]


def pos_text(du2="0.035"):
    row = ("{d} 120000 55198.5 1 2 3 0.1 0.1 0.1 0 0 0 40.0 236.5 100.0 "
           "0.01 0.02 {du} 0.002 0.001 0.003 0 0 0 final")
    return "\n".join([*POS_HEAD, row.format(d="20100101", du="0.03"),
                      row.format(d="20100102", du=du2)]) + "\n"


MDF_HEAD = "YYYY MM DD DSP INC_ANG HEAD_ANG ERROR"


def mdf_text(second="2019 1 13 -0.001 0.6 -0.2 0.001"):
    return "\n".join([MDF_HEAD, "2019 1 1 0.0 0.6 -0.2 0.001", second,
                      "2019 1 25 -0.002 0.6 -0.2 0.001"]) + "\n"


H5_DATES = [b"20200101", b"20200113", b"20200125"]
GEO_DEG = {"X_FIRST": "10.0", "Y_FIRST": "45.0", "X_STEP": "0.001", "Y_STEP": "-0.001",
           "X_UNIT": "degrees", "Y_UNIT": "degrees"}


def write_ts(path, data=None, dates=H5_DATES, **attrs):
    data = np.zeros((len(H5_DATES), 3, 4), np.float32) + np.arange(3)[:, None, None] / 1e3 \
        if data is None else data
    with h5py.File(path, "w") as f:
        f.create_dataset("timeseries", data=data)
        f.create_dataset("date", data=np.array(dates, dtype="S8"))
        for k, v in {"LENGTH": "3", "WIDTH": "4", "REF_Y": "0", "REF_X": "0",
                     "WAVELENGTH": "0.05546576", **GEO_DEG, **attrs}.items():
            f.attrs[k] = v
    return path


def write_h5(path, **datasets):
    with h5py.File(path, "w") as f:
        for name, data in datasets.items():
            f.create_dataset(name, data=np.asarray(data))
    return path


def truncate(path, share=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])
    return path


def zipped(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


# --------------------------------------------------------------------------- the contract

def debris(folder: Path, name: str) -> list[str]:
    """Staging folders or locks of output ``name`` left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}."))


def assert_refused(code, err, *names, out: Path | None = None):
    """Exit 2, one line on stderr naming every item of ``names``, nothing left behind."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), lines[0]
    for item in names:
        assert str(item) in lines[0], (item, lines[0])
    if out is not None:
        assert not out.exists(), out
        assert debris(out.parent, out.name) == []


# --------------------------------------------------------------------------- readers

def _utf16(text):
    return text.encode("utf-16")


def _write(path: Path, content):
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


def _zip_two_csv(p):
    zipped(p, {"a.csv": csv_text(), "b.csv": csv_text()})


def _zip_bomb(p):
    zipped(p, {"points.csv": csv_text() + "0" * (40 * 2**20)})


def _zip_member_climbs(p):
    zipped(p, {"../evil.csv": csv_text()})


def _zip_member_absolute(p):
    zipped(p, {"/tmp/evil.csv": csv_text()})


def _zip_truncated(p):
    zipped(p, {"points.csv": csv_text() * 50})
    truncate(p, 0.5)


def _zip_bad_crc(p):
    zipped(p, {"points.csv": csv_text() * 50})
    data = bytearray(p.read_bytes())
    data[60] ^= 0xFF  # inside the compressed data of the only member
    p.write_bytes(bytes(data))


def _zip_no_csv(p):
    zipped(p, {"readme.xml": "<x/>"})


def _zip_utf16(p):
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("points.csv", _utf16(csv_text()))


def _zip_declared_huge(p):
    """A member whose header declares 9 GiB."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("points.csv", csv_text())
    zf = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    info = zf.infolist()[0]
    data = bytearray(buf.getvalue())
    central = data.rfind(b"PK\x01\x02")
    size = int(9 * 2**30).to_bytes(8, "little")
    # zip64 is not needed to fool the reader: an uncompressed size of 0xFFFFFFFF is enough
    data[central + 24:central + 28] = (2**32 - 1).to_bytes(4, "little")
    del size, info
    p.write_bytes(bytes(data))


def _h5_dates_short(p):
    write_ts(p, dates=H5_DATES[:2])


def _h5_dates_long(p):
    write_ts(p, dates=[*H5_DATES, b"20200206"])


def _h5_truncated(p):
    write_ts(p, data=np.zeros((3, 30, 40), np.float32), LENGTH="30", WIDTH="40")
    truncate(p, 0.6)


def _h5_inf(p):
    data = np.zeros((3, 3, 4), np.float32)
    data[1, 2, 3] = np.inf
    write_ts(p, data=data)


def _h5_bad_geometry(p):
    write_ts(p)
    truncate(write_h5(p.parent / "geometryGeo.h5", incidenceAngle=np.full((30, 40), 35.0),
                      azimuthAngle=np.full((30, 40), -100.0)), 0.5)


def _h5_geometry_not_h5(p):
    write_ts(p)
    (p.parent / "geometryGeo.h5").write_text("garbage, not HDF5")


def _h5_coherence_above_one(p):
    write_ts(p)
    coh = np.full((3, 4), 0.9, np.float32)
    coh[1, 1] = 1.5
    write_h5(p.parent / "temporalCoherence.h5", temporalCoherence=coh)


def _h5_metres_far_away(p):
    write_ts(p, X_FIRST="9.0e11", Y_FIRST="5.0e6", X_STEP="20", Y_STEP="-20", X_UNIT="m",
             Y_UNIT="m", EPSG="32633")


def _h5_not_hdf5(p):
    p.write_text("this is not HDF5")


def _h5_heading_out_of_range(p):
    write_ts(p, HEADING="400")


READER_CASES = {
    # wide CSV ------------------------------------------------------------------------
    "csv_cut_at_60pct": ("points.csv", csv_text()[: int(len(csv_text()) * 0.6)], None,
                         ["truncated row", "row "]),
    "csv_short_row_middle": ("points.csv", csv_text().replace(",-2.2,-3.2\n", "\n"), None,
                             ["row 3", "truncated row"]),
    "csv_last_row_cut": ("points.csv", csv_text().rstrip("\n")[:-5], None,
                         ["row 6", "truncated row", "ends in the middle"]),
    "csv_last_row_missing_field": ("points.csv", csv_text().rstrip("\n").rsplit(",", 1)[0],
                                   None, ["row 6", "truncated row"]),
    "csv_short_row_and_empty_last_cells": (
        "points.csv", csv_text(r2_20150417="").replace(",-2.4,-3.4\n", ",-2.4\n"), None,
        ["row 5", "truncated row"]),
    "csv_extra_field": ("points.csv", csv_text().replace("-3.3\n", "-3.3,9\n"), None,
                        ["row 4", "fields"]),
    "csv_extra_field_first_row": ("points.csv", csv_text().replace("-3.1\n", "-3.1,9\n"),
                                  None, ["row 2", "fields"]),
    "csv_header_short": ("points.csv", csv_text().replace(",20150417", "", 1), None,
                         ["row 2", "fields"]),
    "csv_inf_displacement": ("points.csv", csv_text(r3_20150324="inf"), None,
                             ["row 3", "column '20150324'", "not a finite number"]),
    "csv_minus_inf": ("points.csv", csv_text(r5_20150417="-inf"), None,
                      ["row 5", "column '20150417'", "finite"]),
    "csv_infinity_word": ("points.csv", csv_text(r2_20150405="Infinity"), None,
                          ["row 2", "column '20150405'", "finite"]),
    "csv_inf_velocity": ("points.csv", csv_text(r4_velocity="inf"), None,
                         ["row 4", "column 'velocity'"]),
    "csv_inf_lon": ("points.csv", csv_text(r2_lon="inf"), None, ["row 2", "column 'lon'"]),
    "csv_lon_200": ("points.csv", csv_text(r4_lon="200"), None,
                    ["row 4", "column 'lon'", "longitude 200"]),
    "csv_lon_minus_181": ("points.csv", csv_text(r2_lon="-181"), None,
                          ["row 2", "column 'lon'"]),
    "csv_lon_999": ("points.csv", csv_text(r6_lon="999"), None, ["row 6", "longitude"]),
    "csv_lat_91": ("points.csv", csv_text(r3_lat="91"), None, ["row 3", "column 'lat'"]),
    "csv_lat_minus_95": ("points.csv", csv_text(r3_lat="-95"), None, ["row 3", "latitude"]),
    "csv_lon_missing": ("points.csv", csv_text(r5_lon=""), None, ["row 5", "longitude"]),
    "csv_heading_400": ("points.csv", csv_text(r3_heading="400"), None,
                        ["row 3", "column 'heading'", "heading 400"]),
    "csv_heading_minus_361": ("points.csv", csv_text(r2_heading="-361"), None,
                              ["row 2", "column 'heading'"]),
    "csv_coherence_1_5": ("points.csv", csv_text(r4_coherence="1.5"), None,
                          ["row 4", "column 'coherence'", "coherence 1.5"]),
    "csv_coherence_negative": ("points.csv", csv_text(r2_coherence="-0.1"), None,
                               ["row 2", "column 'coherence'"]),
    "csv_incidence_95": ("points.csv", csv_text(r3_incidence="95"), None,
                         ["row 3", "column 'incidence'"]),
    "csv_incidence_negative": ("points.csv", csv_text(r3_incidence="-5"), None,
                               ["row 3", "column 'incidence'"]),
    "csv_utf16": ("points.csv", _utf16(csv_text()), None, ["not UTF-8"]),
    "csv_utf16_as_csv_format": ("points.csv", _utf16(csv_text()), "csv", ["not UTF-8"]),
    "csv_utf16_txt": ("points.txt", _utf16(csv_text()), "csv", ["not UTF-8"]),
    "csv_latin1": ("points.csv", csv_text(r3_id="pé").encode("latin-1"), None,
                   ["not UTF-8", "row 3"]),
    "csv_binary": ("points.csv", b"\x00\x01\x02garbage\x00" * 50, "csv", ["not UTF-8"]),
    "csv_nul_inside": ("points.csv", csv_text().encode().replace(b"p3", b"p\x003"), "csv",
                       ["not UTF-8"]),
    "csv_non_numeric": ("points.csv", csv_text(r4_20150405="abc"), None,
                        ["row 4", "column '20150405'", "not a number"]),
    "csv_non_numeric_after_nan": ("points.csv", csv_text(r2_20150324="NaN", r5_20150324="x1"),
                                  None, ["row 5", "column '20150324'"]),
    "csv_duplicate_id": ("points.csv", csv_text(r4_id="p1"), None, ["row 4", "appears twice"]),
    "csv_empty_id": ("points.csv", csv_text(r4_id=""), None, ["row 4", "column 'id'"]),
    "csv_bad_date_column": ("points.csv", csv_text().replace("20150324", "20151324", 1), None,
                            ["column '20151324'"]),
    "csv_duplicate_date": ("points.csv", csv_text().replace("20150324", "20150312", 1), None,
                           ["column '20150312'", "appears twice"]),
    "csv_unsorted_dates": ("points.csv", csv_text().replace("20150324", "20150301", 1), None,
                           ["column '20150301'", "out of order"]),
    "csv_duplicate_column": ("points.csv", csv_text().replace("velocity", "heading", 1), None,
                             ["column 'heading'", "twice"]),
    "csv_semicolons": ("points.csv", csv_text().replace(",", ";"), None, ["row 1", "semicolons"]),
    "csv_header_only": ("points.csv", ",".join(CSV_COLS) + "\n", None, ["header only"]),
    "csv_empty": ("points.csv", "", None, ["empty"]),
    "csv_whitespace_only": ("points.csv", "   \n\n", "csv", ["empty"]),
    "csv_no_dates": ("points.csv", "id,lon,lat\np1,-79,-2.9\n", None, ["no acquisition-date"]),
    "csv_no_coordinates": ("points.csv", "id,inc,20150312,20150324\np1,30,0,1\n", None,
                           ["missing column"]),
    "csv_all_empty_rows": ("points.csv", csv_text(**{f"r{r}_{d}": "" for r in range(2, 7)
                                                    for d in DATES}), None,
                           ["no row has a displacement"]),
    "csv_as_egms": ("points.csv", csv_text(), "egms",
                    ["not an EGMS file", "missing columns", "'pid'"]),
    "csv_as_stamps": ("points.csv", csv_text(), "stamps", ["row"]),
    "csv_as_mintpy": ("points.csv", csv_text(), "mintpy", ["not an HDF5 file"]),
    # zips ----------------------------------------------------------------------------
    "zip_two_csv": ("points.zip", _zip_two_csv, None, ["'a.csv'", "'b.csv'", "expected one"]),
    "zip_two_csv_egms": ("EGMS_L2a_1.zip", _zip_two_csv, "egms", ["'a.csv'", "'b.csv'"]),
    "zip_bomb_ratio": ("points.zip", _zip_bomb, None, ["member 'points.csv'", "zip bomb"]),
    "zip_bomb_ratio_egms": ("EGMS_L2a_1.zip", _zip_bomb, "egms", ["zip bomb"]),
    "zip_declared_huge": ("points.zip", _zip_declared_huge, "csv", ["member 'points.csv'"]),
    "zip_member_dotdot": ("points.zip", _zip_member_climbs, None, ["'../evil.csv'", "climbs"]),
    "zip_member_absolute": ("points.zip", _zip_member_absolute, "csv",
                            ["'/tmp/evil.csv'", "absolute"]),
    "zip_truncated": ("points.zip", _zip_truncated, None, ["damaged"]),
    "zip_truncated_egms": ("EGMS_L2a_1.zip", _zip_truncated, "egms", ["damaged"]),
    "zip_bad_crc": ("points.zip", _zip_bad_crc, "csv", ["damaged"]),
    "zip_no_csv": ("points.zip", _zip_no_csv, "csv", ["zip holds no .csv"]),
    "zip_utf16_member": ("points.zip", _zip_utf16, "csv", ["points.csv", "not UTF-8"]),
    "zip_random_bytes": ("points.zip", b"PK\x03\x04" + os.urandom(200), "csv", ["damaged"]),
    # EGMS ----------------------------------------------------------------------------
    "egms_longitude_999": ("egms.csv", egms_text(r3_longitude="999"), "egms",
                           ["row 3", "column 'longitude'", "longitude 999"]),
    "egms_longitude_minus_200": ("egms.csv", egms_text(r2_longitude="-200"), "egms",
                                 ["row 2", "column 'longitude'"]),
    "egms_latitude_99": ("egms.csv", egms_text(r4_latitude="99"), "egms",
                         ["row 4", "column 'latitude'"]),
    "egms_truncated_row": ("egms.csv", egms_text().replace(",1.2,2.2\n", "\n"), "egms",
                           ["row 3", "truncated row"]),
    "egms_cut_at_70pct": ("egms.csv", egms_text()[: int(len(egms_text()) * 0.7)], "egms",
                          ["truncated row"]),
    "egms_inf_displacement": ("egms.csv", egms_text(r5_20180111="inf"), "egms",
                              ["row 5", "column '20180111'", "finite"]),
    "egms_track_angle_400": ("egms.csv", egms_text(r2_track_angle="400"), "egms",
                             ["row 2", "column 'track_angle'"]),
    "egms_coherence_1_3": ("egms.csv", egms_text(r3_temporal_coherence="1.3"), "egms",
                           ["row 3", "column 'temporal_coherence'"]),
    "egms_incidence_zero": ("egms.csv", egms_text(r3_incidence_angle="0"), "egms",
                            ["row 3", "column 'incidence_angle'"]),
    "egms_los_not_unit": ("egms.csv", egms_text(r4_los_up="0.2"), "egms",
                          ["row 4", "LOS vector length"]),
    "egms_utf16": ("egms.csv", _utf16(egms_text()), "egms", ["not UTF-8"]),
    "egms_non_numeric": ("egms.csv", egms_text(r2_mean_velocity="fast"), "egms",
                         ["row 2", "column 'mean_velocity'"]),
    "egms_duplicate_pid": ("egms.csv", egms_text(r3_pid="a1"), "egms", ["row 3", "twice"]),
    "egms_gnss_csv_as_egms": ("gnss.csv", gnss_csv_text(), "egms", ["not an EGMS file"]),
    "egms_l3_easting_far": ("EGMS_L3_E45N17_100km_U_2020_2024_1.csv",
                            l3_text(r3_easting="99999999"), "egms",
                            ["row 3", "'easting'/'northing'", "area of use"]),
    "egms_l3_northing_negative": ("EGMS_L3_E45N17_100km_U_2020_2024_1.csv",
                                  l3_text(r2_northing="-9000000"), "egms",
                                  ["row 2", "area of use"]),
    "egms_l3_truncated": ("EGMS_L3_E45N17_100km_U_2020_2024_1.csv",
                          l3_text().rstrip("\n")[:-6], "egms", ["row 4", "truncated"]),
    # StaMPS --------------------------------------------------------------------------
    "stamps_truncated_row": ("ps.csv", stamps_text().replace(",-1.2,-2.2\n", "\n"), "stamps",
                             ["row 4", "truncated row"]),
    "stamps_cut": ("ps.csv", stamps_text().rstrip("\n")[:-9], "stamps", ["row 6", "truncated"]),
    "stamps_cut_after_separator": ("ps.csv", stamps_text().rstrip("\n")[:-4], "stamps",
                                   ["row 6", "truncated"]),
    "stamps_inf": ("ps.csv", stamps_text(r4_d2="inf"), "stamps", ["row 4", "finite"]),
    "stamps_lon_200": ("ps.csv", stamps_text(r5_lon="200"), "stamps", ["row 5", "longitude"]),
    "stamps_lat_100": ("ps.csv", stamps_text(r3_lat="100"), "stamps", ["row 3", "latitude"]),
    "stamps_ref_lon_999": ("ps.csv", stamps_text(meta=["999", "-2.9", "NaN", "735928", "735940",
                                                       "735952"]), "stamps", ["row 2"]),
    "stamps_utf16": ("ps.csv", _utf16(stamps_text()), "stamps", ["not UTF-8"]),
    "stamps_bad_day": ("ps.csv", stamps_text(meta=["-79", "-2.9", "NaN", "735928.5", "735940",
                                                   "735952"]), "stamps", ["row 2"]),
    # MintPy --------------------------------------------------------------------------
    "mintpy_dates_short": ("timeseries.h5", _h5_dates_short, "mintpy",
                           ["dataset 'date'", "2 dates", "3 layers"]),
    "mintpy_dates_long": ("timeseries.h5", _h5_dates_long, "mintpy",
                          ["dataset 'date'", "4 dates"]),
    "mintpy_truncated": ("timeseries.h5", _h5_truncated, "mintpy", ["truncated HDF5"]),
    "mintpy_truncated_guessed": ("timeseries.h5", _h5_truncated, None, ["HDF5"]),
    "mintpy_inf": ("timeseries.h5", _h5_inf, "mintpy", ["point r2_c3", "not finite"]),
    "mintpy_geometry_truncated": ("timeseries.h5", _h5_bad_geometry, "mintpy",
                                  ["geometryGeo.h5", "HDF5"]),
    "mintpy_geometry_not_h5": ("timeseries.h5", _h5_geometry_not_h5, "mintpy",
                               ["geometryGeo.h5", "not an HDF5 file"]),
    "mintpy_coherence_1_5": ("timeseries.h5", _h5_coherence_above_one, "mintpy",
                             ["temporalCoherence.h5", "pixel r1_c1", "coherence 1.5"]),
    "mintpy_grid_far_away": ("timeseries.h5", _h5_metres_far_away, "mintpy",
                             ["pixel r0_c0", "area of use"]),
    "mintpy_not_hdf5": ("timeseries.h5", _h5_not_hdf5, "mintpy", ["not an HDF5 file"]),
    "mintpy_heading_400": ("timeseries.h5", _h5_heading_out_of_range, "mintpy",
                           ["heading 400"]),
    # GNSS ----------------------------------------------------------------------------
    "tenv3_truncated": ("M01.tenv3", tenv3_text().rstrip("\n")[:-60], None,
                        ["row 4", "truncated"]),
    "tenv3_inf": ("M01.tenv3", tenv3_text(up2="inf"), None, ["row 3", "finite"]),
    "tenv3_utf16": ("M01.tenv3", _utf16(tenv3_text()), None, ["not UTF-8"]),
    "tenv3_lat_200": ("M01.tenv3", tenv3_text(lat="200"), None,
                      ["row 2", "column '_latitude(deg)'", "latitude 200"]),
    "tenv3_lon_999": ("M01.tenv3", tenv3_text(lon="999"), None,
                      ["row 2", "column '_longitude(deg)'"]),
    "tenv3_bad_date": ("M01.tenv3", tenv3_text(day3="17JUX17"), None, ["row 4"]),
    "gnss_csv_lon_200": ("gnss.csv", gnss_csv_text(r5_lon="200"), "csv",
                         ["row 5", "column 'lon'"]),
    "gnss_csv_lat_95": ("gnss.csv", gnss_csv_text(r2_lat="95"), "csv",
                        ["row 2", "column 'lat'"]),
    "gnss_csv_inf_up": ("gnss.csv", gnss_csv_text(r4_up="inf"), "csv",
                        ["row 4", "column 'up'", "finite"]),
    "gnss_csv_truncated": ("gnss.csv", gnss_csv_text().rstrip("\n")[:-12], "csv",
                           ["row 7", "truncated"]),
    "gnss_csv_utf16": ("gnss.csv", _utf16(gnss_csv_text()), "csv", ["not UTF-8"]),
    "ecef_inf": ("GNSS.txt", ecef_text(x2="inf"), "ecef", ["row 3", "finite"]),
    "ecef_truncated": ("GNSS.txt", ecef_text().rstrip("\n")[:-20], "ecef",
                       ["row 4", "truncated"]),
    "ecef_utf16": ("GNSS.txt", _utf16(ecef_text()), "ecef", ["not UTF-8"]),
    "pos_inf": ("ABCD.pos", pos_text(du2="inf"), None, ["row 6", "finite"]),
    "pos_truncated": ("ABCD.pos", pos_text().rstrip("\n")[:-30], None, ["row 6", "truncated"]),
    # MultiDEFusion -------------------------------------------------------------------
    "mdf_truncated_row": ("PSI_1.txt", mdf_text("2019 1 13 -0.001 0.6"), "multidefusion",
                          ["row 3", "truncated row"]),
    "mdf_inf": ("PSI_1.txt", mdf_text("2019 1 13 inf 0.6 -0.2 0.001"), "multidefusion",
                ["row 3", "column 'DSP'", "finite"]),
    "mdf_bad_number": ("PSI_1.txt", mdf_text("2019 1 13 x 0.6 -0.2 0.001"), "multidefusion",
                       ["row 3", "column 'DSP'"]),
    "mdf_utf16": ("PSI_1.txt", _utf16(mdf_text()), "multidefusion", ["not UTF-8"]),
}


@pytest.mark.parametrize("case", sorted(READER_CASES))
def test_reader_refuses(case, tmp_path, cli):
    name, content, fmt, expected = READER_CASES[case]
    path = tmp_path / name
    _write(path, content)
    args = ["inspect", path] + (["--format", fmt] if fmt else [])
    code, _, err = cli(*args)
    culprit = [] if any(e.endswith(".h5") for e in expected) else [path]  # a file beside it
    assert_refused(code, err, *culprit, *expected)


# --------------------------------------------------------------------------- valid but unusual

def _egms_zip_with_xml(p):
    zipped(p, {"EGMS_L2a_1.csv": egms_text(), "EGMS_L2a_1.xml": "<metadata/>"})


def _h5_coherence_exactly_one(p):
    write_ts(p)
    write_h5(p.parent / "temporalCoherence.h5",
             temporalCoherence=np.ones((3, 4), np.float32))


VALID_CASES = {
    "csv_bom": ("points.csv", "\ufeff" + csv_text(), None, "5 points"),
    "csv_crlf": ("points.csv", csv_text().replace("\n", "\r\n"), None, "5 points"),
    "csv_no_final_newline": ("points.csv", csv_text().rstrip("\n"), None,
                             "does not end with a newline"),
    "csv_nan_and_empty_cells": ("points.csv", csv_text(r2_20150324="NaN", r3_20150405=""),
                                None, "5 points"),
    "csv_last_date_empty": ("points.csv", csv_text(r3_20150417="", r5_20150417="NaN"), None,
                            "5 points"),
    "csv_empty_row_dropped": ("points.csv", csv_text(**{f"r4_{d}": "" for d in DATES}), None,
                              "dropped 1 of 5 rows"),
    "csv_blank_line": ("points.csv", csv_text().replace("\np3", "\n\np3"), "csv",
                       "dropped 1 of 6 rows"),
    "csv_quoted_ids_with_commas": ("points.csv", csv_text(r2_id='"p,1"'), None, "5 points"),
    "csv_coherence_0_and_1": ("points.csv", csv_text(r2_coherence="0", r3_coherence="1"),
                              None, "5 points"),
    "csv_heading_350_wrapped": ("points.csv", csv_text(r2_heading="350"), None, "5 points"),
    "csv_heading_minus_360": ("points.csv", csv_text(r2_heading="-360"), None, "5 points"),
    "csv_lon_180": ("points.csv", csv_text(r2_lon="180", r3_lon="179.9"), None, "5 points"),
    "csv_unknown_column_ignored": ("points.csv", csv_text().replace("velocity", "speed", 1),
                                   None, "ignoring columns 'speed'"),
    "csv_no_id": ("points.csv", csv_text().replace("id,", "ident,", 1), None,
                  "ignoring columns 'ident'"),
    "csv_utf8_names": ("points.csv", csv_text(r2_id="pé1"), None, "5 points"),
    "zip_one_csv": ("points.zip", lambda p: zipped(p, {"points.csv": csv_text()}), None,
                    "5 points"),
    "zip_stored_small": ("points.zip", lambda p: zipped(p, {"points.csv": csv_text()},
                                                        zipfile.ZIP_STORED), "csv", "5 points"),
    "egms_zip_with_xml": ("EGMS_L2a_1.zip", _egms_zip_with_xml, "egms", "4 points"),
    "egms_track_191": ("egms.csv", egms_text(r2_track_angle="191.4"), "egms",
                       "differs from track_angle"),
    "egms_l3": ("EGMS_L3_E45N17_100km_U_2020_2024_1.csv", l3_text(), "egms", "3 points"),
    "stamps_nan_velocity": ("ps.csv", stamps_text(r3_velocity="NaN"), "stamps",
                            "computed from their series"),
    "mintpy_coherence_one": ("timeseries.h5", _h5_coherence_exactly_one, "mintpy",
                             "12 points"),
    "tenv3_plain": ("M01.tenv3", tenv3_text(), None, "1 stations"),
    "gnss_csv_two_stations": ("gnss.csv", gnss_csv_text(), "csv", "2 stations"),
    "pos_east_longitude_360": ("ABCD.pos", pos_text(), None, "1 stations"),
}


@pytest.mark.parametrize("case", sorted(VALID_CASES))
def test_valid_but_unusual_reads_and_logs(case, tmp_path, cli):
    name, content, fmt, expected = VALID_CASES[case]
    path = tmp_path / name
    _write(path, content)
    args = ["inspect", path] + (["--format", fmt] if fmt else [])
    code, out, err = cli(*args)
    assert code == 0, (case, err)
    assert "Traceback" not in err
    assert expected in out + err, (case, out, err)


# --------------------------------------------------------------------------- config

BASE_CONFIG = """\
datasets:
  - {name: A, path: a.csv, format: csv}
"""


def _config(tmp_path, text, data=None):
    (tmp_path / "a.csv").write_text(csv_text() if data is None else data)
    cfg = tmp_path / "config.yaml"
    if isinstance(text, bytes):
        cfg.write_bytes(text)
    else:
        cfg.write_text(text)
    return cfg


CONFIG_CASES = {
    "time_start_after_end": ("time: {start: 2016-01-01, end: 2015-01-01}\n", ["time.end"]),
    "time_one_epoch": ("time: {start: 2015-01-01, end: 2015-01-10, step_days: 12}\n",
                       ["time.end", "fewer than 2 epochs"]),
    "time_same_day": ("time: {start: 2015-01-01, end: 2015-01-01}\n", ["time.end"]),
    "time_step_zero": ("time: {step_days: 0}\n", ["time.step_days"]),
    "time_step_negative": ("time: {step_days: -12}\n", ["time.step_days"]),
    "time_bad_date": ("time: {start: 2015-02-30}\n", ["time.start"]),
    "cell_size_nan": ("spatial: {cell_size_m: .nan}\n", ["spatial.cell_size_m"]),
    "cell_size_inf": ("spatial: {cell_size_m: .inf}\n", ["spatial.cell_size_m"]),
    "cell_size_zero": ("spatial: {cell_size_m: 0}\n", ["spatial.cell_size_m"]),
    "cell_size_negative": ("spatial: {cell_size_m: -20}\n", ["spatial.cell_size_m"]),
    "cell_size_word": ("spatial: {cell_size_m: big}\n", ["spatial.cell_size_m"]),
    "conv_layers_2": ("spatial: {cnn: {conv_layers: 2}}\n", ["spatial.cnn.conv_layers"]),
    "conv_layers_4": ("spatial: {cnn: {conv_layers: 4}}\n", ["spatial.cnn.conv_layers"]),
    "kernel_even": ("spatial: {cnn: {kernel_size: 4}}\n", ["spatial.cnn.kernel_size", "odd"]),
    "kernel_zero": ("spatial: {cnn: {kernel_size: 0}}\n", ["spatial.cnn.kernel_size"]),
    "patch_not_multiple_of_4": ("spatial: {cnn: {patch_size: 30}}\n",
                                ["spatial.cnn.patch_size"]),
    "patch_too_small": ("spatial: {cnn: {patch_size: 4}}\n", ["spatial.cnn.patch_size"]),
    "candidates_negative": ("spatial: {cell_size_m: auto, cell_size_candidates_m: [10, -1]}\n",
                            ["spatial.cell_size_candidates_m"]),
    "candidates_zero": ("spatial: {cell_size_candidates_m: [0]}\n",
                        ["spatial.cell_size_candidates_m"]),
    "candidates_nan": ("spatial: {cell_size_candidates_m: [10, .nan]}\n",
                       ["spatial.cell_size_candidates_m"]),
    "candidates_empty": ("spatial: {cell_size_candidates_m: []}\n",
                         ["spatial.cell_size_candidates_m"]),
    "gnss_radius_inf": ("gnss: {path: g, reference: [R1], radius_m: .inf}\n",
                        ["gnss.radius_m", "finite"]),
    "gnss_radius_zero": ("gnss: {path: g, reference: [R1], radius_m: 0}\n", ["gnss.radius_m"]),
    "gnss_radius_negative": ("gnss: {path: g, reference: [R1], radius_m: -1}\n",
                             ["gnss.radius_m"]),
    "gnss_reference_empty": ("gnss: {path: g, reference: []}\n",
                             ["gnss.reference", "names no station"]),
    "reference_point_radius_inf": ("reference_point: {lon: -79, lat: -2.9, radius_m: .inf}\n",
                                   ["reference_point.radius_m"]),
    "reference_point_lon_200": ("reference_point: {lon: 200, lat: -2.9}\n",
                                ["reference_point.lon"]),
    "idw_radius_inf": ("spatial: {idw: {radius_m: .inf}}\n", ["spatial.idw.radius_m"]),
    "learning_rate_nan": ("temporal: {lstm: {learning_rate: .nan}}\n",
                          ["temporal.lstm.learning_rate"]),
    "mask_buffer_inf": ("spatial: {mask_buffer_m: .inf}\n", ["spatial.mask_buffer_m"]),
    "holdout_folds_one": ("validation: {holdout_folds: 1}\n", ["validation.holdout_folds"]),
    "incidence_95": (None, ["datasets.0.incidence"]),
    "heading_400": (None, ["datasets.0.heading"]),
    "crs_geographic": ("crs: EPSG:4326\n", ["key 'crs'", "not a projected"]),
    "crs_unknown": ("crs: EPSG:99999999\n", ["key 'crs'"]),
    "unknown_key": ("sedd: 3\n", ["key 'sedd'", "unknown key"]),
    "primary_unknown": ("primary: B\n", ["primary 'B'"]),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_refused_before_any_work(case, tmp_path, cli):
    extra, expected = CONFIG_CASES[case]
    text = BASE_CONFIG + (extra or "")
    if case == "incidence_95":
        text = "datasets:\n  - {name: A, path: a.csv, format: csv, incidence: 95}\n"
    if case == "heading_400":
        text = "datasets:\n  - {name: A, path: a.csv, format: csv, heading: 400}\n"
    cfg = _config(tmp_path, text)
    out = tmp_path / "out"
    code, _, err = cli("run", cfg, "--out", out)
    assert_refused(code, err, cfg, *expected, out=out)


CONFIG_FILE_CASES = {
    "binary": (b"\x00\x01\x02\x03" * 64, ["not UTF-8 text"]),
    "utf16": (BASE_CONFIG.encode("utf-16"), ["not UTF-8 text"]),
    "latin1": (("# café\n" + BASE_CONFIG).encode("latin-1"), ["not UTF-8 text", "line 1"]),
    "png_header": (b"\x89PNG\r\n\x1a\n" + os.urandom(64), ["not UTF-8 text"]),
    "empty": (b"", ["empty"]),
    "list_at_top": (b"- a\n- b\n", ["mapping"]),
    "bad_yaml": (b"datasets: [\n", ["not valid YAML"]),
    "tab_indent": (b"datasets:\n\t- {name: A, path: a.csv}\n", ["YAML"]),
}


@pytest.mark.parametrize("case", sorted(CONFIG_FILE_CASES))
def test_config_file_refused(case, tmp_path, cli):
    content, expected = CONFIG_FILE_CASES[case]
    cfg = _config(tmp_path, content)
    out = tmp_path / "out"
    code, _, err = cli("run", cfg, "--out", out)
    assert_refused(code, err, cfg, *expected, out=out)


def test_missing_config_file(tmp_path, cli):
    cfg = tmp_path / "nowhere.yaml"
    code, _, err = cli("run", cfg, "--out", tmp_path / "out")
    assert_refused(code, err, cfg, "no such configuration file", out=tmp_path / "out")


def test_valid_time_window_of_two_epochs_loads(tmp_path):
    from insarfusion.config import load_config

    cfg = load_config(_config(tmp_path, BASE_CONFIG + "time: {start: 2015-01-01, "
                                                      "end: 2015-01-13, step_days: 12}\n"))
    assert cfg.time.end.isoformat() == "2015-01-13"


def test_resolved_config_without_reference_reloads(tmp_path):
    from insarfusion.config import dump_config, load_config

    cfg = load_config(_config(tmp_path, BASE_CONFIG + "gnss: {path: g}\n"))
    assert cfg.gnss.reference == []
    dump_config(cfg, tmp_path / "resolved.yaml")
    assert load_config(tmp_path / "resolved.yaml").gnss.reference == []


# --------------------------------------------------------------------------- data in a run

DATA_IN_RUN_CASES = {
    "crs_wrong_zone": ("crs: EPSG:32633\n", None, ["key 'crs'", "not valid where the data are"]),
    "crs_europe_for_ecuador": ("crs: EPSG:3035\n", None, ["key 'crs'", "area of use"]),
    "xy_far_outside_crs": ("crs: EPSG:32717\n",
                           "id,x,y,20150312,20150324\np1,700000,9680000,0,1\n"
                           "p2,9e11,9680000,0,2\n", ["a.csv", "row 3", "area of use"]),
    "xy_swapped": ("crs: EPSG:32717\n", "id,x,y,20150312,20150324\np1,9680000,700000,0,1\n",
                   ["a.csv", "row 2", "area of use"]),
    "lon_200_in_run": ("", csv_text(r3_lon="200"), ["a.csv", "row 3", "longitude 200"]),
    "inf_in_run": ("", csv_text(r2_20150405="inf"), ["a.csv", "row 2", "column '20150405'"]),
    "truncated_in_run": ("", csv_text()[:-9], ["a.csv", "row 6", "truncated"]),
    "utf16_in_run": ("", None, ["a.csv", "not UTF-8"]),
    "missing_gnss_folder": ("gnss: {path: nogps/, format: tenv3, reference: [R1]}\n", None,
                            ["nogps"]),
}


@pytest.mark.parametrize("case", sorted(DATA_IN_RUN_CASES))
def test_bad_data_in_a_run_leaves_nothing(case, tmp_path, cli):
    extra, data, expected = DATA_IN_RUN_CASES[case]
    cfg = _config(tmp_path, BASE_CONFIG + extra, data)
    if case == "utf16_in_run":
        (tmp_path / "a.csv").write_bytes(_utf16(csv_text()))
    out = tmp_path / "out"
    code, _, err = cli("run", cfg, "--out", out)
    assert_refused(code, err, *expected, out=out)


# --------------------------------------------------------------------------- run conditions

@pytest.fixture
def fake_pipeline(monkeypatch):
    """Replace the pipeline by a quick one that writes through ``atomic_output`` and calls
    ``hook(staging)`` (settable) inside it."""
    import insarfusion.pipeline as pipeline

    state = {"hook": None, "runs": 0}

    def run(cfg, out, force=False, report=True, client=None):
        with products.atomic_output(out, force=force) as tmp:
            (tmp / "validation.json").write_text("{}")
            if state["hook"] is not None:
                state["hook"](tmp)
        state["runs"] += 1
        return {}

    monkeypatch.setattr(pipeline, "run", run)
    return state


def _good_case(tmp_path):
    return _config(tmp_path, BASE_CONFIG)


def test_run_writes_the_marker(tmp_path, cli, fake_pipeline):
    cfg = _good_case(tmp_path)
    out = tmp_path / "out"
    code, _, err = cli("run", cfg, "--out", out)
    assert code == 0, err
    assert (out / products.OUTPUT_MARKER).is_file()
    assert debris(tmp_path, "out") == []


def test_force_replaces_an_earlier_run(tmp_path, cli, fake_pipeline):
    cfg = _good_case(tmp_path)
    out = tmp_path / "out"
    assert cli("run", cfg, "--out", out)[0] == 0
    (out / "old.txt").write_text("from the first run")
    code, _, err = cli("run", cfg, "--out", out, "--force")
    assert code == 0, err
    assert not (out / "old.txt").exists() and (out / "validation.json").is_file()


def test_without_force_an_earlier_run_is_kept(tmp_path, cli, fake_pipeline):
    cfg = _good_case(tmp_path)
    out = tmp_path / "out"
    assert cli("run", cfg, "--out", out)[0] == 0
    code, _, err = cli("run", cfg, "--out", out)
    assert_refused(code, err, out, "--force")
    assert (out / products.OUTPUT_MARKER).is_file()


@pytest.mark.parametrize("where", ["config_folder", "parent_of_config", "dataset_file"])
def test_force_never_replaces_the_inputs(where, tmp_path, cli, fake_pipeline):
    case = tmp_path / "case"
    case.mkdir()
    cfg = _config(case, BASE_CONFIG)
    (case / products.OUTPUT_MARKER).write_text("a marker does not make inputs replaceable")
    out = {"config_folder": case, "parent_of_config": tmp_path,
           "dataset_file": case / "a.csv"}[where]
    before = sorted(p.name for p in case.iterdir())
    code, _, err = cli("run", cfg, "--out", out, "--force")
    assert_refused(code, err, "input")
    assert sorted(p.name for p in case.iterdir()) == before
    assert (case / "a.csv").read_text() == csv_text()
    assert fake_pipeline["runs"] == 0


def test_force_refuses_a_folder_insarfusion_did_not_write(tmp_path, cli, fake_pipeline):
    cfg = _good_case(tmp_path)
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("precious")
    code, _, err = cli("run", cfg, "--out", out, "--force")
    assert_refused(code, err, out, products.OUTPUT_MARKER)
    assert (out / "chapter1.tex").read_text() == "precious"
    assert debris(tmp_path, "thesis") == []


def test_out_is_a_file(tmp_path, cli, fake_pipeline):
    cfg = _good_case(tmp_path)
    out = tmp_path / "out.txt"
    out.write_text("keep")
    code, _, err = cli("run", cfg, "--out", out, "--force")
    assert_refused(code, err, out, "not a folder")
    assert out.read_text() == "keep"


def test_empty_out_folder_is_used(tmp_path, cli, fake_pipeline):
    cfg = _good_case(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    assert cli("run", cfg, "--out", out)[0] == 0
    assert (out / "validation.json").is_file()


def test_second_run_into_the_same_out_is_refused(tmp_path, cli, fake_pipeline):
    cfg = _good_case(tmp_path)
    out = tmp_path / "out"
    lock = tmp_path / ".out.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    os.write(fd, b"4242\n")
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        code, _, err = cli("run", cfg, "--out", out)
    finally:
        os.close(fd)
    assert_refused(code, err, out, "another insarfusion run", "4242")
    assert not out.exists()
    lock.unlink()
    assert cli("run", cfg, "--out", out)[0] == 0  # once the other run is gone
    assert debris(tmp_path, "out") == []


def test_nested_run_into_the_same_out_is_refused(tmp_path, cli, fake_pipeline):
    """A second writer while the first is inside its staging folder."""
    cfg = _good_case(tmp_path)
    out = tmp_path / "out"
    seen = {}

    def second(tmp):
        with pytest.raises(products.OutputError, match="another insarfusion run") as info:
            with products.atomic_output(out):
                pass
        seen["message"] = str(info.value)

    fake_pipeline["hook"] = second
    assert cli("run", cfg, "--out", out)[0] == 0
    assert str(out) in seen["message"]
    assert debris(tmp_path, "out") == []


def test_stale_staging_is_removed_and_logged(tmp_path, cli, fake_pipeline):
    cfg = _good_case(tmp_path)
    out = tmp_path / "out"
    stale = tmp_path / ".out.k2j4h5g6.partial"
    stale.mkdir()
    (stale / "displacement.nc").write_bytes(b"half")
    retired = tmp_path / ".out.replaced-0123abcd"
    retired.mkdir()
    other = tmp_path / ".outer.k2j4h5g6.partial"  # another output's: not touched
    other.mkdir()
    code, _, err = cli("run", cfg, "--out", out)
    assert code == 0, err
    assert not stale.exists() and not retired.exists() and other.exists()
    assert any(str(stale) in m and "killed" in m for m in err.splitlines()), err


@pytest.mark.parametrize("err_no", [errno.ENOSPC, errno.EDQUOT])
def test_disk_full_names_the_output_and_leaves_nothing(err_no, tmp_path, cli, fake_pipeline):
    cfg = _good_case(tmp_path)
    out = tmp_path / "out"

    def full(tmp):
        (tmp / "displacement.nc").write_bytes(b"x" * 100)
        raise OSError(err_no, os.strerror(err_no), str(tmp / "displacement.nc"))

    fake_pipeline["hook"] = full
    code, _, err = cli("run", cfg, "--out", out)
    assert_refused(code, err, out, "no space left", out=out)


def test_disk_full_keeps_the_earlier_output(tmp_path, cli, fake_pipeline):
    cfg = _good_case(tmp_path)
    out = tmp_path / "out"
    assert cli("run", cfg, "--out", out)[0] == 0

    def full(tmp):
        raise OSError(errno.ENOSPC, "No space left on device")

    fake_pipeline["hook"] = full
    code, _, err = cli("run", cfg, "--out", out, "--force")
    assert_refused(code, err, out, "no space left")
    assert (out / "validation.json").is_file()
    assert debris(tmp_path, "out") == []


def test_unexpected_failure_leaves_nothing(tmp_path, cli, fake_pipeline):
    cfg = _good_case(tmp_path)
    out = tmp_path / "out"

    def boom(tmp):
        raise RuntimeError("stage exploded")

    fake_pipeline["hook"] = boom
    code, _, err = cli("run", cfg, "--out", out)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and debris(tmp_path, "out") == []


def test_grid_guard_names_extent_cell_and_gigabytes():
    from insarfusion.errors import StageError
    from insarfusion.guards import check_grid_size

    with pytest.raises(StageError) as info:
        check_grid_size((0, 20_000_000, 0, 1_000_000), 20.22, 100, 2, available=16 * 2**30)
    message = str(info.value)
    for part in ("20000.0 x 1000.0 km", "cell size 20.22 m", "GB", "17.2 GB are available"):
        assert part in message, message
    assert check_grid_size((0, 10_000, 0, 10_000), 20.22, 100, 2, available=16 * 2**30) > 0


# --------------------------------------------------------------------------- signals

SLOW_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import insarfusion.pipeline as pipeline
    from insarfusion import products

    def slow(cfg, out, force=False, report=True, client=None):
        with products.atomic_output(out, force=force) as tmp:
            (tmp / "validation.json").write_text("{}")
            Path(sys.argv[1]).write_text(str(tmp))
            time.sleep(60)
        return {}

    pipeline.run = slow
    from insarfusion.cli import main
    sys.exit(main(["run", sys.argv[2], "--out", sys.argv[3]]))
""")


def _start_slow(tmp_path):
    cfg = _good_case(tmp_path)
    script = tmp_path / "slow.py"
    script.write_text(SLOW_RUN)
    ready = tmp_path / "ready"
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, str(script), str(ready), str(cfg), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(proc.communicate())
        time.sleep(0.05)
    time.sleep(0.2)  # ready is written inside the block: the sleep has begun
    return proc, Path(ready.read_text()), out


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                       (signal.SIGHUP, 129)])
def test_signal_removes_staging_and_exits_non_zero(sig, code, tmp_path):
    proc, staging, out = _start_slow(tmp_path)
    assert staging.is_dir()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0], err
    assert signal.Signals(sig).name in lines[0]
    assert "Traceback" not in err
    assert not staging.exists() and not out.exists()
    assert debris(tmp_path, "out") == []


def test_sigkill_leftovers_are_removed_by_the_next_run(tmp_path, cli, fake_pipeline):
    proc, staging, out = _start_slow(tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    assert staging.is_dir()  # a killed run cannot clean up
    code, _, err = cli("run", tmp_path / "config.yaml", "--out", out)
    assert code == 0, err
    assert not staging.exists()
    assert debris(tmp_path, "out") == []
    assert str(staging) in err and "killed" in err


def test_case_count():
    total = (len(READER_CASES) + len(VALID_CASES) + len(CONFIG_CASES) + len(CONFIG_FILE_CASES)
             + len(DATA_IN_RUN_CASES) + 25)
    assert total >= 150, total


# --------------------------------------------------------------------------- ties and truth

def _gnss_folder(tmp_path, lat, lon):
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / "MXTM.tenv3").write_text(tenv3_text(lat=lat, lon=lon))
    return folder


def _shifted_csv(dlon):
    rows = csv_rows()
    for r in rows:
        r[1] = f"{float(r[1]) + dlon:.4f}"
    return table(CSV_COLS, rows)


TIE_CASES = {
    "reference_station_2000_km_away": (
        "gnss: {path: g, format: tenv3, reference: [MXTM]}\n", ("19.4844", "-98.9785"),
        ["key 'gnss.reference'", "'MXTM'", "km from the nearest point"]),
    "reference_station_30_km_away": (
        "gnss: {path: g, format: tenv3, reference: [MXTM]}\n", ("-2.9", "-78.73"),
        ["key 'gnss.reference'", "km"]),
    "reference_point_far": ("reference_point: {lon: -78.0, lat: -2.9}\n", None,
                            ["key 'reference_point'", "km"]),
    "datasets_apart": ("  - {name: B, path: b.csv, format: csv}\n", None,
                       ["key 'datasets'", "do not overlap"]),
    "truth_garbage": ("truth: truth.nc\n", None, ["truth.nc", "key 'truth'"]),
    "truth_missing": ("truth: nowhere.nc\n", None, ["nowhere.nc", "key 'truth'"]),
}


@pytest.mark.parametrize("case", sorted(TIE_CASES))
def test_ties_and_truth_refused(case, tmp_path, cli):
    extra, station, expected = TIE_CASES[case]
    cfg = _config(tmp_path, BASE_CONFIG + extra)
    if station is not None:
        _gnss_folder(tmp_path, *station)
    (tmp_path / "b.csv").write_text(_shifted_csv(1.0))
    (tmp_path / "truth.nc").write_bytes(b"CDF\x01" + os.urandom(100))
    out = tmp_path / "out"
    code, _, err = cli("run", cfg, "--out", out)
    assert_refused(code, err, *expected, out=out)


def test_ties_within_reach_load(tmp_path):
    from insarfusion.config import load_config
    from insarfusion.load import load_inputs

    cfg = _config(tmp_path, BASE_CONFIG + "  - {name: B, path: b.csv, format: csv}\n"
                  "gnss: {path: g, format: tenv3, reference: [MXTM]}\n")
    (tmp_path / "b.csv").write_text(_shifted_csv(0.001))
    _gnss_folder(tmp_path, "-2.903", "-79.03")
    inputs = load_inputs(load_config(cfg))
    assert list(inputs.datasets) == ["A", "B"]


def test_simulate_force_never_replaces_a_users_folder(tmp_path, cli):
    folder = tmp_path / "mydata"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    code, _, err = cli("simulate", folder, "--force")
    assert_refused(code, err, folder, "not a simulated case")
    assert (folder / "thesis.tex").read_text() == "precious"


def test_demo_force_never_replaces_a_users_results_folder(tmp_path, cli):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "notes.txt").write_text("precious")
    code, _, err = cli("demo", "--out", tmp_path, "--force")
    assert_refused(code, err, tmp_path / "results", products.OUTPUT_MARKER)
    assert (tmp_path / "results" / "notes.txt").read_text() == "precious"
    assert not (tmp_path / "case").exists()


def test_far_validation_station_is_logged(tmp_path):
    from insarfusion.config import load_config
    from insarfusion.load import load_inputs
    from insarfusion.log import logger

    cfg = _config(tmp_path, BASE_CONFIG + "gnss: {path: g, format: tenv3}\n")
    _gnss_folder(tmp_path, "19.4844", "-98.9785")
    seen = []

    class Keep(__import__("logging").Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Keep()
    logger.addHandler(handler)
    try:
        inputs = load_inputs(load_config(cfg))
    finally:
        logger.removeHandler(handler)
    assert inputs.gnss.attrs["stations_outside_data"] == "MXTM"
    assert any("MXTM" in m and "km from the nearest InSAR point" in m for m in seen), seen


def test_grid_guard_for_a_run(tmp_path):
    from insarfusion.config import load_config
    from insarfusion.errors import StageError
    from insarfusion.guards import check_run_grid
    from insarfusion.load import load_inputs

    cfg = load_config(_config(tmp_path, BASE_CONFIG + "spatial: {cell_size_m: auto, "
                                                      "cell_size_candidates_m: [0.001, 50]}\n"))
    inputs = load_inputs(cfg)
    assert check_run_grid(inputs, load_config(_config(tmp_path, BASE_CONFIG)).spatial, 100) > 0
    with pytest.raises(StageError, match="cell size 0.001 m"):
        check_run_grid(inputs, cfg.spatial, 100, available=2**30)


@pytest.mark.parametrize("command", ["decompose", "compare-gnss"])
def test_other_commands_never_replace_the_inputs(command, tmp_path, cli):
    cfg = _config(tmp_path, BASE_CONFIG)
    (tmp_path / products.OUTPUT_MARKER).write_text("")
    code, _, err = cli(command, cfg, "--out", tmp_path, "--force")
    assert_refused(code, err, "input")
    assert (tmp_path / "a.csv").read_text() == csv_text()


def test_more_folds_than_blocks_is_refused(tmp_path):
    from insarfusion.config import load_config
    from insarfusion.errors import ConfigError
    from insarfusion.guards import check_holdout_blocks
    from insarfusion.load import load_inputs

    cfg = load_config(_config(tmp_path, BASE_CONFIG + "validation: {holdout_folds: 40}\n"))
    inputs = load_inputs(cfg)
    with pytest.raises(ConfigError, match="validation.holdout_folds"):
        check_holdout_blocks(inputs, cfg.validation)
    cfg.validation.holdout_folds = 2
    assert check_holdout_blocks(inputs, cfg.validation) >= 2
