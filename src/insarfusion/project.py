"""Bring every dataset into the line of sight of the primary dataset (paper §4.2.1).

A dataset measured along the LOS unit vector ``e_s`` is turned into the LOS ``e_p`` of the
primary dataset by scaling each point's displacement and velocity with
:func:`insarfusion.conventions.projection_factor`, the primary geometry being taken from the
primary's nearest points (:func:`primary_geometry_at`). Two forms are offered:

``"paper"`` (default)
    Eq. (1) of Khalili et al. (2024), ``V / cos(theta_p - theta_s)``: only the incidence angles
    enter, which is right when both tracks share a heading (the paper's two ascending tracks)
    and stays near 1 when they do not.
``"vector"``
    ``V / (e_s . e_p)`` with the full 3-D unit vectors. It reduces to the paper's form when the
    headings are equal and is exact for motion along the primary LOS whatever the headings,
    taking the LOS vectors as given by EGMS or MintPy without a detour through angles; but
    for opposite passes ``e_s . e_p`` is small and the factor large.

Both are exact only for motion along the primary LOS; for any other motion the residual is the
part of the motion the source LOS cannot see, and no single-geometry projection recovers it.
On a synthetic landslide moving north-east and down over one year (CSK-like inc 30 deg /
heading -10 deg onto S1-like inc 41 deg / heading -12 deg, ``tests/test_project.py``; true
primary-LOS displacement 7.0 mm RMS, up to 33 mm) the RMSE against the truth is 0.425 mm with
``"vector"`` and 0.426 mm with ``"paper"``, against 0.541 mm for the CSK LOS left as it is: for
such close geometries the two forms are equivalent, and most of the remaining error is motion
the CSK LOS does not see. They part when the headings differ. Where
``|e_s . e_p| < 0.5`` the factor exceeds 2 and the projection amplifies noise and unmodelled
motion; this is warned about (count and largest factor), not clipped. On real ascending and
descending EGMS data (Ustica, ``examples/ustica``: e_s . e_p = 0.26) the projected
descending velocities missed the true ascending-LOS velocity (rebuilt from the east-up
decomposition) by 6.34 mm/yr with ``"vector"`` and 1.32 mm/yr with ``"paper"``: ground
motion is rarely along the primary LOS, and the paper's form does not amplify what is not.
That is why ``"paper"`` is the default.

``"calibrated"`` (beyond the paper)
    Starts from the ``"vector"`` factor and, where the two datasets overlap, replaces it by the
    local least-squares ratio between the primary's velocity and the dataset's own
    (:func:`calibrated_factor`): the ratio the actual motion direction gives, which no
    geometry-only factor can know. Where there is no overlap, or too little motion to fit a
    ratio, the ``"vector"`` factor stays. On the simulated Cuenca case (landslides moving
    mostly horizontally) this is what removes most of CSK's projection error; it ties the
    dataset's velocity scale to the primary's, so it needs a primary that is right where they
    overlap.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.spatial import cKDTree

from .conventions import PROJECTION_METHODS, los_unit_vector, projection_factor, wrap_angle
from .errors import InputError
from .log import logger

#: Below this absolute cosine between the two lines of sight the projection is warned about.
MIN_LOS_COSINE = 0.5

#: Projection methods of :func:`project_to_primary`.
METHODS = (*PROJECTION_METHODS, "calibrated")


def _label(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("name") or ds.attrs.get("source") or "dataset")


def _check_geometry(ds: xr.Dataset, role: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-point incidence and heading of ``ds``; InputError where any is missing."""
    incidence = np.asarray(ds["incidence"].values, dtype=float)
    heading = np.asarray(ds["heading"].values, dtype=float)
    missing = ~(np.isfinite(incidence) & np.isfinite(heading))
    if missing.any():
        raise InputError(
            f"{role} dataset {_label(ds)!r} has no incidence/heading for {int(missing.sum())} "
            f"of {missing.size} points; set 'incidence' and 'heading' (degrees) for it in the "
            "config", ds.attrs.get("source") or None)
    return incidence, heading


def primary_geometry_at(primary: xr.Dataset, x, y, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Incidence and heading of the primary dataset at arbitrary locations.

    Each location gets the mean incidence of its ``k`` nearest primary points and the circular
    mean of their headings (so that headings either side of +-180 deg average correctly).

    Parameters
    ----------
    primary : xarray.Dataset
        Point dataset with ``x``, ``y`` (m) and ``incidence``, ``heading`` (degrees).
    x, y : array_like
        Locations in metres, same CRS as ``primary``.
    k : int
        Number of neighbours (capped at the number of primary points).

    Returns
    -------
    incidence, heading : numpy.ndarray
        Degrees, shaped like ``x``; heading wrapped into [-180, 180).

    Raises
    ------
    InputError
        If the primary dataset lacks incidence or heading.
    """
    incidence, heading = _check_geometry(primary, "primary")
    qx = np.asarray(x, dtype=float)
    qy = np.asarray(y, dtype=float)
    tree = cKDTree(np.column_stack([primary["x"].values, primary["y"].values]))
    k = max(1, min(int(k), incidence.size))
    _, idx = tree.query(np.column_stack([qx.ravel(), qy.ravel()]), k=k)
    idx = idx.reshape(-1, k)
    mean_inc = incidence[idx].mean(axis=1)
    alpha = np.deg2rad(heading[idx])
    mean_head = np.rad2deg(np.arctan2(np.sin(alpha).mean(axis=1), np.cos(alpha).mean(axis=1)))
    return mean_inc.reshape(qx.shape), wrap_angle(mean_head).reshape(qx.shape)


def _circular_mean_deg(angles) -> float:
    a = np.deg2rad(np.asarray(angles, dtype=float))
    return float(wrap_angle(np.rad2deg(np.arctan2(np.sin(a).mean(), np.cos(a).mean()))))


def project_to_primary(ds: xr.Dataset, primary: xr.Dataset, method: str = "paper",
                       k: int = 8) -> xr.Dataset:
    """Project a point dataset onto the LOS of the primary dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Point dataset (displacement mm, velocity mm/yr, positive toward its own satellite).
    primary : xarray.Dataset
        The dataset whose LOS everything is brought into. If ``ds`` is the primary (the same
        object or an identical copy) it is returned unchanged.
    method : {"paper", "vector", "calibrated"}
        See the module docstring and :func:`insarfusion.conventions.projection_factor`.
    k : int
        Neighbours used to take the primary geometry at each point.

    Returns
    -------
    xarray.Dataset
        A copy with ``displacement`` and ``velocity`` multiplied by the per-point factor
        (variable ``projection_factor``), ``incidence``/``heading`` replaced by the primary's
        at each point, the original geometry kept as ``source_incidence``/``source_heading`` and
        attrs ``projection_method``, ``projected_onto``, ``source_incidence_mean``,
        ``source_heading_mean``.

    Raises
    ------
    InputError
        If either dataset lacks incidence/heading.
    """
    if method not in METHODS:
        raise InputError(f"unknown projection method {method!r}; expected one of "
                         f"{', '.join(METHODS)}")
    if ds is primary or ds.identical(primary):
        return ds
    src_inc, src_head = _check_geometry(ds, "secondary")
    prim_inc, prim_head = primary_geometry_at(primary, ds["x"].values, ds["y"].values, k=k)
    geometric = "vector" if method == "calibrated" else method
    factor = projection_factor(src_inc, src_head, prim_inc, prim_head, method=geometric)
    if method == "calibrated":
        factor = calibrated_factor(ds, primary, factor)

    es = los_unit_vector(src_inc, src_head)
    ep = los_unit_vector(prim_inc, prim_head)
    cosine = es[0] * ep[0] + es[1] * ep[1] + es[2] * ep[2]
    weak = np.abs(cosine) < MIN_LOS_COSINE
    if weak.any():
        logger.warning(
            "%s: the LOS is nearly perpendicular to the primary's (|e1.e2| < %.1f) at %d of %d "
            "points; projecting there amplifies noise and motion off the primary LOS "
            "(largest factor %.2f with method %r)", _label(ds), MIN_LOS_COSINE, int(weak.sum()),
            weak.size, float(np.abs(factor[weak]).max()), method)
    if method == "paper":
        head_diff = np.abs(wrap_angle(prim_head - src_head))
        if (head_diff > 10).any():
            logger.warning("%s: headings differ from the primary's by up to %.0f deg at %d points; "
                           "the paper's projection ignores heading, consider method 'vector'",
                           _label(ds), float(head_diff.max()), int((head_diff > 10).sum()))

    out = ds.copy()
    out["displacement"] = ds["displacement"] * xr.DataArray(factor, dims="point")
    out["displacement"].attrs = dict(ds["displacement"].attrs)
    out["velocity"] = ds["velocity"] * xr.DataArray(factor, dims="point")
    out["velocity"].attrs = dict(ds["velocity"].attrs)
    out["projection_factor"] = ("point", factor,
                                {"long_name": "factor from the source LOS to the primary LOS"})
    out = out.assign_coords(
        incidence=("point", prim_inc, dict(ds["incidence"].attrs)),
        heading=("point", prim_head, dict(ds["heading"].attrs)),
        source_incidence=("point", src_inc, dict(ds["incidence"].attrs)),
        source_heading=("point", src_head, dict(ds["heading"].attrs)),
    )
    out.attrs.update({
        "projection_method": method,
        "projected_onto": _label(primary),
        "source_incidence_mean": float(src_inc.mean()),
        "source_heading_mean": _circular_mean_deg(src_head),
    })
    logger.info("%s: projected %d points onto the LOS of %s (method %s, factor %.3f..%.3f)",
                _label(ds), factor.size, _label(primary), method, float(factor.min()),
                float(factor.max()))
    return out


def calibrated_factor(ds: xr.Dataset, primary: xr.Dataset, geometric_factor,
                      match_radius_m: float | None = None, window_m: float = 300.0,
                      min_points: int = 10, min_rate_mm_yr: float = 2.0):
    """Per-point factor from the dataset's LOS to the primary's, fitted where they overlap.

    Both velocities are least-squares rates over the span the two datasets share (mm/yr). The
    primary's rate at each point is the mean of its points within ``match_radius_m`` (default
    1.5 times the primary's median point spacing). Around
    every point, over the points within ``window_m`` that have such a match, the factor is the
    least-squares ratio ``sum(v * v_primary) / sum(v ** 2)``. It is used where at least
    ``min_points`` matches exist, their RMS rate reaches ``min_rate_mm_yr`` (no ratio can be
    fitted on stable ground) and it lies within a factor 4 of the geometric one; elsewhere the
    geometric factor stays. The count of each is logged.

    Parameters
    ----------
    ds, primary : xarray.Dataset
        Point datasets (x, y in the same CRS).
    geometric_factor : array_like, shape (n_point,)
        The geometry-only factor (``"vector"``) of each point of ``ds``.

    Returns
    -------
    ndarray, shape (n_point,)
    """
    from scipy import sparse

    from .series import linear_rate

    geometric_factor = np.asarray(geometric_factor, dtype=float)
    start = max(ds["time"].values[0], primary["time"].values[0])
    end = min(ds["time"].values[-1], primary["time"].values[-1])
    own = ds["displacement"].sel(time=slice(start, end))
    prim = primary["displacement"].sel(time=slice(start, end))
    if own.sizes["time"] < 3 or prim.sizes["time"] < 3:
        logger.warning("%s: too little time overlap with %s to calibrate the projection; "
                       "using the geometric factor", _label(ds), _label(primary))
        return geometric_factor
    v = linear_rate(own["time"].values, own.values)
    v_prim_points = linear_rate(prim["time"].values, prim.values)

    xy = np.column_stack([ds["x"].values, ds["y"].values])
    prim_xy = np.column_stack([primary["x"].values, primary["y"].values])
    prim_tree = cKDTree(prim_xy)
    if match_radius_m is None:
        spacing = np.median(prim_tree.query(prim_xy, k=2)[0][:, 1])
        match_radius_m = 1.5 * float(spacing)
    near = cKDTree(xy).sparse_distance_matrix(prim_tree, match_radius_m, output_type="coo_matrix")
    ok_prim = np.isfinite(v_prim_points)
    match = sparse.csr_matrix((np.ones(near.nnz), (near.row, near.col)), shape=near.shape)
    match = match @ sparse.diags(ok_prim.astype(float))
    n_match = np.asarray(match.sum(axis=1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        v_prim = (match @ np.where(ok_prim, v_prim_points, 0.0)) / n_match
    paired = (n_match > 0) & np.isfinite(v) & np.isfinite(v_prim)

    window = cKDTree(xy).sparse_distance_matrix(cKDTree(xy), window_m, output_type="coo_matrix")
    window = sparse.csr_matrix((np.ones(window.nnz), (window.row, window.col)),
                               shape=window.shape)
    vs = np.where(paired, v, 0.0)
    vp = np.where(paired, v_prim, 0.0)
    count = window @ paired.astype(float)
    cross = window @ (vs * vp)
    power = window @ (vs * vs)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = cross / power
        rms = np.sqrt(power / count)
    usable = ((count >= min_points) & (rms >= min_rate_mm_yr) & np.isfinite(ratio)
              & (ratio > geometric_factor / 4) & (ratio < geometric_factor * 4))
    logger.info("%s: projection calibrated against %s at %d of %d points (factor %.2f..%.2f); "
                "geometric factor kept at the others", _label(ds), _label(primary),
                int(usable.sum()), usable.size,
                float(ratio[usable].min()) if usable.any() else np.nan,
                float(ratio[usable].max()) if usable.any() else np.nan)
    return np.where(usable, ratio, geometric_factor)
