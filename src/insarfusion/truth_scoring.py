"""Scoring the products against the known truth of a simulated case.

The truth is put on a product's cells and epochs block by block (:func:`truth_on_grid`), each
product's error is split into a per-epoch common offset and the spatial pattern
(:func:`truth_scores`), and :func:`truth_section` gives ``validation.json["truth"]``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .calibration import CURVE_K, coverage
from .metrics import rmse, rounded


def truth_on_grid(cube: xr.DataArray, truth: xr.DataArray, truth_velocity=None, store=None):
    """The truth at a product's epochs (nearest) and cell centres (bilinear).

    The truth is read and interpolated one block of the product's rows at a time
    (:func:`insarfusion.cubes.regrid`), so a truth opened lazily from disk is never loaded
    whole.

    Parameters
    ----------
    cube : xarray.DataArray
        A product (its coordinates are used).
    truth : xarray.DataArray
        The true displacement ``(time, y, x)``, mm.
    truth_velocity : xarray.DataArray, optional
        The true velocity ``(y, x)``, mm/yr.
    store : path-like, optional
        Write the truth on the grid to this file block by block and return it read back
        lazily (:mod:`insarfusion.cubes`).

    Returns
    -------
    displacement : xarray.DataArray, dims (time, y, x)
        mm, on the product's epochs and cells.
    velocity : ndarray, shape (y, x), or None
        mm/yr; None without ``truth_velocity``.
    """
    from . import cubes

    displacement = cubes.regrid(truth, cube["time"].values, cube["y"].values,
                                cube["x"].values, store=store)
    tv = (None if truth_velocity is None else
          truth_velocity.interp(x=cube["x"], y=cube["y"]).transpose("y", "x").values)
    return displacement, tv


def truth_scores(cube: xr.DataArray, truth: xr.DataArray, truth_velocity=None,
                 velocity=None, aligned=None) -> dict:
    """Error of a product against the truth on the cells and epochs both have (mm, mm/yr).

    The truth is interpolated (bilinearly) to the product's cell centres, so products on any
    grid can be scored. The errors are summed one block of rows at a time.

    Returns
    -------
    dict
        ``field_rmse_mm``: RMSE over every cell and epoch. ``field_pattern_rmse_mm``: the same
        after removing each epoch's mean error over the cells, i.e. the error of the spatial
        pattern alone; the difference is a common offset per epoch (datum tie, atmosphere at
        the reference), which no spatial method can change; ``field_common_mode_rmse_mm`` is
        that part, the RMS over the cells of each epoch's mean error, so that
        ``field² = pattern² + common_mode²``. ``velocity_rmse_mm_yr``: against
        the true velocity map, when both velocities are given.

    ``aligned``, the result of :func:`truth_on_grid` for this product's coordinates, saves
    putting the truth on the grid again when several products share one grid.
    """
    from . import cubes

    cube = cube.transpose("time", "y", "x")
    t, tv = truth_on_grid(cube, truth, truth_velocity) if aligned is None else aligned
    t = t.transpose("time", "y", "x")
    squares, count = 0.0, 0
    epoch_sum = np.zeros(cube.sizes["time"])
    epoch_count = np.zeros(cube.sizes["time"])
    for rows, values in cubes.blocks(cube):
        error = values.astype(float) - np.asarray(t.isel(y=rows).values, dtype=float)
        finite = np.isfinite(error)
        error = np.where(finite, error, 0.0)
        squares += float((error ** 2).sum())
        count += int(finite.sum())
        epoch_sum += error.sum(axis=(1, 2))
        epoch_count += finite.sum(axis=(1, 2))
    out = {"field_rmse_mm": rounded(np.sqrt(squares / count)) if count else None}
    if count:
        # sum over epochs of sum (e - m_t)^2 = sum e^2 - n_t m_t^2, m_t the epoch's mean error
        with np.errstate(invalid="ignore", divide="ignore"):
            offsets = np.where(epoch_count > 0, epoch_sum ** 2 / epoch_count, 0.0)
        out["field_pattern_rmse_mm"] = rounded(np.sqrt(max(squares - offsets.sum(), 0.0)
                                                       / count))
        out["field_common_mode_rmse_mm"] = rounded(np.sqrt(min(offsets.sum(), squares)
                                                           / count))
    if truth_velocity is not None and velocity is not None:
        out["velocity_rmse_mm_yr"] = rounded(rmse(np.asarray(velocity) - tv))
    return out


def truth_section(products: dict, truth: xr.Dataset, velocity, store=None,
                  calibrated=None) -> dict:
    """Each product's error against the truth of a simulated case.

    Parameters
    ----------
    products : dict
        ``{method: cube (time, y, x)}``, all on the run's grid and epochs.
    truth : xarray.Dataset
        ``displacement`` (time, y, x), mm, and optionally ``velocity`` (y, x), mm/yr.
    velocity : callable
        ``velocity(method)`` → the product's velocity map (y, x), mm/yr.
    store : path-like, optional
        Where the truth put on the grid is kept while scoring.
    calibrated : dict, optional
        ``{method: insarfusion.calibration.Calibrated}``: the products' std, calibrated and
        raw; adds the share of cells within 1σ and 2σ of the truth
        (:func:`truth_coverage`, displacement and velocity; ``raw_``
        for the raw std, where the method has one).

    Returns
    -------
    dict
        ``{method: truth_scores(...)}``, with the coverage of the methods with a std.
    """
    if not products:
        return {}
    # every product is on the run's grid and epochs: the truth is put on them once
    aligned = truth_on_grid(next(iter(products.values())), truth["displacement"],
                            truth.get("velocity"), store=store)
    out = {name: truth_scores(cube, truth["displacement"], truth.get("velocity"),
                              velocity(name).values, aligned=aligned)
           for name, cube in products.items()}
    for name, cal in (calibrated or {}).items():
        if name not in products:
            continue
        v_err = None if aligned[1] is None else velocity(name).values - aligned[1]
        for prefix, std, v_std in (("", cal.std, cal.velocity_std),
                                   ("raw_", cal.std_raw, cal.velocity_std_raw)):
            if prefix and not cal.own_std:
                continue  # the method has no std of its own (the CNN, mc_samples 0)
            out[name].update(truth_coverage(products[name], std, aligned[0], v_err,
                                            np.asarray(v_std), prefix=prefix))
    return out


def truth_coverage(cube, std, truth, velocity_error=None, velocity_std=None, prefix="") -> dict:
    """Share of cells within 1σ, 2σ (and each of :data:`insarfusion.calibration.CURVE_K`) of the truth.

    Parameters
    ----------
    cube, std : xarray.DataArray, dims (time, y, x)
        A product and its std, mm.
    truth : xarray.DataArray, dims (time, y, x)
        The truth on the product's grid and epochs, mm.
    velocity_error : ndarray, shape (y, x), optional
        Product velocity minus true velocity, mm/yr.
    velocity_std : array_like, shape (y, x), optional
        Its std, mm/yr.
    prefix : str
        Prefix of the keys (``"raw_"`` for the raw std).

    Returns
    -------
    dict
        ``{prefix}displacement_within_1std``, ``..._2std``, ``..._within_k`` (list over
        :data:`insarfusion.calibration.CURVE_K`) and the same for ``velocity``; shares of cells (and epochs).
    """
    from . import cubes

    ks = np.asarray(CURVE_K)
    within, count = np.zeros(ks.size), 0
    std = std.transpose("time", "y", "x")
    truth = truth.transpose("time", "y", "x")
    for rows, values in cubes.blocks(cube.transpose("time", "y", "x")):
        err = np.abs(values - np.asarray(truth.isel(y=rows).values, float))
        s = np.asarray(std.isel(y=rows).values, float)
        ok = np.isfinite(err) & np.isfinite(s)
        # the first epoch is the reference (zero error, zero std): not counted
        ok[0] = False
        within += [(err[ok] <= k * s[ok]).sum() for k in ks]
        count += int(ok.sum())
    out = {}
    if count:
        share = within / count
        out.update({f"{prefix}displacement_within_1std": rounded(share[1]),
                    f"{prefix}displacement_within_2std": rounded(share[3]),
                    f"{prefix}displacement_within_k": [rounded(v) for v in share]})
    if velocity_error is not None and velocity_std is not None:
        ve, vs = np.asarray(velocity_error, float), np.asarray(velocity_std, float)
        out.update({f"{prefix}velocity_within_1std": rounded(coverage(ve, vs, 1)),
                    f"{prefix}velocity_within_2std": rounded(coverage(ve, vs, 2)),
                    f"{prefix}velocity_within_k": [rounded(coverage(ve, vs, k)) for k in ks]})
    return out
