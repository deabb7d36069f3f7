"""The real-data examples (examples/*/config.yaml), run on reduced inputs.

The example configurations point at ``../../../shared/data/real``: they work in a clone placed
beside ``shared/``. Here their paths are re-rooted on the ``real_data`` fixture (which honours
``INSARFUSION_REAL_DATA``), and the runs are cut down to stay fast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from insarfusion.config import load_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RELATIVE_ROOT = "../../../shared/data/real"


def _config(name: str, real_data: Path, tmp_path: Path, edit=None):
    """The example's configuration with its data paths re-rooted on ``real_data``."""
    text = (EXAMPLES / name / "config.yaml").read_text(encoding="utf-8")
    assert RELATIVE_ROOT in text
    text = text.replace(RELATIVE_ROOT, str(real_data))
    if edit is not None:
        text = edit(text)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


@pytest.mark.parametrize("name", ["maoxian", "ustica", "poland"])
def test_example_configs_validate_and_name_existing_files(name, real_data, tmp_path):
    cfg = _config(name, real_data, tmp_path)
    paths = [d.path for d in cfg.datasets]
    if cfg.gnss is not None:
        paths.append(cfg.gnss.path)
    if cfg.decomposition is not None and cfg.decomposition.compare is not None:
        paths += [cfg.decomposition.compare.east, cfg.decomposition.compare.up]
    for path in paths:
        assert path.is_file(), path
    # in a clone beside shared/ the configuration works as written
    if (EXAMPLES.parents[1] / "shared" / "data" / "real").resolve() == real_data.resolve():
        for d in load_config(EXAMPLES / name / "config.yaml").datasets:
            assert d.path.is_file()


def test_maoxian_fusion_scored_on_held_out_blocks(real_data, tmp_path):
    from insarfusion.pipeline import run

    cfg = _config("maoxian", real_data, tmp_path)
    # the example fuses with the LSTM and the CNN (a minute); here the classic path, fast
    cfg.temporal.method = "linear"
    cfg.spatial.method = "kriging"
    cfg.spatial.baselines = ["nearest"]
    cfg.validation.holdout_methods = ["kriging", "idw", "nearest"]
    cfg.validation.holdout_folds = 3
    validation = run(cfg, tmp_path / "out", report=False)
    held = validation["holdout_blocks"]
    assert set(held) == {"synergic", "idw", "nearest"}
    for scores in held.values():
        assert 2.0 < scores["rmse_mm"] < 20.0 and scores["coverage"] == 1.0
    # interpolating beats taking the nearest point on these data
    assert held["idw"]["rmse_mm"] < held["nearest"]["rmse_mm"]
    assert (tmp_path / "out" / "velocity.tif").is_file()
    # no GNSS: PS tied to SBAS's own reference over their overlap removes most of the
    # exports' datum difference (25.7 mm RMS over the common cells, 7.5 mm after)
    ref = validation["datum_reference"]
    assert ref["mode"] == "primary" and ref["primary"] == "SBAS"
    assert ref["ties"]["PS"]["rms_after_mm"] < 0.4 * ref["ties"]["PS"]["rms_before_mm"]
    assert ref["motion"]["velocity_mm_yr"] is not None


def test_ustica_decomposition_matches_egms_l3_on_a_subset(real_data, tmp_path):
    from insarfusion.crs import crs_string, parse_crs
    from insarfusion.dataset import to_crs
    from insarfusion.grid import make_grid
    from insarfusion.io import read_points
    from insarfusion.timegrid import common_epochs
    from insarfusion.tools.decompose import compare_component, decompose_datasets

    cfg = _config("ustica", real_data, tmp_path)
    dc = cfg.decomposition
    crs = crs_string(parse_crs(dc.crs))
    # a 1 km x 1 km corner of the island, on the L3 grid (cell edges on multiples of 100 m)
    x0, y0 = 4_597_500.0, 1_740_000.0
    datasets = {}
    for d in cfg.datasets:
        ds = to_crs(read_points(d.path, d.format, name=d.name), crs)
        keep = ((ds["x"] >= x0) & (ds["x"] < x0 + 1000) & (ds["y"] >= y0)
                & (ds["y"] < y0 + 1000)).values
        datasets[d.name] = ds.isel(point=np.flatnonzero(keep))
    grid = make_grid(x0, x0 + 999, y0, y0 + 999, dc.cell_size_m, crs=crs)
    epochs = common_epochs(datasets, step_days=dc.step_days)
    result = decompose_datasets(datasets, grid, epochs)
    assert np.isfinite(result["velocity_up"].values).sum() > 40
    for component in ("east", "up"):
        path = getattr(dc.compare, component)
        ref = to_crs(read_points(path, "egms", component=component), crs)
        summary, _ = compare_component(result, component, ref)
        assert summary["cells"] > 40
        # the L3 file was made from these two bursts by the same cell-mean decomposition
        assert summary["velocity_rmse_mm_yr"] < 0.05
        assert summary["series_rmse_mm"] < 0.3
        assert summary["velocity_corr"] > 0.999


def test_poland_headings_as_read_agree_with_the_gnss(real_data, tmp_path):
    from insarfusion.load import load_inputs
    from insarfusion.tools.gnss_compare import compare_pairs, compare_with_gnss

    keep = ("SBAS_121_main", "SBAS_53_main", "SBAS_121_as_named", "DInSAR_10_main",
            "DInSAR_121_main")
    cfg = _config("poland", real_data, tmp_path)
    subset = [d for d in cfg.datasets if d.name in keep]
    cfg = cfg.model_copy(update={"datasets": subset, "primary": subset[0].name})
    inputs = load_inputs(cfg)
    singles = compare_with_gnss(inputs.datasets, inputs.gnss, radius_m=cfg.gnss.radius_m)
    sbas = singles["datasets"]["SBAS_121_main"]
    assert sbas["own"]["correlation_pct"] > 95 and sbas["own"]["rmse_mm"] < 5
    # the file's own (ascending) angles fit the GNSS rate better than the descending
    # geometry its track label implies
    named = singles["datasets"]["SBAS_121_as_named"]["own"]
    assert abs(sbas["own"]["velocity_diff_mm_yr"]) < abs(named["velocity_diff_mm_yr"])
    pairs = compare_pairs(inputs.datasets, inputs.gnss, singles["station"])
    for pair in ("SBAS_121_main+SBAS_53_main", "DInSAR_10_main+DInSAR_121_main"):
        given, turned = pairs[pair]["as given"]["east"], pairs[pair]["headings + 180"]["east"]
        # headings read as flight azimuths clockwise from north give east the GNSS's sign;
        # turned by 180 degrees they flip it
        assert np.sign(given["insar_mm_yr"]) == np.sign(given["gnss_mm_yr"])
        assert np.sign(turned["insar_mm_yr"]) != np.sign(turned["gnss_mm_yr"])
