"""East-up decomposition of two or more lines of sight (beyond the paper).

A LOS displacement is the projection of the 3-D motion on the ground-to-satellite unit vector
``e = (e_E, e_N, e_U)`` (:func:`insarfusion.conventions.los_unit_vector`, paper eq. 2)::

    d_LOS = e_E d_east + e_N d_north + e_U d_up        (positive toward the satellite)

Near-polar orbits leave ``e_N`` small (``|e_N| = sin(theta) |sin(alpha)|``, about 0.1 for
Sentinel-1), so two geometries that look from opposite sides (ascending and descending) give a
well-posed 2 x 2 system in east and up once the north motion is neglected (``d_north = 0``) or
known and removed. With more than two geometries the system is solved by least squares.
:func:`decompose` does this per element (per cell and epoch, or per cell for velocities).

:func:`decompose_datasets` builds the inputs from point datasets: each dataset is resampled onto
common epochs (linear or PCHIP), made zero at the first epoch, and averaged per grid cell
together with its LOS unit vectors; the cells that every geometry covers are decomposed.
:func:`run_decomposition` is ``insarfusion decompose``: it does this for the datasets of a
configuration, compares the result cell by cell with independent east/up products (EGMS L3)
when the ``decomposition.compare`` section names them, and writes every output atomically.

Signs and units: east positive eastward, up positive upward, north positive northward;
displacements in mm, velocities in mm/yr (:mod:`insarfusion.conventions`).

What neglecting north costs: a north motion ``n`` leaks into the solution as
``(E, U) += n * A^-1 (e_N1, e_N2)``, ``A`` the rows ``(e_E,i, e_U,i)``. Both Sentinel-1 passes
have a small negative ``e_N`` (about -0.1), so the leak is nearly common to both LOS and goes
mostly into up: for the Ustica tracks (ascending 39.0 / -8.9 deg, descending 37.3 / -168.6 deg)
``U += -0.14 n`` and ``E += -0.02 n``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from ..conventions import as_days, los_unit_vector
from ..errors import InputError, StageError
from ..log import logger
from ..metrics import rounded
from ..series import linear_rate

#: Below this |sin| of the angle between two geometries' (east, up) directions the system is
#: treated as singular (the geometries see the same combination of east and up).
MIN_SINE = 1e-3


def _as_array(value, what) -> xr.DataArray:
    if isinstance(value, xr.DataArray):
        return value.astype(float)
    if np.ndim(value) == 0:
        return xr.DataArray(float(value))
    raise InputError(f"{what} must be a number or an xarray.DataArray (got an array of shape "
                     f"{np.shape(value)}: label its dimensions)")


def decompose(los, vectors, north=None, sigma=None) -> xr.Dataset:
    """East and up components from LOS observations of two or more geometries.

    Solves, for every element of the inputs, the least-squares problem
    ``sum_i w_i (d_i - e_E,i E - e_U,i U)^2 -> min`` with ``d_i = los_i - e_N,i north`` and
    ``w_i = 1 / sigma_i^2`` (1 without ``sigma``). Geometries whose value is NaN are left out of
    that element; an element with fewer than two usable geometries, or whose geometries are
    (nearly) parallel in the east-up plane, is NaN.

    Parameters
    ----------
    los : sequence of xarray.DataArray
        LOS displacements (mm) or velocities (mm/yr) of each geometry, positive toward the
        satellite, on the same coordinates (e.g. dims ``(time, y, x)`` or ``(y, x)``).
    vectors : sequence of (east, north, up)
        Ground-to-satellite LOS unit vector of each geometry (dimensionless), as from
        :func:`insarfusion.conventions.los_unit_vector`. Each component is a number or an
        xarray.DataArray that broadcasts against the LOS values (e.g. dims ``(y, x)``).
    north : float or xarray.DataArray, optional
        Known north component (same unit as ``los``, positive northward), removed from every
        LOS value before solving. Default: neglected (taken as 0).
    sigma : sequence of float or xarray.DataArray, optional
        Standard deviation of each geometry's LOS values (same unit), for weights and for the
        standard deviations of the result.

    Returns
    -------
    xarray.Dataset
        ``east`` (positive eastward) and ``up`` (positive upward), same unit and dims as
        ``los``; ``residual``, the root-mean-square LOS misfit (0 with exactly two geometries);
        ``n_geometries``, the geometries used; with ``sigma``, ``east_std`` and ``up_std``.

    Raises
    ------
    InputError
        Fewer than two geometries, a vector or sigma per geometry missing, LOS arrays on
        different coordinates.
    """
    los = list(los)
    vectors = list(vectors)
    if len(los) < 2:
        raise InputError(f"the decomposition needs at least two geometries, got {len(los)}")
    if len(vectors) != len(los):
        raise InputError(f"{len(los)} LOS arrays but {len(vectors)} unit vectors")
    if sigma is not None and len(sigma) != len(los):
        raise InputError(f"{len(los)} LOS arrays but {len(sigma)} sigmas")
    los = [_as_array(d, f"LOS {i}") for i, d in enumerate(los)]
    try:
        los = list(xr.align(*los, join="exact"))
    except ValueError as exc:
        raise InputError(f"the LOS arrays are not on the same coordinates ({exc})") from None
    north = xr.DataArray(0.0) if north is None else _as_array(north, "north")

    n_ee = n_eu = n_uu = b_e = b_u = count = 0.0
    parts = []
    for i, (d, vec) in enumerate(zip(los, vectors, strict=True)):
        if len(vec) != 3:
            raise InputError(f"unit vector {i} has {len(vec)} components, expected 3 "
                             "(east, north, up)")
        e, n, u = (_as_array(c, f"unit vector {i}") for c in vec)
        w = 1.0 if sigma is None else 1.0 / _as_array(sigma[i], f"sigma {i}") ** 2
        rhs = d - n * north
        ok = rhs.notnull() & e.notnull() & u.notnull() & np.isfinite(w)
        we = xr.where(ok, w * e, 0.0)
        wu = xr.where(ok, w * u, 0.0)
        rhs0 = xr.where(ok, rhs, 0.0)
        n_ee = n_ee + we * e.fillna(0.0)
        n_eu = n_eu + we * u.fillna(0.0)
        n_uu = n_uu + wu * u.fillna(0.0)
        b_e = b_e + we * rhs0
        b_u = b_u + wu * rhs0
        count = count + ok.astype(int)
        parts.append((rhs, e, u, ok))
    det = n_ee * n_uu - n_eu**2
    solvable = (count >= 2) & (det > MIN_SINE**2 * n_ee * n_uu)
    with np.errstate(invalid="ignore", divide="ignore"):
        east = ((n_uu * b_e - n_eu * b_u) / det).where(solvable)
        up = ((n_ee * b_u - n_eu * b_e) / det).where(solvable)
        misfit = sum(xr.where(ok, (rhs - e * east - u * up) ** 2, 0.0)
                     for rhs, e, u, ok in parts)
        residual = np.sqrt(misfit / count).where(solvable)
    out = xr.Dataset({"east": east, "up": up, "residual": residual,
                      "n_geometries": count.where(solvable, 0).astype("int16")})
    if sigma is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            out["east_std"] = np.sqrt(n_uu / det).where(solvable)
            out["up_std"] = np.sqrt(n_ee / det).where(solvable)
    units = los[0].attrs.get("units")
    for name, long_name in (("east", "east component, positive eastward"),
                            ("up", "up component, positive upward"),
                            ("residual", "root-mean-square LOS misfit"),
                            ("east_std", "standard deviation of east"),
                            ("up_std", "standard deviation of up")):
        if name in out:
            out[name].attrs = {"long_name": long_name, **({"units": units} if units else {})}
    out.attrs["north"] = "neglected" if north.ndim == 0 and float(north) == 0.0 else "removed"
    return out


# --------------------------------------------------------------------------- from point data

def grid_los(ds: xr.Dataset, grid: xr.Dataset, min_points: int = 1) -> xr.Dataset:
    """Mean LOS series and mean LOS unit vector of a point dataset in every grid cell.

    Parameters
    ----------
    ds : xarray.Dataset
        Point dataset on its final epochs (``displacement`` (point, time) mm; ``x``/``y`` in
        the grid's CRS; ``incidence``/``heading`` degrees).
    grid : xarray.Dataset
        From :func:`insarfusion.grid.make_grid`.
    min_points : int
        Cells with fewer points are empty (NaN).

    Returns
    -------
    xarray.Dataset
        ``los`` (time, y, x) mm; ``los_east``, ``los_north``, ``los_up`` (y, x), the mean
        unit vector (the mean of unit vectors, not renormalised: it is the exact geometry of
        a cell mean); ``count`` (y, x), points per cell.
    """
    from ..grid import cell_index

    inc = np.asarray(ds["incidence"].values, dtype=float)
    head = np.asarray(ds["heading"].values, dtype=float)
    if not (np.isfinite(inc) & np.isfinite(head)).all():
        raise InputError(f"dataset {ds.attrs.get('name', '')!r} has points without "
                         "incidence/heading; the decomposition needs every point's LOS",
                         ds.attrs.get("source") or None)
    ny, nx = grid.sizes["y"], grid.sizes["x"]
    row, col = cell_index(grid, ds["x"].values, ds["y"].values)
    inside = (row >= 0) & (row < ny) & (col >= 0) & (col < nx)
    cell = (row * nx + col)[inside]
    values = np.asarray(ds["displacement"].values, dtype=float)[inside]
    finite = np.isfinite(values)
    n_cells = ny * nx
    count = np.bincount(cell, minlength=n_cells)
    sums = np.zeros((n_cells, values.shape[1]))
    np.add.at(sums, cell, np.where(finite, values, 0.0))
    hits = np.zeros((n_cells, values.shape[1]))
    np.add.at(hits, cell, finite)
    keep = count >= min_points
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(keep[:, None] & (hits > 0), sums / hits, np.nan)
    vec = []
    for component in los_unit_vector(inc[inside], head[inside]):
        total = np.bincount(cell, weights=component, minlength=n_cells)
        with np.errstate(invalid="ignore", divide="ignore"):
            vec.append(np.where(keep, total / count, np.nan).reshape(ny, nx))
    coords = {"y": grid["y"], "x": grid["x"]}
    time = ds["time"].values
    return xr.Dataset(
        {"los": (("time", "y", "x"), mean.T.reshape(time.size, ny, nx), {"units": "mm"}),
         "los_east": (("y", "x"), vec[0]), "los_north": (("y", "x"), vec[1]),
         "los_up": (("y", "x"), vec[2]),
         "count": (("y", "x"), np.where(keep, count, 0).reshape(ny, nx))},
        coords={**coords, "time": time})


def decompose_datasets(datasets, grid: xr.Dataset, epochs, resampler: str = "linear",
                       min_points: int = 1) -> xr.Dataset:
    """East and up series and velocities on a grid from point datasets of several geometries.

    Parameters
    ----------
    datasets : mapping of name -> xarray.Dataset
        Point datasets in a common datum (e.g. EGMS L2b, calibrated to GNSS), ``x``/``y`` in
        the grid's CRS, each with its per-point incidence and heading.
    grid : xarray.Dataset
        From :func:`insarfusion.grid.make_grid`.
    epochs : array_like of dates
        Common epochs; every series is resampled onto them and made zero at the first.
    resampler : {"linear", "pchip"}
        Temporal resampler (:mod:`insarfusion.temporal`).
    min_points : int
        Points of each geometry a cell needs.

    Returns
    -------
    xarray.Dataset
        ``east``, ``up`` (time, y, x) mm, zero at the first epoch; ``velocity_east``,
        ``velocity_up`` (y, x) mm/yr, the least-squares slopes of those series (the same as
        decomposing the LOS velocities); ``residual`` (time, y, x) mm; per geometry
        ``count_<name>`` (y, x), ``los_<name>`` (time, y, x) mm and ``velocity_los_<name>``
        (y, x) mm/yr; attrs ``crs``, ``cell_size``, ``datasets``.
    """
    from ..temporal import make_resampler, resample_dataset

    if len(datasets) < 2:
        raise StageError(f"the decomposition needs two or more datasets, got {len(datasets)}")
    epochs = as_days(np.atleast_1d(epochs))
    gridded = {}
    for name, ds in datasets.items():
        resampled = resample_dataset(ds, epochs, make_resampler(resampler), rezero=True)
        gridded[name] = grid_los(resampled, grid, min_points=min_points)
        logger.info("decomposition: %s on %d cells (%d points)", name,
                    int((gridded[name]["count"] > 0).sum()), ds.sizes["point"])
    shared = np.logical_and.reduce([g["count"].values > 0 for g in gridded.values()])
    if not shared.any():
        raise StageError("no grid cell holds points of every geometry: nothing to decompose")
    mask = xr.DataArray(shared, dims=("y", "x"))
    result = decompose([g["los"].where(mask) for g in gridded.values()],
                       [(g["los_east"], g["los_north"], g["los_up"]) for g in gridded.values()])
    time = epochs.astype("datetime64[ns]")
    out = xr.Dataset(coords={"time": time, "y": grid["y"], "x": grid["x"]},
                     attrs={"crs": grid.attrs.get("crs", ""),
                            "cell_size": float(grid.attrs["cell_size"]),
                            "datasets": ", ".join(datasets), "north": result.attrs["north"],
                            "resampler": resampler})
    for name in ("east", "up", "residual"):
        out[name] = result[name].transpose("time", "y", "x").assign_coords(time=time)
        out[name].attrs = {**result[name].attrs, "units": "mm"}
    for name in ("east", "up"):
        out[f"velocity_{name}"] = (("y", "x"), linear_rate(epochs, out[name].values, axis=0),
                                   {"units": "mm/yr", "long_name": f"mean {name} velocity"})
    for name, g in gridded.items():
        out[f"count_{name}"] = g["count"]
        out[f"los_{name}"] = g["los"].assign_coords(time=time)
        out[f"velocity_los_{name}"] = (("y", "x"), linear_rate(epochs, g["los"].values, axis=0),
                                       {"units": "mm/yr"})
    logger.info("decomposition: %d cells with every geometry, %d epochs", int(shared.sum()),
                epochs.size)
    return out


# --------------------------------------------------------------------------- comparison

def compare_component(result: xr.Dataset, component: str, reference: xr.Dataset,
                      resampler: str = "linear") -> tuple[dict, dict]:
    """Scores of one decomposed component against an independent product, cell by cell.

    Parameters
    ----------
    result : xarray.Dataset
        From :func:`decompose_datasets`.
    component : {"east", "up"}
    reference : xarray.Dataset
        Point dataset of the same component (e.g. EGMS L3 east or up, one point per 100 m
        cell), ``x``/``y`` in the result's CRS. Each reference point is matched with the
        result cell holding it; its series is resampled onto the result's epochs and made zero
        at the first.
    resampler : {"linear", "pchip"}

    Returns
    -------
    summary : dict
        ``cells`` compared; ``velocity_rmse_mm_yr``, ``velocity_bias_mm_yr`` (mean of
        ours - reference), ``velocity_corr`` (Pearson across cells), with the reference's
        velocity the slope of its series over the same epochs; ``velocity_rmse_vs_file_mm_yr``
        against the file's own ``velocity`` (its full span); ``series_rmse_mm``: root mean
        square over cells and epochs after removing each cell's mean difference;
        ``series_rmse_raw_mm``, the same without removing it (both zero at the first epoch);
        ``series_rmse_median_mm``, the median of the per-cell figures.
    cells : dict
        Per-cell arrays (``x``, ``y``, velocities, per-cell series RMSE) for tables and plots.
    """
    from ..grid import cell_index
    from ..temporal import make_resampler, resample_dataset

    epochs = as_days(result["time"].values)
    ref = resample_dataset(reference, epochs, make_resampler(resampler), rezero=True)
    row, col = cell_index(result, ref["x"].values, ref["y"].values)
    ny, nx = result.sizes["y"], result.sizes["x"]
    inside = (row >= 0) & (row < ny) & (col >= 0) & (col < nx)
    ours = np.full((row.size, epochs.size), np.nan)
    ours[inside] = result[component].values[:, row[inside], col[inside]].T
    theirs = np.asarray(ref["displacement"].values, dtype=float)
    both = np.isfinite(ours).all(axis=1) & np.isfinite(theirs).all(axis=1)
    if not both.any():
        raise StageError(f"no cell of the decomposition holds a point of the {component} "
                         "product to compare with")
    ours, theirs = ours[both], theirs[both]
    v_ours = linear_rate(epochs, ours)
    v_theirs = linear_rate(epochs, theirs)
    v_file = np.asarray(reference["velocity"].values, dtype=float)[both]
    diff = ours - theirs
    centred = diff - diff.mean(axis=1, keepdims=True)
    per_cell = np.sqrt((centred**2).mean(axis=1))
    summary = {
        "cells": int(both.sum()),
        "velocity_rmse_mm_yr": rounded(np.sqrt(np.mean((v_ours - v_theirs) ** 2))),
        "velocity_bias_mm_yr": rounded(np.mean(v_ours - v_theirs)),
        "velocity_corr": rounded(np.corrcoef(v_ours, v_theirs)[0, 1]) if both.sum() > 2 else None,
        "velocity_rmse_vs_file_mm_yr": rounded(np.sqrt(np.nanmean((v_ours - v_file) ** 2))),
        "velocity_std_reference_mm_yr": rounded(np.std(v_theirs)),
        "series_rmse_mm": rounded(np.sqrt(np.mean(centred**2))),
        "series_rmse_raw_mm": rounded(np.sqrt(np.mean(diff**2))),
        "series_rmse_median_mm": rounded(np.median(per_cell)),
    }
    cells = {"x": ref["x"].values[both], "y": ref["y"].values[both], "velocity": v_ours,
             "velocity_reference": v_theirs, "series_rmse_mm": per_cell}
    return summary, cells


# --------------------------------------------------------------------------- the command

def run_decomposition(cfg, out, force: bool = False) -> dict:
    """``insarfusion decompose``: decompose the configured datasets, compare, write outputs.

    Reads every dataset of ``cfg`` (they must share a datum: nothing is re-referenced),
    builds the grid of ``cfg.decomposition`` (cells aligned on multiples of the cell size in
    its CRS, as EGMS L3 cells are), decomposes (:func:`decompose_datasets`) and, when
    ``decomposition.compare`` names east/up products, scores the result against them
    (:func:`compare_component`). Writes into ``out`` atomically: ``decomposition.nc``,
    ``velocity_east.tif``, ``velocity_up.tif``, ``comparison.json`` (always; the comparison
    section only with products to compare), ``comparison_cells.csv``, ``decomposition.png``,
    ``config.resolved.yaml`` and ``run.log``.

    Returns
    -------
    dict
        The contents of ``comparison.json``.
    """
    from ..config import DecompositionConfig
    from ..crs import crs_string, parse_crs
    from ..dataset import to_crs
    from ..grid import make_grid
    from ..load import load_inputs
    from ..products import write_velocity_tif
    from ..runframe import run_frame
    from ..timegrid import common_epochs

    dc = cfg.decomposition or DecompositionConfig()
    with run_frame(cfg, out, force=force) as tmp:
        inputs = load_inputs(cfg)
        crs = crs_string(parse_crs(dc.crs)) if dc.crs else inputs.crs
        datasets = {k: to_crs(v, crs) for k, v in inputs.datasets.items()}
        xs = np.concatenate([d["x"].values for d in datasets.values()])
        ys = np.concatenate([d["y"].values for d in datasets.values()])
        grid = make_grid(xs.min(), xs.max(), ys.min(), ys.max(), dc.cell_size_m, crs=crs)
        step = dc.step_days or cfg.time.step_days
        epochs = common_epochs(datasets, step_days=step, start=cfg.time.start,
                               end=cfg.time.end)
        result = decompose_datasets(datasets, grid, epochs, resampler=dc.resampler,
                                    min_points=dc.min_points)
        summary = {"datasets": {name: {"points": int(d.sizes["point"]),
                                       "cells": int((result[f"count_{name}"] > 0).sum()),
                                       "incidence_mean": rounded(d["incidence"].mean(), 2),
                                       "heading_mean": rounded(d["heading"].mean(), 2)}
                                for name, d in datasets.items()},
                   "cells": int(np.isfinite(result["velocity_up"].values).sum()),
                   "cell_size_m": dc.cell_size_m, "crs": crs,
                   "epochs": {"start": str(epochs[0]), "end": str(epochs[-1]),
                              "count": int(epochs.size), "step_days": step},
                   "north": "neglected", "resampler": dc.resampler}
        cells = {}
        if dc.compare is not None:
            summary["comparison"], cells = _compare_products(result, dc, crs)
        _write_outputs(result, summary, cells, grid, crs, tmp, write_velocity_tif)
    return summary


def _compare_products(result: xr.Dataset, dc, crs) -> tuple[dict, dict]:
    """The decomposition scored against the east and up products ``dc.compare`` names."""
    from ..dataset import to_crs
    from ..io import read_points
    from ..io._guess import guess_format

    comparison, cells = {}, {}
    for component in ("east", "up"):
        path = getattr(dc.compare, component)
        if path is None:
            continue
        fmt = dc.compare.format
        if fmt == "auto":
            fmt = guess_format(path)[1]
        options = {"component": component} if fmt == "egms" else {}
        ref = to_crs(read_points(path, fmt, **options), crs)
        comparison[component], cells[component] = compare_component(
            result, component, ref, resampler=dc.resampler)
        comparison[component]["product"] = Path(path).name
        logger.info("decomposition vs %s (%s): %s", Path(path).name, component,
                    comparison[component])
    return comparison, cells


def _write_outputs(result, summary, cells, grid, crs, tmp: Path, write_tif) -> None:
    import pandas as pd
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    from ..crs import parse_crs

    ds = result.copy()
    ds.attrs = {"Conventions": "CF-1.8", "title": "east-up decomposition of LOS displacements",
                **{k: v for k, v in result.attrs.items() if k != "crs"}, "projected_crs": crs}
    ds = ds.rio.write_crs(parse_crs(crs))
    encoding = {name: {"zlib": True, "complevel": 4, "_FillValue": np.float32(np.nan),
                       "dtype": "float32"}
                for name in ds.data_vars if name != "spatial_ref"
                and ds[name].dtype.kind == "f"}
    ds.to_netcdf(tmp / "decomposition.nc", engine="netcdf4", encoding=encoding)
    for name in ("east", "up"):
        write_tif(tmp / f"velocity_{name}.tif", result[f"velocity_{name}"], grid, crs,
                  description=f"mean {name} velocity (positive {name}ward)")
    if cells:
        frames = [pd.DataFrame({"component": c, **v}) for c, v in cells.items()]
        pd.concat(frames).to_csv(tmp / "comparison_cells.csv", index=False, float_format="%.3f")
    (tmp / "comparison.json").write_text(json.dumps(summary, indent=2))
    plot_decomposition(result, cells, tmp / "decomposition.png")


def plot_decomposition(result: xr.Dataset, cells: dict, path, title=None) -> Path:
    """Velocity maps (east, up; mm/yr) of the decomposition and its comparison.

    Where compared, also the reference product on the same cells and the difference
    (decomposed - reference).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..grid import cell_index

    ncol = 3 if cells else 1
    fig, axes = plt.subplots(2, ncol, figsize=(3.3 * ncol, 5.6), squeeze=False,
                             constrained_layout=True)
    x, y = result["x"].values / 1000.0, result["y"].values / 1000.0
    cell = float(result.attrs.get("cell_size", 1000.0)) / 1000.0
    extent = (x[0] - cell / 2, x[-1] + cell / 2, y[-1] - cell / 2, y[0] + cell / 2)
    ny, nx = result.sizes["y"], result.sizes["x"]
    for i, comp in enumerate(("east", "up")):
        values = result[f"velocity_{comp}"].values
        lim = float(np.nanpercentile(np.abs(values), 98)) if np.isfinite(values).any() else 1.0
        lim = max(lim, 0.5)
        panels = [(values, f"{comp}, decomposed", lim)]
        if cells and comp in cells:
            c = cells[comp]
            row, col = cell_index(result, c["x"], c["y"])
            ref = np.full((ny, nx), np.nan)
            ref[row, col] = c["velocity_reference"]
            diff = np.full((ny, nx), np.nan)
            diff[row, col] = c["velocity"] - c["velocity_reference"]
            dlim = max(float(np.nanmax(np.abs(diff))), 0.01)
            panels += [(ref, f"{comp}, reference product", lim),
                       (diff, "decomposed - reference", dlim)]
        for j in range(ncol):
            ax = axes[i, j]
            if j >= len(panels):
                ax.axis("off")
                continue
            img, label, vlim = panels[j]
            im = ax.imshow(img, extent=extent, cmap="RdBu_r", vmin=-vlim, vmax=vlim,
                           interpolation="nearest")
            ax.set_title(f"{label} (mm/yr)", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.set_xlabel("x (km)", fontsize=7)
            if j == 0:
                ax.set_ylabel("y (km)", fontsize=7)
            fig.colorbar(im, ax=ax, shrink=0.75).ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return Path(path)


__all__ = ["compare_component", "decompose", "decompose_datasets", "grid_los",
           "plot_decomposition", "run_decomposition"]
