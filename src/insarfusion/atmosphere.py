"""Atmospheric phase screen (APS) filtering of one point dataset at a time.

Each InSAR dataset carries, on every date, the atmospheric delay of that acquisition (and of
its reference point and first date, which every series is relative to). That delay is smooth
in space over hundreds of metres to kilometres and nearly white in time, whereas ground motion
is smooth in time. The spatio-temporal filter of StaMPS, LiCSBAS (step 16) and SqueeSAR uses
exactly this contrast:

1. **temporal high-pass** — per point, the residual from a smooth temporal model
   (:func:`temporal_residuals`, :data:`TEMPORAL_MODELS`):

   * ``"trend_gaussian"`` (default): a least-squares polynomial of degree ``degree`` plus an
     annual term, and on top a leave-one-out Gaussian moving mean (standard deviation
     ``window_days``) of what the polynomial leaves, which follows an acceleration or any
     motion slower than the window;
   * ``"gaussian"``: a Gaussian-weighted local linear fit (standard deviation
     ``window_days``, leave-one-out; a steady velocity leaves no residual, even at the ends);
   * ``"polynomial"``: the polynomial plus annual term alone.

   Leave-one-out: an epoch's own value is not part of its smooth value, so that its
   atmosphere is not shrunk by the kernel's weight on itself.
2. **robust spatial low-pass** — per epoch, the residuals smoothed in space
   (:func:`robust_lowpass`): a Gaussian of standard deviation ``scale_m`` (metres) applied by
   normalised convolution on a binned grid (``scipy.ndimage``) and sampled back at the points,
   iterated with Tukey biweights, so that points whose residual departs from their
   neighbourhood's (an accelerating landslide, an unwrapping error, a noisy scatterer) stop
   contributing; optionally a robust per-epoch plane (orbital ramp) first.

The low-passed residual is the APS estimate. It is made relative to the first epoch (zero
there, as every displacement series is) and subtracted. Options (:data:`METHODS`):

* ``"none"`` — nothing is removed;
* ``"common_mode"`` — the per-epoch spatial median of the residuals, the same for every point
  of the dataset (for small areas);
* ``"spatiotemporal"`` — the full filter.

What no filter can do: the temporally smooth part of the atmosphere (what the temporal model
takes for motion) stays, and so does any per-epoch constant common to the whole dataset that is
smooth in time; the GNSS datum removes the latter.

Everything is vectorised over points and epochs (matrix products in time, sparse binning and
``scipy.ndimage.gaussian_filter`` on a (y, x, time) grid in space); points and epochs are only
processed in blocks to bound memory. At 185k points × 113 epochs the filter takes seconds (see
``benchmarks/bench_atmosphere.py``).

Units: mm, metres, days. LOS positive toward the satellite; the filtered displacement is
``displacement - aps``.

Defaults (chosen on the simulator's truth, ``benchmarks/bench_atmosphere.py``, seeds 0 and 5,
scales 1 and 10): ``spatiotemporal`` with the ``trend_gaussian`` model, degree 2 + annual,
``window_days`` 90, ``scale_m`` 100, one robust reweighting, no ramp. On those cases they cut
the datum-free APS error of the series by about 46 % (2.5 → 1.4 mm RMS at scale 1, 3.5 → 1.9 mm
at scale 10), as much on the fast landslide points, without changing any velocity by more than
0.03 mm/yr.

Public API: :class:`APSFilter`, :func:`remove_atmosphere`, :func:`aps_dataset`,
:func:`temporal_residuals`, :func:`robust_lowpass`, :data:`METHODS`, :data:`TEMPORAL_MODELS`
and the defaults :data:`DEFAULT_METHOD`, :data:`DEFAULT_TEMPORAL`, :data:`DEFAULT_WINDOW_DAYS`,
:data:`DEFAULT_DEGREE`, :data:`DEFAULT_SCALE_M`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import xarray as xr
from scipy import ndimage

from .conventions import DAYS_PER_YEAR, as_days
from .errors import InputError
from .estimators import BaseEstimator, check_coordinates
from .log import logger

#: Names of the APS options.
METHODS = ("none", "common_mode", "spatiotemporal")
#: Names of the smooth temporal models whose residual is filtered in space.
TEMPORAL_MODELS = ("gaussian", "polynomial", "trend_gaussian")

#: Default option: the full filter (see ``benchmarks/README.md`` for the measurements).
DEFAULT_METHOD = "spatiotemporal"
#: Default smooth temporal model (see :func:`temporal_residuals`).
DEFAULT_TEMPORAL = "trend_gaussian"
#: Default standard deviation of the temporal Gaussian, days.
DEFAULT_WINDOW_DAYS = 90.0
#: Default degree of the polynomial trend.
DEFAULT_DEGREE = 2
#: Default standard deviation of the spatial Gaussian, metres.
DEFAULT_SCALE_M = 100.0

#: Tukey biweight tuning constant (95 % efficiency under Gaussian errors).
_TUKEY_C = 4.685
#: Scale of a median absolute deviation that makes it a standard deviation for Gaussian errors.
_MAD_TO_STD = 1.4826
#: Rows (points) per block of the temporal step, to bound memory.
_BLOCK_ROWS = 32768
#: Most grid values (cells × epochs) held at once by the spatial step.
_GRID_VALUES = 24_000_000
#: Most cells of the spatial grid; beyond, the cell grows (logged).
_MAX_CELLS = 4_000_000


# ------------------------------------------------------------------------------------------
# temporal high-pass


def _check_days(time, n_time) -> np.ndarray:
    days = as_days(np.atleast_1d(time)).astype("int64").astype(float)
    if days.ndim != 1 or days.size != n_time:
        raise InputError(f"{days.size} dates for {n_time} epochs of values")
    if days.size > 1 and (np.diff(days) <= 0).any():
        raise InputError("dates must be strictly increasing")
    return days


def _local_linear(days, values, window_days, leave_out=True):
    """Gaussian-weighted local linear fit of every series at its own dates (mm).

    At each date ``t_i`` the fit minimises ``sum_j K_ij (v_j - a - b (t_j - t_i))^2`` with
    ``K_ij = exp(-(t_j - t_i)^2 / (2 window^2))`` over the series' finite values; the fitted
    value is ``a``. Where fewer than two distinct dates carry weight, the local mean is used.
    """
    d = (days[None, :] - days[:, None]) / float(window_days)     # (i, j), in windows
    kernel = np.exp(-0.5 * d**2)
    if leave_out:
        np.fill_diagonal(kernel, 0.0)
    k0, k1, k2 = kernel.T, (kernel * d).T, (kernel * d**2).T
    out = np.empty(values.shape)
    for start in range(0, values.shape[0], _BLOCK_ROWS):
        v = values[start:start + _BLOCK_ROWS]
        mask = np.isfinite(v)
        v0 = np.where(mask, v, 0.0)
        if mask.all():
            m = np.ones((1, v.shape[1]))
        else:
            m = mask.astype(float)
        s0, s1, s2 = m @ k0, m @ k1, m @ k2
        t0, t1 = v0 @ k0, v0 @ k1
        det = s0 * s2 - s1**2
        with np.errstate(invalid="ignore", divide="ignore"):
            linear = (s2 * t0 - s1 * t1) / det
            constant = t0 / s0
        ok = det > 1e-9 * np.maximum(s0, 1e-300) ** 2
        out[start:start + _BLOCK_ROWS] = np.where(ok, linear, constant)
    return out


def _design(days, degree, annual):
    """Columns of the polynomial (+ annual) model at the dates, time in centred years."""
    years = (days - days.mean()) / DAYS_PER_YEAR
    cols = [years**k for k in range(int(degree) + 1)]
    if annual:
        cols += [np.cos(2 * np.pi * days / DAYS_PER_YEAR), np.sin(2 * np.pi * days / DAYS_PER_YEAR)]
    return np.stack(cols, axis=1)


def _polynomial(days, values, degree, annual):
    """Least-squares polynomial (+ annual) model of every series at its dates (mm)."""
    a = _design(days, degree, annual)
    k = a.shape[1]
    mask = np.isfinite(values)
    if mask.all():
        return values @ (a @ np.linalg.pinv(a)).T
    out = np.full(values.shape, np.nan)
    for start in range(0, values.shape[0], _BLOCK_ROWS):
        m = mask[start:start + _BLOCK_ROWS].astype(float)
        v0 = np.where(m > 0, values[start:start + _BLOCK_ROWS], 0.0)
        gram = np.einsum("nt,tk,tl->nkl", m, a, a)
        rhs = v0 @ a
        enough = m.sum(axis=1) > k
        coef = np.einsum("nkl,nl->nk", np.linalg.pinv(gram[enough]), rhs[enough])
        block = out[start:start + _BLOCK_ROWS]
        block[enough] = coef @ a.T
    return out


def _local_mean(days, values, window_days):
    """Leave-one-out Gaussian moving mean of every series at its dates (mm)."""
    d = (days[None, :] - days[:, None]) / float(window_days)
    kernel = np.exp(-0.5 * d**2)
    np.fill_diagonal(kernel, 0.0)
    mask = np.isfinite(values)
    v0 = np.where(mask, values, 0.0)
    den = (np.ones((1, values.shape[1])) if mask.all() else mask.astype(float)) @ kernel.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-12, (v0 @ kernel.T) / den, 0.0)


def temporal_residuals(time, values, model=DEFAULT_TEMPORAL, window_days=DEFAULT_WINDOW_DAYS,
                       degree=DEFAULT_DEGREE, annual=True) -> np.ndarray:
    """Residual of every series from a smooth temporal model (mm).

    Parameters
    ----------
    time : array_like of dates, shape (n_time,)
        Strictly increasing; may be irregular.
    values : array_like, shape (n_point, n_time)
        Displacement series, mm; NaN where missing (the residual is NaN there).
    model : {"trend_gaussian", "gaussian", "polynomial"}
        ``"polynomial"``: least-squares polynomial of ``degree`` in time, plus an annual
        cosine and sine when ``annual``. ``"trend_gaussian"``: that polynomial plus a
        leave-one-out Gaussian moving mean (standard deviation ``window_days``) of its
        residual. ``"gaussian"``: leave-one-out Gaussian-weighted local linear fit, standard
        deviation ``window_days``. A steady velocity leaves no residual with any of them.
    window_days : float
        Standard deviation of the temporal Gaussian, days.
    degree : int
        Degree of the polynomial model.
    annual : bool
        Add an annual term to the polynomial model.

    Returns
    -------
    ndarray, shape (n_point, n_time)
        ``values - model``, mm.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise InputError(f"values must be 2-D (point, time), got shape {values.shape}")
    days = _check_days(time, values.shape[1])
    if model in ("gaussian", "trend_gaussian"):
        if not (np.isfinite(window_days) and window_days > 0):
            raise InputError(f"window_days must be positive, got {window_days!r}")
    if model in ("polynomial", "trend_gaussian") and int(degree) < 0:
        raise InputError(f"degree must be >= 0, got {degree!r}")
    if model == "gaussian":
        smooth = _local_linear(days, values, window_days)
    elif model == "polynomial":
        smooth = _polynomial(days, values, degree, annual)
    elif model == "trend_gaussian":
        smooth = _polynomial(days, values, degree, annual)
        smooth = smooth + _local_mean(days, values - smooth, window_days)
    else:
        raise InputError(f"unknown temporal model {model!r}; expected one of {TEMPORAL_MODELS}")
    return values - smooth


# ------------------------------------------------------------------------------------------
# robust spatial low-pass


class _BinnedGrid:
    """Points binned to the nearest cell of a regular grid, and bilinear sampling back.

    ``splat`` (cells × points) sums point values per cell; ``sample`` (points × cells)
    interpolates cell-centre values bilinearly at the points.
    """

    def __init__(self, x, y, cell):
        xmin, ymin = x.min(), y.min()
        nx = int(np.floor((x.max() - xmin) / cell)) + 1
        ny = int(np.floor((y.max() - ymin) / cell)) + 1
        self.shape = (ny, nx)
        n = x.size
        col = np.floor((x - xmin) / cell).astype(np.int64)
        row = np.floor((y - ymin) / cell).astype(np.int64)
        self.splat = sp.csr_matrix((np.ones(n), (row * nx + col, np.arange(n))),
                                   shape=(ny * nx, n))
        # bilinear weights from the four surrounding cell centres (clamped at the border)
        fc = np.clip((x - xmin) / cell - 0.5, 0.0, nx - 1)
        fr = np.clip((y - ymin) / cell - 0.5, 0.0, ny - 1)
        c0 = np.minimum(np.floor(fc).astype(np.int64), max(nx - 2, 0))
        r0 = np.minimum(np.floor(fr).astype(np.int64), max(ny - 2, 0))
        c1, r1 = np.minimum(c0 + 1, nx - 1), np.minimum(r0 + 1, ny - 1)
        tc, tr = fc - c0, fr - r0
        rows = np.tile(np.arange(n), 4)
        cols = np.concatenate([r0 * nx + c0, r0 * nx + c1, r1 * nx + c0, r1 * nx + c1])
        w = np.concatenate([(1 - tr) * (1 - tc), (1 - tr) * tc, tr * (1 - tc), tr * tc])
        self.sample = sp.csr_matrix((w, (rows, cols)), shape=(n, ny * nx))


def _grid_for(x, y, scale_m, cell_m):
    """The binning grid for a Gaussian of ``scale_m``: cells of ``cell_m`` (default scale / 2)."""
    cell = float(cell_m) if cell_m else scale_m / 2.0
    side = max(np.ptp(x), np.ptp(y), cell)
    if (side / cell) ** 2 > _MAX_CELLS:
        wider = side / np.sqrt(_MAX_CELLS)
        logger.info("APS filter: %.0f m cells (not %.0f m) to keep the grid within %d cells",
                    wider, cell, _MAX_CELLS)
        cell = wider
    return _BinnedGrid(x, y, cell), scale_m / cell


def _gaussian_ratio(grid, sigma_cells, weights, values):
    """Weighted Gaussian mean of ``values`` around every point, per epoch (mm).

    ``values`` must be finite where ``weights`` are not zero (zero-filled elsewhere).
    """
    n_cells = grid.shape[0] * grid.shape[1]
    n_time = values.shape[1]
    step = max(1, _GRID_VALUES // max(n_cells, 1))
    num = np.empty(values.shape)
    den = np.empty(values.shape)
    wv = weights * values
    for start in range(0, n_time, step):
        block = slice(start, start + step)
        for src, dst in ((wv, num), (weights, den)):
            cube = (grid.splat @ src[:, block]).reshape(*grid.shape, -1)
            cube = ndimage.gaussian_filter(cube, sigma=(sigma_cells, sigma_cells, 0),
                                           mode="constant", truncate=3.0)
            dst[:, block] = grid.sample @ cube.reshape(n_cells, -1)
    ok = den > 1e-12
    np.divide(num, den, out=num, where=ok)
    num[~ok] = np.nan
    return num


def _plane(x, y, weights, values):
    """Weighted least-squares plane per epoch, evaluated at the points (mm).

    ``values`` must be finite where ``weights`` are not zero (zero-filled elsewhere).
    """
    xs, ys = (x - x.mean()) / 1000.0, (y - y.mean()) / 1000.0
    a = np.stack([np.ones_like(xs), xs, ys], axis=1)                     # (n, 3)
    gram = np.einsum("nt,nk,nl->tkl", weights, a, a)
    rhs = np.einsum("nt,nk->tk", weights * values, a)
    coef = np.einsum("tkl,tl->tk", np.linalg.pinv(gram), rhs)
    return a @ coef.T


def _epoch_median(values, most=None):
    """Median over the points of every epoch, ignoring NaN; NaN where an epoch has none.

    With ``most``, from an evenly strided subset of at most that many points (for scales,
    where 20,000 points are as good as 200,000).
    """
    if most is not None and values.shape[0] > most:
        values = values[::-(-values.shape[0] // most)]
    if np.isfinite(values).all():
        return np.median(values, axis=0)
    out = np.full(values.shape[1], np.nan)
    some = np.isfinite(values).any(axis=0)
    out[some] = np.nanmedian(values[:, some], axis=0)
    return out


#: Points used for the per-epoch robust scales.
_SCALE_POINTS = 20000


def _biweights(misfit):
    """Tukey biweights of the misfits, scaled by each epoch's MAD (0 where NaN)."""
    scale = _MAD_TO_STD * _epoch_median(np.abs(misfit), _SCALE_POINTS)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.inf)
    u = misfit / (_TUKEY_C * scale)
    u *= u
    return np.where(u < 1.0, (1.0 - u) ** 2, 0.0)


def _point_weights(residuals):
    """Inverse-variance weight of each point from its robust residual scale (0 if none).

    The scale is the point's median absolute departure from the epochs' medians; it is floored
    at half the dataset's typical scale, so that weights lie in (0, 1].
    """
    centred = np.abs(residuals - _epoch_median(residuals, _SCALE_POINTS))
    finite = np.isfinite(centred)
    if finite.all():
        mad = np.median(centred, axis=1)
    else:
        mad = np.full(centred.shape[0], np.nan)
        some = finite.any(axis=1)
        mad[some] = np.nanmedian(centred[some], axis=1)
    typical = np.nanmedian(mad) if np.isfinite(mad).any() else 1.0
    floor = max(0.5 * typical, 1e-6)
    return np.where(np.isfinite(mad), (floor / np.maximum(mad, floor)) ** 2, 0.0)


def robust_lowpass(x, y, residuals, scale_m=DEFAULT_SCALE_M, iterations=1, ramp=False,
                   cell_m=None) -> np.ndarray:
    """Robust Gaussian low-pass in space of per-epoch residuals, at the points (mm).

    Parameters
    ----------
    x, y : array_like, shape (n_point,)
        Point coordinates, metres.
    residuals : array_like, shape (n_point, n_time)
        Values to smooth, mm; NaN where missing (those take no part).
    scale_m : float
        Standard deviation of the spatial Gaussian, metres.
    iterations : int
        Reweighting passes with Tukey biweights of the misfit to the current estimate (scaled
        per epoch by the misfit's MAD); 0 gives the plain (point-noise weighted) Gaussian mean.
    ramp : bool
        Fit and include a robust plane per epoch (orbital ramp) before the Gaussian.
    cell_m : float, optional
        Binning cell, metres (default ``scale_m / 2``).

    Returns
    -------
    ndarray, shape (n_point, n_time)
        The smooth field at every point and epoch, mm (where no weighted neighbour exists, the
        epoch's median residual; 0 on an epoch without any residual).
    """
    x, y = check_coordinates((x, y))
    r = np.asarray(residuals, dtype=float)
    if r.shape[0] != x.size:
        raise InputError(f"residuals have {r.shape[0]} rows for {x.size} points")
    if not (np.isfinite(scale_m) and scale_m > 0):
        raise InputError(f"scale_m must be positive, got {scale_m!r}")
    grid, sigma_cells = _grid_for(x, y, float(scale_m), cell_m)
    finite = np.isfinite(r)
    base = _point_weights(r)[:, None] * finite
    r0 = r if finite.all() else np.where(finite, r, 0.0)
    weights = base
    fallback = _epoch_median(r, _SCALE_POINTS)
    fallback[~np.isfinite(fallback)] = 0.0      # an epoch without any value: nothing to remove
    estimate = None
    for _ in range(int(iterations) + 1):
        plane = _plane(x, y, weights, r0) if ramp else 0.0
        local = _gaussian_ratio(grid, sigma_cells, weights, r0 - plane)
        missing = ~np.isfinite(local)
        estimate = local + plane
        if missing.any():
            estimate[missing] = np.broadcast_to(fallback, local.shape)[missing]
        weights = base * _biweights(r - estimate)
    return estimate


# ------------------------------------------------------------------------------------------
# the estimator


def _check_method(method):
    if method not in METHODS:
        raise InputError(f"unknown APS method {method!r}; expected one of {METHODS}")


class APSFilter(BaseEstimator):
    """Estimate the atmospheric phase screen of one point dataset.

    Parameters
    ----------
    method : {"none", "common_mode", "spatiotemporal"}
        What to estimate (see the module's text).
    temporal : {"trend_gaussian", "gaussian", "polynomial"}
        Smooth temporal model whose residual is filtered (:func:`temporal_residuals`).
    window_days : float
        Standard deviation of the temporal Gaussian, days.
    degree : int
        Degree of the polynomial temporal model.
    annual : bool
        Annual term in the polynomial temporal model.
    scale_m : float
        Standard deviation of the spatial Gaussian, metres.
    iterations : int
        Robust reweighting passes of the spatial low-pass.
    ramp : bool
        Include a robust per-epoch plane in the spatial model.
    cell_m : float, optional
        Binning cell of the spatial low-pass, metres (default ``scale_m / 2``).

    Attributes
    ----------
    aps_ : ndarray, shape (n_point, n_time)
        The APS estimate at the points, mm, relative to the first epoch (zero there);
        zeros for ``"none"``.
    time_ : ndarray of datetime64[D]
        The dates it was fitted on.
    rms_ : float
        RMS of ``aps_`` over all points and epochs, mm.
    """

    def __init__(self, method=DEFAULT_METHOD, temporal=DEFAULT_TEMPORAL,
                 window_days=DEFAULT_WINDOW_DAYS, degree=DEFAULT_DEGREE, annual=True,
                 scale_m=DEFAULT_SCALE_M, iterations=1, ramp=False, cell_m=None):
        self.method = method
        self.temporal = temporal
        self.window_days = window_days
        self.degree = degree
        self.annual = annual
        self.scale_m = scale_m
        self.iterations = iterations
        self.ramp = ramp
        self.cell_m = cell_m

    def fit(self, coordinates, time, values):
        """Estimate the APS of ``values`` (n_point, n_time; mm) at points ``(x, y)`` (m).

        Returns
        -------
        APSFilter
            ``self``, with ``aps_``, ``time_`` and ``rms_`` set.
        """
        _check_method(self.method)
        x, y = check_coordinates(coordinates)
        values = np.asarray(values, dtype=float)
        if values.ndim != 2 or values.shape[0] != x.size:
            raise InputError(f"values of shape {values.shape} do not match {x.size} points")
        self.time_ = as_days(np.atleast_1d(time))
        _check_days(self.time_, values.shape[1])
        if self.method == "none":
            aps = np.zeros(values.shape)
        else:
            resid = temporal_residuals(self.time_, values, self.temporal, self.window_days,
                                       self.degree, self.annual)
            if self.method == "common_mode":
                common = _epoch_median(resid)
                aps = np.broadcast_to(np.where(np.isfinite(common), common, 0.0),
                                      values.shape).copy()
            else:
                aps = robust_lowpass(x, y, resid, self.scale_m, self.iterations, self.ramp,
                                     self.cell_m)
            aps = aps - aps[:, :1]
        self.aps_ = aps
        self.rms_ = float(np.sqrt(np.mean(aps**2))) if aps.size else 0.0
        return self

    def transform(self, values) -> np.ndarray:
        """``values`` with the fitted APS removed (same shape, mm)."""
        self._check_fitted("aps_")
        values = np.asarray(values, dtype=float)
        if values.shape != self.aps_.shape:
            raise InputError(f"values of shape {values.shape} do not match the fitted "
                             f"{self.aps_.shape}")
        return values - self.aps_


# ------------------------------------------------------------------------------------------
# labelled data


def remove_atmosphere(ds: xr.Dataset, filt: APSFilter | None = None):
    """Estimate and subtract the APS of one point dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        Point dataset with ``displacement`` (point, time) in mm and ``x``, ``y`` (m).
    filt : APSFilter, optional
        The (unfitted) filter; default ``APSFilter()``. It is fitted on ``ds``.

    Returns
    -------
    filtered : xarray.Dataset
        ``ds`` with ``displacement - aps`` (attrs ``aps_method`` and ``aps_rms_mm`` added to the
        variable); per-point variables such as ``velocity`` are left as they were.
    aps : xarray.DataArray
        The removed APS (point, time), mm, relative to the first epoch, with the dataset's
        ``point``, ``time``, ``x`` and ``y`` coordinates.
    """
    filt = APSFilter() if filt is None else filt
    name = ds.attrs.get("name", "dataset")
    disp = ds["displacement"].transpose("point", "time")
    filt.fit((ds["x"].values, ds["y"].values), ds["time"].values, disp.values)
    aps = xr.DataArray(
        filt.aps_, dims=("point", "time"),
        coords={"point": ds["point"].values, "time": ds["time"].values,
                "x": ("point", ds["x"].values, {"units": "m"}),
                "y": ("point", ds["y"].values, {"units": "m"})},
        name="aps",
        attrs={"units": "mm", "long_name": f"atmospheric phase screen removed from {name}",
               "sign": "LOS, positive toward the satellite; filtered = displacement - aps",
               "reference": "relative to the first epoch",
               "method": filt.method, **_filter_attrs(filt)})
    out = ds.copy()
    out["displacement"] = disp - aps.variable
    out["displacement"].attrs.update(disp.attrs, aps_method=filt.method,
                                     aps_rms_mm=round(filt.rms_, 3))
    out = out.transpose("point", "time", ...)
    if filt.method == "none":
        logger.info("%s: no APS removed (atmosphere: none)", name)
    else:
        per_epoch = np.sqrt(np.mean(filt.aps_**2, axis=0))
        worst = int(np.argmax(per_epoch))
        logger.info("%s: APS (%s) removed: RMS %.2f mm over %d points x %d epochs; largest "
                    "%.2f mm on %s", name, filt.method, filt.rms_, filt.aps_.shape[0],
                    filt.aps_.shape[1], per_epoch[worst], filt.time_[worst])
    return out, aps


def _filter_attrs(filt: APSFilter) -> dict:
    """The filter's parameters as NetCDF-friendly attributes."""
    out = {}
    for key, value in filt.get_params().items():
        if value is None:
            continue
        out[f"aps_{key}"] = int(value) if isinstance(value, bool) else value
    return out


def aps_dataset(aps_by_dataset: dict) -> xr.Dataset:
    """The removed APS of every dataset as one Dataset (written as ``atmosphere.nc``).

    Parameters
    ----------
    aps_by_dataset : dict of str to xarray.DataArray
        Dataset name → the ``aps`` returned by :func:`remove_atmosphere`.

    Returns
    -------
    xarray.Dataset
        Per dataset ``D``: variable ``D_aps`` (``D_point``, time) in mm with coordinates
        ``D_point`` (the point ids), ``D_x``, ``D_y`` (m). The time dimension is ``time`` when
        all datasets share their dates, else ``D_time``. Attributes give units, long name, sign
        convention and the filter's parameters.
    """
    if not aps_by_dataset:
        raise InputError("no APS to write")
    times = [np.asarray(a["time"].values) for a in aps_by_dataset.values()]
    shared = all(t.shape == times[0].shape and (t == times[0]).all() for t in times)
    variables = {}
    for name, aps in aps_by_dataset.items():
        pdim = f"{name}_point"
        tdim = "time" if shared else f"{name}_time"
        da = aps.transpose("point", "time").reset_coords(drop=True)
        da = da.rename({"point": pdim, "time": tdim})
        da = da.assign_coords({f"{name}_x": (pdim, aps["x"].values, {"units": "m"}),
                               f"{name}_y": (pdim, aps["y"].values, {"units": "m"})})
        da.attrs = dict(aps.attrs)
        da.attrs["long_name"] = f"atmospheric phase screen removed from {name}"
        variables[f"{name}_aps"] = da
    out = xr.Dataset(variables)
    out.attrs.update(
        title="atmospheric phase screens removed from the point datasets",
        units="mm",
        sign_convention="LOS displacement positive toward the satellite; the filtered "
                        "displacement is the input displacement minus D_aps",
        reference="each APS is relative to its dataset's first epoch")
    return out


__all__ = ["DEFAULT_DEGREE", "DEFAULT_METHOD", "DEFAULT_SCALE_M", "DEFAULT_TEMPORAL",
           "DEFAULT_WINDOW_DAYS", "METHODS",
           "TEMPORAL_MODELS", "APSFilter", "aps_dataset", "remove_atmosphere",
           "robust_lowpass", "temporal_residuals"]
