"""The command line's own logic: the headline printed after a run, and the small commands."""

from __future__ import annotations

import numpy as np
import pytest

from insarfusion.cli import headline


def _validation():
    method = {"velocity_rmse_mm_yr": 2.5, "timeseries_rmse_mm_mean": 4.75,
              "cross_correlation_mean": 71.0}
    return {
        "methods": {"S1A": dict(method), "synergic": dict(method, velocity_rmse_mm_yr=1.25)},
        "truth": {"synergic": {"field_rmse_mm": 5.5, "field_pattern_rmse_mm": 3.9}},
        "improvement_pct": {"synergic_vs_S1A": 50.0},
        "leave_one_station_out": {"methods": {
            "synergic": {"velocity_rmse_mm_yr": 1.91, "timeseries_rmse_mm_mean": None}}},
        "holdout_blocks": {"kriging": {"rmse_mm": 5.16, "coverage": 1.0},
                           "linear": {"rmse_mm": 4.72, "coverage": 0.936}},
    }


def test_headline_has_every_score():
    text = headline(_validation())
    lines = text.splitlines()
    assert lines[0].split() == ["method", "velocity", "RMSE", "series", "RMSE", "corr", "%",
                                "truth", "RMSE"]
    assert "1.25 mm/yr" in lines[2] and "5.50 mm" in lines[2]
    assert "-" in lines[1].split()  # no truth for a single dataset
    assert "improvement synergic_vs_S1A: +50.0 %" in text
    loso = lines.index("leave one station out (velocity RMSE, mean series RMSE):")
    assert lines[loso + 1].split() == ["synergic", "1.91", "mm/yr", "-"]
    held = text.split("held-out spatial blocks")[1].splitlines()
    assert held[1].split()[0] == "linear" and held[1].split()[-2:] == ["94", "%"]


def test_headline_without_stations_keeps_the_held_out_scores():
    v = _validation()
    for key in ("methods", "truth", "improvement_pct", "leave_one_station_out"):
        del v[key]
    assert headline(v).startswith("held-out spatial blocks")


def test_headline_puts_the_others_beside_a_method_held_out_on_fewer_folds():
    v = _validation()
    v["holdout_blocks"]["synergic"] = {"rmse_mm": 5.81, "coverage": 1.0, "folds": 5,
                                       "folds_scored": 1,
                                       "same_folds_rmse_mm": {"kriging": 4.76, "linear": 4.54}}
    held = headline(v).split("held-out spatial blocks")[1].splitlines()
    line = next(x for x in held if x.split() and x.split()[0] == "synergic")
    assert line.split()[1:4] == ["5.81", "mm", "100"]
    assert line.endswith("(1 of 5 folds; there kriging 4.76 mm, linear 4.54 mm)")


# --- the commands beyond the run: --version, init, view, series, flags after the command ---

def test_version(cli):
    from insarfusion import __version__

    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == f"insarfusion {__version__}"


def test_global_flags_are_hoisted_before_the_command():
    from insarfusion.cli import hoist_global_flags

    assert hoist_global_flags(["run", "c.yaml", "-v", "--out", "o"]) == \
        ["-v", "run", "c.yaml", "--out", "o"]
    assert hoist_global_flags(["--debug", "inspect", "f", "--quiet"]) == \
        ["--debug", "--quiet", "inspect", "f"]
    assert hoist_global_flags(["series", "o", "--", "-v"]) == ["series", "o", "--", "-v"]
    assert hoist_global_flags(["--version"]) == ["--version"]


def test_verbose_and_quiet_after_the_command(cli, tmp_path):
    import logging

    from insarfusion.log import logger

    code, _, err = cli("inspect", tmp_path / "missing.csv", "-v")
    assert code == 2 and err.strip().endswith("no such file or folder")
    console = [h for h in logger.handlers if not isinstance(h, logging.FileHandler)]
    assert console and all(h.level == logging.DEBUG for h in console)
    code, _, _ = cli("inspect", tmp_path / "missing.csv", "--quiet")
    console = [h for h in logger.handlers if not isinstance(h, logging.FileHandler)]
    assert code == 2 and all(h.level == logging.WARNING for h in console)
    cli("inspect", tmp_path / "missing.csv")  # back to the default for the next tests


def _keys(model, prefix=""):
    """Every key of a pydantic model, dotted, nested models expanded."""
    from insarfusion.config_template import _models

    out = []
    for name, info in model.model_fields.items():
        out.append(prefix + name)
        inner, _ = _models(info.annotation)
        if inner is not None:
            out += _keys(inner, prefix + name + ".")
    return out


def test_init_writes_every_key_with_its_default_and_help(cli, tmp_path):
    import re

    import yaml

    from insarfusion.config import Config

    path = tmp_path / "config.yaml"
    code, out, _ = cli("init", path)
    assert code == 0 and str(path) in out
    text = path.read_text()
    # every key, every help: uncommented, the template is a valid configuration
    from insarfusion.config_template import _HEADER

    assert text.startswith(_HEADER)
    body = text[len(_HEADER):].splitlines()
    for _ in range(2):  # a commented section inside a commented section
        body = [re.sub(r"^(\s*)# ", r"\1", line) for line in body]
    uncommented = "\n".join(body)
    data = yaml.safe_load(uncommented)
    cfg = Config(**data)
    leaves = [k.split(".")[-1] for k in _keys(Config)]
    for key in leaves:
        assert re.search(rf"^[\s#-]*{key}:", text, re.M), key
    assert all("  # " in line for line in body), "a key without help"
    # the defaults are the schema's
    defaults = Config(datasets=[{"name": "S1A", "path": "s1a_points.csv"}])
    plain = yaml.safe_load(text)
    for section in ("time", "temporal", "spatial", "validation"):
        assert plain[section] == yaml.safe_load(yaml.safe_dump(
            defaults.model_dump(mode="json")[section])), section
    assert cfg.gnss is not None and cfg.reference_point is not None
    # an existing file is kept unless --force
    code, _, err = cli("init", path)
    assert code == 2 and "exists" in err
    assert cli("init", path, "--force")[0] == 0


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A small output folder: the products the viewer and the series read."""
    import pandas as pd
    import xarray as xr

    from insarfusion.dataset import point_dataset
    from insarfusion.grid import make_grid
    from insarfusion.products import (
        velocity_map,
        write_displacement_nc,
        write_points_gpkg,
        write_velocity_tif,
    )

    crs = "EPSG:32717"
    dates = pd.date_range("2020-01-01", periods=4, freq="12D").values
    folder = tmp_path_factory.mktemp("results")
    grid = make_grid(721000.0, 721200.0, 9678000.0, 9678100.0, cell_size=20.0, crs=crs)
    cube = xr.DataArray(np.arange(4.0)[:, None, None] + np.zeros((4, grid.sizes["y"],
                                                                   grid.sizes["x"])),
                        dims=("time", "y", "x"),
                        coords={"time": dates, "y": grid["y"], "x": grid["x"]})
    write_displacement_nc(folder / "displacement.nc", cube, crs)
    write_velocity_tif(folder / "velocity.tif", velocity_map(cube), grid, crs)
    points = point_dataset(np.ones((2, 4)).cumsum(axis=1), dates, x=[721050.0, 721150.0],
                           y=[9678050.0, 9678050.0], crs=crs, incidence=35.0, heading=-10.0,
                           name="S1A")
    write_points_gpkg(folder / "points.gpkg", {"S1A": points}, fused=cube)
    return folder


def test_view_writes_the_page(cli, results, tmp_path):
    code, out, _ = cli("view", results)
    assert code == 0 and (results / "viewer.html").is_file()
    assert str(results / "viewer.html") in out
    page = tmp_path / "page.html"
    assert cli("view", results, "--out", page, "-q")[0] == 0 and page.stat().st_size > 0


def test_series_prints_or_writes_the_csv(cli, results, tmp_path):
    import io

    import pandas as pd

    from insarfusion.crs import xy_to_lonlat

    lon, lat = xy_to_lonlat([721052.0], [9678050.0], "EPSG:32717")
    code, out, _ = cli("series", results, "--lon", float(lon[0]), "--lat", float(lat[0]))
    assert code == 0
    frame = pd.read_csv(io.StringIO(out), comment="#", index_col="date")
    assert list(frame.columns) == ["synergic", "S1A_point"]
    np.testing.assert_allclose(frame["synergic"], np.arange(4.0), atol=1e-3)
    path = tmp_path / "s.csv"
    code, out, _ = cli("series", results, "--x", 721052.0, "--y", 9678050.0, "--csv", path)
    assert code == 0 and str(path) in out
    assert pd.read_csv(path, comment="#", index_col="date").shape == (4, 2)
    code, _, err = cli("series", results)
    assert code == 2 and "lon/lat" in err


def test_product_lines_say_where_and_how(results):
    from insarfusion.products.guide import product_lines

    lines = product_lines(results)
    assert any(line.startswith(str(results / "displacement.nc")) for line in lines)
    assert any("points.gpkg" in line and "QGIS" in line for line in lines)
    assert not any("mintpy" in line for line in lines)  # only what the folder holds


@pytest.mark.parametrize("value", ["0", "x", "-1"])
def test_threads_option_refuses_what_is_not_a_count(value, tmp_path):
    from typer.testing import CliRunner

    from insarfusion.cli import app

    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), "--threads", value])
    assert result.exit_code == 2
    assert "--threads" in result.output and not (tmp_path / "d").exists()


def test_threads_option_values():
    from insarfusion.cli import _threads_option

    assert _threads_option(None) is None and _threads_option("auto") == "auto"
    assert _threads_option("3") == 3
