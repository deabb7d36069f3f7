"""Reference the datasets without GNSS: the primary's own reference, a stable area, or the overlap.

Without reference stations the datasets cannot be put in the GNSS datum; they are put in one
common datum. Three choices (:data:`NO_GNSS_REFERENCES`, config ``datum.no_gnss_reference``):

``"primary"`` (default)
    The primary dataset keeps its own reference, the one its processor chose (usually a stable
    point picked by whoever processed the stack). Every other dataset is tied to the primary
    over their whole overlap (:func:`overlap_offset`): both are binned in cells of
    ``cell_m`` metres; per cell and epoch the median of each dataset's points is taken; the
    per-epoch offset is the **median over the cells both hold** of their differences, so that
    a landslide both see cancels and cells where they disagree (a moving structure one of them
    sees, a projection error) do not pull it. The raw offset series is then smoothed in time
    with one of the GNSS offset models (:func:`~insarfusion.datum.fit_offset_model`) and
    pinned to zero at the first epoch.
``"stable_area"``
    A reference area inside the data, chosen for being stable (:func:`stable_area`): among
    the blocks of ``block_m`` metres holding at least ``min_points`` points of every dataset,
    the one whose points move least relative to the primary's own reference, scatter least
    in velocity and have the least residual noise. Every dataset is referred to the mean
    series of its points there (:func:`~insarfusion.datum.reference_to_area`): the datum of
    the primary's reference, carried by many points of every dataset instead of one.
``"best_overlap"``
    The block of :data:`~insarfusion.datum.OVERLAP_BLOCK_M` metres holding the most points of
    the sparsest dataset (:func:`~insarfusion.datum.common_reference_area`), whether or not it
    moves.

A configured ``reference_point`` overrides the three (the user's area is used as given).

Is the reference moving?
------------------------
Nothing here knows the absolute motion; what can be measured is the motion of one reference
relative to another. Velocities (least-squares rates, mm/yr) are therefore measured in one
frame, the primary's own reference with every other dataset tied to it, and
:func:`reference_motion` compares:

* for an area (``stable_area``, ``best_overlap``, ``reference_point``): the area's velocity
  in that frame, i.e. its motion relative to the primary's own reference;
* for ``primary``: the velocity of the most stable block of the data (:func:`stable_area`),
  i.e. the motion of the primary's reference relative to the stillest place the data show.

A warning is logged when ``|velocity| > max(moving_threshold × spread,``
:data:`MOVING_FLOOR_MM_YR` ``)``, ``spread`` being the robust spread (1.4826 × median
absolute deviation) of the primary's point velocities: one of the two references moves (or
the whole area does), and the products carry that motion at every cell. A field's median is
not used as "stable ground": on landslide sites most points move (70 % of the simulated
case's cells, most of Maoxian's points).

Every choice returns its statistics (:func:`reference_without_gnss`): the area (centre in
metres and lon/lat, radius), per dataset the points used, the velocity of the area in the
primary's frame (mm/yr) and the residual RMS of its points about a linear trend (mm); the
tie of each dataset to the primary (its rate in mm/yr, the cells compared, the RMS of the
co-located differences before and after the tie). Series are mm, positive toward the
satellite; positions metres in the working CRS.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from ..crs import lonlat_to_xy, xy_to_lonlat
from ..errors import StageError
from ..log import logger
from ..metrics import rounded
from ..series import linear_rate
from .area_tie import OVERLAP_BLOCK_M, common_reference_area, reference_to_area
from .offsets import _check_model, _pinned
from .tie import apply_offset

#: The choices of ``datum.no_gnss_reference`` (see the module docstring).
NO_GNSS_REFERENCES = ("primary", "stable_area", "best_overlap")

#: Side of the cells in which co-located points of two datasets are compared, metres.
OVERLAP_CELL_M = 50.0

#: Fewest common cells the primary tie accepts before it coarsens the cells.
MIN_OVERLAP_CELLS = 5

#: Points of every dataset a stable reference area needs by default.
STABLE_MIN_POINTS = 5

#: Default of ``datum.moving_threshold``: warn beyond this many velocity spreads.
MOVING_THRESHOLD = 0.5

#: Smallest velocity (mm/yr) ever called a moving reference.
MOVING_FLOOR_MM_YR = 1.0


# --------------------------------------------------------------------------- statistics

def point_velocity_noise(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Each point's velocity (mm/yr) and residual RMS about its linear trend (mm).

    Parameters
    ----------
    ds : xarray.Dataset
        Point dataset with ``displacement`` (point, time), mm, and a ``time`` coordinate.

    Returns
    -------
    velocity : numpy.ndarray, shape (point,)
        Least-squares LOS rate, mm/yr, positive toward the satellite.
    residual_rms : numpy.ndarray, shape (point,)
        RMS of the series minus its least-squares line, mm (NaN with fewer than 3 epochs).
    """
    values = ds["displacement"].transpose("point", "time").values.astype(float)
    time = ds["time"].values
    velocity = linear_rate(time, values)
    t = (time - time[0]) / np.timedelta64(1, "D") / 365.25
    finite = np.isfinite(values)
    n = finite.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_v = np.where(finite, values, 0.0).sum(1) / n
        mean_t = np.where(finite, t, 0.0).sum(1) / n
        fit = mean_v[:, None] + velocity[:, None] * (t[None, :] - mean_t[:, None])
        residual = np.where(finite, values - fit, 0.0)
        rms = np.where(n > 2, np.sqrt((residual ** 2).sum(1) / np.maximum(n - 2, 1)), np.nan)
    return velocity, rms


def _spread(velocity: np.ndarray) -> float:
    """Robust standard deviation of velocities: 1.4826 × median absolute deviation, mm/yr."""
    v = velocity[np.isfinite(velocity)]
    if v.size == 0:
        return float("nan")
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def area_statistics(datasets: dict, x0: float, y0: float, radius: float) -> dict:
    """Per dataset: points in a reference area, its velocity and residual noise.

    Parameters
    ----------
    datasets : dict
        Name -> point dataset (``x``, ``y`` in m; ``displacement`` in mm), all in one frame
        (e.g. tied to the primary, :func:`tie_to_primary`).
    x0, y0, radius : float
        Centre and radius of the area, metres.

    Returns
    -------
    dict
        ``{name: {"n_points", "velocity_mm_yr", "residual_rms_mm"}}``: the points within
        ``radius``; their mean velocity in the datasets' frame (mm/yr, positive toward the
        satellite), which is the velocity of their mean series, the one a reference area
        subtracts; their median residual RMS about a linear trend (mm). Velocity and noise
        are None where the area holds no point of the dataset.
    """
    out = {}
    for name, ds in datasets.items():
        velocity, rms = point_velocity_noise(ds)
        inside = np.hypot(ds["x"].values - x0, ds["y"].values - y0) <= radius
        inside &= np.isfinite(velocity)
        if not inside.any():
            out[name] = {"n_points": 0, "velocity_mm_yr": None, "residual_rms_mm": None}
            continue
        out[name] = {"n_points": int(inside.sum()),
                     "velocity_mm_yr": rounded(np.mean(velocity[inside])),
                     "residual_rms_mm": rounded(np.nanmedian(rms[inside]))}
    return out


def reference_motion(frame: dict, primary: str, x0: float, y0: float, radius: float,
                     threshold: float = MOVING_THRESHOLD, what: str = "the reference area",
                     against: str = "the primary's own reference") -> dict:
    """Velocity of an area in the primary's frame, against the field's spread; warned.

    Parameters
    ----------
    frame : dict
        Name -> point dataset, every one in the primary's frame (:func:`tie_to_primary`).
    primary : str
        The primary dataset (its velocity spread sets the threshold).
    x0, y0, radius : float
        The area, metres.
    threshold : float
        Warn when the area's velocity (of the dataset with the largest one there) exceeds
        ``threshold`` spreads of the primary's point velocities and
        :data:`MOVING_FLOOR_MM_YR`.
    what, against : str
        The two references, as the warning names them.

    Returns
    -------
    dict
        ``{"x", "y", "radius_m", "velocity_mm_yr", "spread_mm_yr", "limit_mm_yr",
        "moving", "threshold"}``: the area, its velocity (mm/yr) and the spread and limit it
        was held to.
    """
    stats = area_statistics(frame, x0, y0, radius)
    velocities = [s["velocity_mm_yr"] for s in stats.values() if s["velocity_mm_yr"] is not None]
    velocity = float(max(velocities, key=abs)) if velocities else float("nan")
    spread = _spread(point_velocity_noise(frame[primary])[0])
    limit = max(threshold * spread if np.isfinite(spread) else 0.0, MOVING_FLOOR_MM_YR)
    moving = bool(np.isfinite(velocity) and abs(velocity) > limit)
    if moving:
        logger.warning("MOVING REFERENCE: %s moves %+.2f mm/yr relative to %s, more than "
                       "%.2f mm/yr (%g spreads of the primary's velocities, datum."
                       "moving_threshold): one of them moves, or the whole area does, and every "
                       "product carries that motion. Check it, choose another reference "
                       "(datum.no_gnss_reference, reference_point) or add GNSS", what,
                       velocity, against, limit, threshold)
    return {"x": rounded(x0, 1), "y": rounded(y0, 1), "radius_m": rounded(radius, 1),
            "velocity_mm_yr": rounded(velocity), "spread_mm_yr": rounded(spread),
            "limit_mm_yr": rounded(limit), "moving": moving, "threshold": float(threshold)}


# --------------------------------------------------------------------------- primary tie

def _cell_medians(ds: xr.Dataset, cell_m: float) -> pd.DataFrame:
    """Median series of a dataset's points per square cell (rows: cell key; columns: epochs)."""
    x, y = ds["x"].values, ds["y"].values
    key = (np.floor(x / cell_m).astype(np.int64) * 10**7
           + np.floor(y / cell_m).astype(np.int64))
    values = ds["displacement"].transpose("point", "time").values
    return pd.DataFrame(values).groupby(key).median()


def overlap_offset(primary: xr.Dataset, other: xr.Dataset, cell_m: float = OVERLAP_CELL_M,
                   model: str = "linear") -> tuple[xr.DataArray, dict]:
    """Offset series of a dataset against the primary over their whole overlap.

    Both datasets are binned in square cells of ``cell_m``; per cell and epoch each dataset's
    median is taken, and the raw offset per epoch is the median over the cells both hold of
    ``other - primary``. With fewer than :data:`MIN_OVERLAP_CELLS` common cells the cells are
    doubled, up to 8 × ``cell_m`` (logged). The raw offset is fitted with ``model``
    (:func:`~insarfusion.datum.fit_offset_model`) and pinned to zero at the first epoch.

    Parameters
    ----------
    primary, other : xarray.Dataset
        Point datasets on the same epochs: ``x``, ``y`` (m) and ``displacement``
        (point, time), mm, positive toward the satellite.
    cell_m : float
        Side of the cells, metres.
    model : {"constant", "linear", "lowpass", "raw"}
        Offset model.

    Returns
    -------
    offset : xarray.DataArray, dims (time,)
        What to subtract from ``other`` (mm), zero at the first epoch.
    info : dict
        ``n_cells`` compared, ``cell_m`` used, ``offset_rate_mm_yr`` (rate of the fitted
        offset), ``rms_before_mm`` and ``rms_after_mm`` (RMS over the common cells and epochs
        of the differences before and after the tie), ``model``.

    Raises
    ------
    StageError
        The datasets share fewer than :data:`MIN_OVERLAP_CELLS` cells even at 8 × ``cell_m``,
        or their epochs differ.
    """
    _check_model(model)
    if not np.array_equal(primary["time"].values, other["time"].values):
        raise StageError("the datasets must be on the same epochs to be tied to each other")
    size = float(cell_m)
    for _ in range(4):
        a, b = _cell_medians(primary, size), _cell_medians(other, size)
        common = a.index.intersection(b.index)
        if common.size >= MIN_OVERLAP_CELLS or size >= 8 * cell_m:
            break
        size *= 2
    if common.size < MIN_OVERLAP_CELLS:
        raise StageError(f"{other.attrs.get('name', 'a dataset')} and the primary share "
                         f"{common.size} cell(s) of {size:g} m, fewer than {MIN_OVERLAP_CELLS}: "
                         "too little overlap to tie them; set datum.no_gnss_reference: "
                         "best_overlap or a reference_point")
    if size != cell_m:
        logger.info("primary tie: cells coarsened to %g m to find %d common cells", size,
                    common.size)
    diff = b.loc[common].to_numpy(float) - a.loc[common].to_numpy(float)
    epochs = primary["time"].values
    with warnings.catch_warnings():  # an epoch no common cell has stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        raw = np.nanmedian(diff, axis=0)
    offset, _ = _pinned(epochs, raw, model)
    after = diff - offset
    info = {"n_cells": int(common.size), "cell_m": float(size), "model": model,
            "offset_rate_mm_yr": rounded(float(linear_rate(epochs, offset))),
            "rms_before_mm": rounded(_rms(diff)), "rms_after_mm": rounded(_rms(after))}
    da = xr.DataArray(offset, dims="time", coords={"time": epochs},
                      attrs={"units": "mm", **{k: v for k, v in info.items() if v is not None}})
    return da, info


def _rms(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    return float(np.sqrt(np.mean(v ** 2))) if v.size else float("nan")


def tie_to_primary(datasets: dict, primary: str, cell_m: float = OVERLAP_CELL_M,
                   model: str = "linear") -> tuple[dict, dict]:
    """Keep the primary's reference and tie every other dataset to it (:func:`overlap_offset`).

    Parameters
    ----------
    datasets : dict
        Name -> point dataset, all on the same epochs.
    primary : str
        The primary dataset's name.
    cell_m, model
        As in :func:`overlap_offset`.

    Returns
    -------
    datasets : dict
        The primary unchanged; every other dataset minus its offset, with the offset as
        variable ``datum_offset`` (time, mm).
    ties : dict
        ``{name: info}`` of :func:`overlap_offset` for every other dataset.
    """
    out, ties = {}, {}
    for name, ds in datasets.items():
        if name == primary:
            out[name] = ds.copy()
            continue
        offset, info = overlap_offset(datasets[primary], ds, cell_m, model)
        out[name] = apply_offset(ds, offset)
        out[name]["datum_offset"] = offset
        ties[name] = info
        logger.info("no GNSS: %s tied to %s over %d common cells of %g m (offset model %s, "
                    "rate %+.2f mm/yr); co-located differences %.2f -> %.2f mm RMS", name,
                    primary, info["n_cells"], info["cell_m"], model,
                    info["offset_rate_mm_yr"] or 0.0, info["rms_before_mm"] or np.nan,
                    info["rms_after_mm"] or np.nan)
    return out, ties


# --------------------------------------------------------------------------- stable area

def _block_table(ds: xr.Dataset, block_m: float) -> pd.DataFrame:
    """Per block of ``block_m``: points, mean velocity, velocity scatter, median noise.

    Only the points within the block's inscribed circle count: that circle is the reference
    area the block stands for.
    """
    velocity, rms = point_velocity_noise(ds)
    x, y = ds["x"].values, ds["y"].values
    bx, by = np.floor(x / block_m), np.floor(y / block_m)
    inside = np.hypot(x - (bx + 0.5) * block_m, y - (by + 0.5) * block_m) <= block_m / 2
    ok = np.isfinite(velocity) & inside
    key = bx[ok].astype(np.int64) * 10**7 + by[ok].astype(np.int64)
    frame = pd.DataFrame({"v": velocity[ok], "rms": rms[ok]})
    grouped = frame.groupby(key)
    return pd.DataFrame({"n": grouped.size(), "v": grouped["v"].mean(),
                         "scatter": grouped["v"].apply(_spread), "rms": grouped["rms"].median()})


def stable_area(frame: dict, block_m: float = OVERLAP_BLOCK_M,
                min_points: int = STABLE_MIN_POINTS) -> tuple[float, float, float, dict]:
    """The most stable block holding enough points of every dataset.

    Every dataset's points are binned in blocks of ``block_m``, each standing for the circle
    inscribed in it (the reference area; only the points inside count). A block is a
    candidate when that circle holds at least ``min_points`` points of every dataset (else, with no such block, the
    blocks holding the most points of the sparsest dataset; warned). Its cost is the sum over
    the datasets of ``(|v_block| + s_block) / s_field + r_block / r_field``: ``v_block`` the
    mean velocity of its points in the common frame (relative to the primary's own
    reference), ``s_block`` their robust velocity spread (1.4826 × MAD; a block across a
    landslide's edge scatters), ``s_field`` the spread of all the dataset's points,
    ``r_block`` the median residual RMS of its points about a linear trend and ``r_field``
    the median over the dataset (noisy points make a noisy reference). The block of least
    cost is chosen; ties go to more points.

    Parameters
    ----------
    frame : dict
        Name -> point dataset (``x``, ``y`` in m; ``displacement`` in mm), all in one frame
        (:func:`tie_to_primary`).
    block_m : float
        Side of the blocks, metres.
    min_points : int
        Points of every dataset a candidate holds.

    Returns
    -------
    x0, y0 : float
        Centre of the chosen block, metres.
    radius : float
        ``block_m / 2``, the radius of the reference area.
    info : dict
        ``n_candidates``, ``cost`` of the chosen block and ``min_points`` (the number the
        candidates were held to).

    Raises
    ------
    StageError
        No block holds a point of every dataset.
    """
    tables = [_block_table(ds, block_m) for ds in frame.values()]
    common = tables[0].index
    for t in tables[1:]:
        common = common.intersection(t.index)
    if common.size == 0:
        raise StageError(f"no block of {block_m:g} m holds points of every dataset: no stable "
                         "reference area; set datum.no_gnss_reference: primary or a "
                         "reference_point")
    least = np.min([t.loc[common, "n"].to_numpy() for t in tables], axis=0)
    need = min(int(min_points), int(least.max()))
    if need < min_points:
        logger.warning("no block of %g m holds %d points of every dataset; the stable area is "
                       "chosen among blocks with %d", block_m, min_points, need)
    candidates = common[least >= need]
    cost = np.zeros(candidates.size)
    for ds, t in zip(frame.values(), tables, strict=True):
        velocity, rms = point_velocity_noise(ds)
        s_field = max(_spread(velocity), 1e-6)
        r_field = max(float(np.nanmedian(rms)), 1e-6)
        rows = t.loc[candidates]
        cost += ((rows["v"].abs() + rows["scatter"].fillna(0.0)) / s_field
                 + rows["rms"].fillna(r_field) / r_field).to_numpy()
    points = np.sum([t.loc[candidates, "n"].to_numpy() for t in tables], axis=0)
    best = np.lexsort((-points, cost))[0]
    bx, by = divmod(int(candidates[best]), 10**7)
    info = {"n_candidates": int(candidates.size), "cost": rounded(float(cost[best])),
            "min_points": need}
    return (bx + 0.5) * block_m, (by + 0.5) * block_m, block_m / 2, info


# --------------------------------------------------------------------------- the choice

def _lonlat(x0, y0, crs) -> tuple:
    if not crs:
        return None, None
    lon, lat = xy_to_lonlat([x0], [y0], crs)
    return rounded(float(lon[0]), 6), rounded(float(lat[0]), 6)


def _area_entry(frame: dict, x0, y0, radius, crs) -> dict:
    lon, lat = _lonlat(x0, y0, crs)
    return {"x": rounded(x0, 1), "y": rounded(y0, 1), "lon": lon, "lat": lat,
            "radius_m": rounded(radius, 1), "datasets": area_statistics(frame, x0, y0, radius)}


def _primary_reference(ds: xr.Dataset, crs) -> dict:
    """Where the primary's own reference is, when its file said (StaMPS exports do)."""
    lon, lat = ds.attrs.get("reference_lon"), ds.attrs.get("reference_lat")
    if lon is None or lat is None:
        return {}
    out = {"lon": rounded(float(lon), 6), "lat": rounded(float(lat), 6)}
    if crs:
        x, y = lonlat_to_xy([float(lon)], [float(lat)], crs)
        out.update(x=rounded(float(x[0]), 1), y=rounded(float(y[0]), 1))
    return out


def _log_area(kind: str, area: dict) -> None:
    per = "; ".join(f"{n} {s['n_points']} points, velocity {_fmt(s['velocity_mm_yr'])} mm/yr, "
                    f"residual {_fmt(s['residual_rms_mm'])} mm"
                    for n, s in area["datasets"].items())
    logger.info("no GNSS: datasets referenced to the %s at x=%.0f y=%.0f (lon %s, lat %s), "
                "radius %.0f m; in the primary's frame: %s", kind, area["x"], area["y"],
                area["lon"], area["lat"], area["radius_m"], per)


def _primary_check(frame: dict, primary: str, block_m: float, min_points: int,
                   threshold: float, label: str) -> dict | None:
    """The most stable block's motion relative to the primary's reference (None: no block)."""
    try:
        x0, y0, radius, _ = stable_area(frame, block_m, min_points)
    except StageError as exc:
        logger.info("no GNSS: the primary's reference not checked for motion (%s)", exc)
        return None
    return reference_motion(frame, primary, x0, y0, radius, threshold,
                            what=label, against="the most stable block of the data")


def reference_without_gnss(datasets: dict, primary: str, mode: str = "primary",
                           reference_point=None, crs=None, model: str = "lowpass",
                           cell_m: float = OVERLAP_CELL_M, block_m: float = OVERLAP_BLOCK_M,
                           min_points: int = STABLE_MIN_POINTS,
                           moving_threshold: float = MOVING_THRESHOLD) -> tuple[dict, dict]:
    """Put every dataset in one datum without GNSS, as ``mode`` says; log and report it.

    Every dataset is first tied to the primary (:func:`tie_to_primary`): that is the result
    under ``"primary"``, and the frame in which areas are chosen and their motion measured
    under the other modes (where a dataset too far from the primary to be tied keeps its
    own frame, logged).

    Parameters
    ----------
    datasets : dict
        Name -> point dataset (``x``, ``y`` in m; ``displacement`` (point, time), mm), all on
        the same epochs.
    primary : str
        The primary dataset.
    mode : {"primary", "stable_area", "best_overlap"}
        See the module docstring; a ``reference_point`` overrides it.
    reference_point : object, optional
        With ``lon``, ``lat`` (degrees) and ``radius_m`` (m): the user's reference area.
    crs : str, optional
        The working CRS (for the lon/lat of the area).
    model : str
        Offset model of the primary tie.
    cell_m, block_m, min_points, moving_threshold
        As in :func:`overlap_offset`, :func:`stable_area` and :func:`reference_motion`.

    Returns
    -------
    datasets : dict
        The referenced datasets, each with attr ``datum`` saying how (and ``datum_lon``,
        ``datum_lat``, degrees, where the reference is known).
    report : dict
        ``mode``, ``primary``, ``ties`` (the primary tie of each other dataset); by mode
        ``area`` (centre ``x``, ``y`` in m, ``lon``, ``lat``, ``radius_m`` and per-dataset
        :func:`area_statistics` in the primary's frame), ``stable_area`` (the search) or
        ``primary_reference`` (the primary's own reference point when its file gives one);
        and ``motion`` (:func:`reference_motion`; None when it could not be measured).
    """
    if mode not in NO_GNSS_REFERENCES:
        raise StageError(f"unknown datum.no_gnss_reference {mode!r}; expected one of "
                         f"{', '.join(NO_GNSS_REFERENCES)}")
    chosen = "reference_point" if reference_point is not None else mode
    report: dict = {"mode": chosen, "primary": primary}
    try:
        frame, report["ties"] = tie_to_primary(datasets, primary, cell_m, model)
    except StageError:
        if chosen == "primary":
            raise
        logger.info("no GNSS: the datasets could not be tied to %s; the area is chosen and "
                    "checked in each dataset's own frame", primary)
        frame, report["ties"] = datasets, {}
    if chosen == "primary":
        out = frame
        place = _primary_reference(datasets[primary], crs)
        report["primary_reference"] = place
        where = f" (lon {place['lon']:.5f}, lat {place['lat']:.5f})" if place else ""
        for ds in out.values():
            ds.attrs["datum"] = f"primary dataset {primary}'s own reference{where}"
            if place:
                ds.attrs.update(datum_lon=place["lon"], datum_lat=place["lat"])
        label = f"the reference of {primary}{where}"
        logger.info("no GNSS: products relative to %s", label)
        report["motion"] = _primary_check(frame, primary, block_m, min_points,
                                          moving_threshold, label)
        return out, report
    if chosen == "stable_area":
        x0, y0, radius, report["stable_area"] = stable_area(frame, block_m, min_points)
    else:
        x0, y0, radius = common_reference_area(datasets, reference_point, crs)
    out = reference_to_area(datasets, x0, y0, radius)
    report["area"] = _area_entry(frame, x0, y0, radius, crs)
    kind = {"stable_area": "stable area", "best_overlap": "block of best overlap",
            "reference_point": "configured reference area"}[chosen]
    _log_area(kind, report["area"])
    if report["area"]["lon"] is not None:
        for ds in out.values():
            ds.attrs.update(datum_lon=report["area"]["lon"], datum_lat=report["area"]["lat"])
    report["motion"] = reference_motion(frame, primary, x0, y0, radius, moving_threshold,
                                        what=f"the {kind}")
    return out, report


def _fmt(value) -> str:
    """A number for the log, two decimals; a dash for None."""
    return "-" if value is None else f"{value:.2f}"
