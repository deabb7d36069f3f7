"""Calibrated uncertainty: every product's std scaled on data the method did not see.

The raw standard deviation a spatial method gives (kriging's variance, the CNN's MC-dropout
spread) is not an error: kriging's assumes its variogram, MC dropout measures the network's
indecision only (a median of 0.05 mm on the demo against a 3.6 mm error). Neither holds the
per-epoch common mode of the error (the datum tie, the atmosphere at the reference), and the
velocity std propagated from it as if the epochs' errors were independent is smaller still.
Here both are turned into uncertainties that mean what they say, from held-out data.

The error model
---------------
The product's error at a cell ``c`` and epoch ``t`` is a spatial part and a common mode::

    sigma(c, t)**2 = (a(t) * s(c, t))**2 + sigma_cm(t)**2

* ``s`` is the method's raw std; ``a(t)`` a variance scale factor per epoch, fitted on the
  held-out spatial blocks of :func:`insarfusion.validate.holdout_blocks` (the method never saw
  those points). The held-out residual ``r = prediction - held-out value`` also holds the
  held-out point's own noise (its noise, its residual atmosphere), which is no error of the
  product against the ground: with ``n(t)**2``, the variance of that noise
  (:func:`noise_variance`, from nearest neighbours of one dataset), ``a(t)`` is the factor for
  which ``r / sqrt((a s)**2 + n**2)`` has :data:`QUANTILE` of its absolute values within
  :data:`K` (:func:`scale_factor`), pooled over :data:`WINDOW` epochs either side. The points
  are on the common epochs after temporal resampling, so the residuals carry the resampling
  error too (the temporal part; the resamplers' own held-out-epoch scores are reported beside).
* ``sigma_cm(t)`` is the per-epoch uncertainty of the GNSS tie the product went through (the
  network tie's own ``sigma_mm``, :mod:`insarfusion.datum.network`); without it the spatial
  std at the reference stations (or, with no station, the field's median spatial std) divided
  by the square root of their number. No spatial method reduces it, and held-out blocks
  cannot see it (the held-out points share the datum of the training points).

Why a scale factor fitted on a quantile, and not conformal intervals: a factor keeps the
method's own pattern of uncertainty (kriging's std grows away from the data) and gives a std,
which users and formats (NetCDF, MintPy) expect and which adds to the common mode in
variance; a split-conformal interval of normalised residuals is this same quantile, but an
interval cannot be added to the datum's variance nor propagated to the velocity. Fitting the
factor on the 2σ quantile of ``|z|`` rather than on the MAD keeps the 2σ interval honest when
the residuals have heavier tails than a Gaussian (as gridding errors at landslide edges do);
the 1σ coverage is then reported as measured.

The velocity
------------
Errors of a gridded series are correlated in time (a misplaced deformation pattern is an error
growing with time), so the white-noise slope error of :func:`insarfusion.products.velocity_std_map`
is far too small. The velocity is fitted on every held-out residual series directly; its
factor ``b`` over the white-noise slope std of the calibrated spatial std is fitted on those
velocity residuals the same way (their noise, ``nv``, from neighbouring points' velocities)::

    sigma_v(c)**2 = (b * white_slope_std(a s)(c))**2 + sigma_v,cm**2

with ``sigma_v,cm`` the velocity error the tie hands to every cell: the spatial velocity std at
the tie stations divided by the square root of their number.

Methods not held out
--------------------
A method whose product has a std but which was not scored on held-out blocks (the CNN by
default, see :meth:`insarfusion.config.ValidationConfig.methods_for`) cannot be calibrated on
its own residuals. The CNN's MC-dropout std has no scale of its own to borrow a factor for (a
factor fitted for kriging's std would leave it 50 times too small), so it borrows the
calibrated *spatial std* of the held-out method whose velocity map is closest to its own (a
warning names both, and the metadata says ``borrowed``). Without any held-out method with a
std, the per-epoch held-out spread of the closest held-out method is used as a std constant in
space. Without held-out blocks at all (``validation.holdout_folds: 0``) the raw std is kept,
with a warning and ``std_calibration: none`` in the metadata.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from scipy.spatial import cKDTree

from .conventions import DAYS_PER_YEAR, as_days
from .log import logger
from .metrics import rounded
from .series import linear_rate

#: Share of held-out absolute z-scores that the calibrated std puts within :data:`K` std.
QUANTILE = 0.9545
#: The multiple of the std the calibration is fitted at (2σ).
K = 2.0
#: Epochs on either side pooled with each epoch to fit its factor.
WINDOW = 3
#: Multiples of the std at which coverage curves are reported.
CURVE_K = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
#: Median of a chi-square variable with one degree of freedom.
_CHI2_1_MEDIAN = 0.4549364
#: Held-out points kept for calibration (a seeded subsample beyond).
MAX_POINTS = 20000


def coverage(error, std, k=1.0) -> float:
    """Share of the finite errors within ``k`` standard deviations.

    Parameters
    ----------
    error, std : array_like
        Errors and their std, same units (mm or mm/yr), broadcastable.
    k : float
        Multiple of the std.

    Returns
    -------
    float
        In 0..1; NaN where nothing is finite.
    """
    error, std = np.broadcast_arrays(np.asarray(error, float), np.asarray(std, float))
    ok = np.isfinite(error) & np.isfinite(std)
    if not ok.any():
        return float("nan")
    return float(np.mean(np.abs(error[ok]) <= k * std[ok]))


def noise_variance(x, y, values, groups=None) -> np.ndarray:
    """Variance of the points' own noise, per epoch, from each point's nearest neighbour.

    The difference of two neighbouring points of one dataset is their noise (twice its
    variance) plus the little signal that changes between them; the median of the squared
    differences, divided by twice the median of a one-degree chi-square, is robust to the
    pairs that straddle a real edge.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Points, metres.
    values : array_like, shape (n,) or (n, n_time)
        Displacement (mm) or velocity (mm/yr).
    groups : array_like, shape (n,), optional
        Dataset of each point: neighbours are taken within a dataset.

    Returns
    -------
    ndarray, shape (n_time,) or ()
        Variance, units squared; 0 where no pair is finite.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    values = np.asarray(values, float)
    flat = values.reshape(values.shape[0], -1)
    labels = np.zeros(x.size, dtype=int) if groups is None else np.asarray(groups)
    diffs = []
    for g in np.unique(labels):
        idx = np.flatnonzero(labels == g)
        if idx.size < 2:
            continue
        _, near = cKDTree(np.c_[x[idx], y[idx]]).query(np.c_[x[idx], y[idx]], k=2)
        diffs.append(flat[idx] - flat[idx[near[:, 1]]])
    if not diffs:
        return np.zeros(flat.shape[1:]).reshape(values.shape[1:])
    d2 = np.concatenate(diffs) ** 2
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an epoch with no finite pair
        var = np.nanmedian(d2, axis=0) / (2 * _CHI2_1_MEDIAN)
    return np.nan_to_num(var).reshape(values.shape[1:])


def scale_factor(residual, std=None, noise_var=0.0, quantile=QUANTILE, k=K) -> float:
    """The factor ``a`` putting ``quantile`` of ``|r| / sqrt((a s)**2 + n**2)`` within ``k``.

    Parameters
    ----------
    residual : array_like
        Held-out residuals (prediction minus held-out value), mm or mm/yr.
    std : array_like, optional
        The method's raw std at them, same shape; None: 1 (the factor is then the spread).
    noise_var : float or array_like
        Variance of the held-out values' own noise, broadcastable to ``residual``.
    quantile : float
        Share of the absolute z-scores to put within ``k``.
    k : float
        Multiple of the std.

    Returns
    -------
    float
        ``a >= 0``; 0 where the noise alone explains the residuals; NaN with no finite residual.
    """
    r = np.abs(np.asarray(residual, float))
    s = np.ones_like(r) if std is None else np.broadcast_to(np.asarray(std, float), r.shape)
    n2 = np.broadcast_to(np.asarray(noise_var, float), r.shape)
    ok = np.isfinite(r) & np.isfinite(s) & np.isfinite(n2) & (s > 0)
    r, s, n2 = r[ok], s[ok], n2[ok]
    if not r.size:
        return float("nan")

    # |r| / sqrt((a s)**2 + n**2) <= k  <=>  a**2 >= c = ((r / k)**2 - n**2) / s**2: the share
    # within k grows in steps at the sorted c, so the quantile reaches k exactly when a**2
    # reaches the order statistic of c that the quantile picks (numpy's "higher" index)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(r > 0, ((r / k) ** 2 - n2) / s**2, -np.inf)
    n = c.size
    j = min(int(np.ceil(n * quantile + (1 - quantile) - 1)), n - 1)
    c_j = np.partition(c, j)[j]
    # a hair above, so that the value the quantile picks is within k after rounding too
    return float(np.sqrt(c_j) * (1 + 1e-12)) if c_j > 0 else 0.0


def slope_weights(epochs) -> np.ndarray:
    """Weights ``w_t`` of the least-squares slope, ``v = sum w_t d_t`` (1/yr)."""
    years = as_days(epochs).astype("int64") / DAYS_PER_YEAR
    centred = years - years.mean()
    return centred / (centred**2).sum()


def white_velocity_std(std, epochs) -> np.ndarray:
    """Slope std (mm/yr) of series whose epochs have independent errors of ``std`` (mm).

    Parameters
    ----------
    std : array_like, shape (..., n_time)
        Per-epoch std, mm.
    epochs : array of dates, shape (n_time,)

    Returns
    -------
    ndarray, shape (...)
        mm/yr; NaN where no epoch has a std.
    """
    std = np.asarray(std, float)
    w = slope_weights(epochs)
    variance = np.nansum((std * w) ** 2, axis=-1)
    return np.where(np.isfinite(std).any(axis=-1), np.sqrt(variance), np.nan)


def _windowed_factors(residual, std, noise_var, window, quantile, k):
    """One factor per epoch, each from the epochs within ``window`` of it pooled."""
    n_time = residual.shape[1]
    factors = np.full(n_time, np.nan)
    for t in range(n_time):
        part = slice(max(0, t - window), t + window + 1)
        factors[t] = scale_factor(residual[:, part], None if std is None else std[:, part],
                                  noise_var[None, part], quantile, k)
    if np.isfinite(factors).any():
        factors = np.where(np.isfinite(factors), factors, np.nanmedian(factors))
    return factors


@dataclass
class HeldOutCoverage:
    """Coverage of held-out values at 1σ and 2σ, before and after calibration (0..1)."""

    before_1: float
    before_2: float
    after_1: float
    after_2: float
    curve: list = field(default_factory=list)

    def as_dict(self) -> dict:
        """The keys of ``validation.json``."""
        return {"within_1std_raw": rounded(self.before_1),
                "within_2std_raw": rounded(self.before_2),
                "within_1std": rounded(self.after_1), "within_2std": rounded(self.after_2),
                "within_k": [rounded(c) for c in self.curve]}


class StdCalibrator:
    """Fit the per-epoch and velocity factors of a method's std on held-out residuals.

    Parameters
    ----------
    quantile : float
        Share of the held-out absolute z-scores put within ``k`` std.
    k : float
        Multiple of the std the factors are fitted at.
    window : int
        Epochs either side pooled with each epoch to fit its factor.

    Attributes
    ----------
    factor_ : ndarray, shape (n_time,)
        The spatial std's factor ``a(t)`` per epoch (dimensionless; mm where the method has no
        std of its own, the std being then 1).
    velocity_factor_ : float
        ``b``: the velocity std over the white-noise slope std of the calibrated spatial std.
    noise_std_ : ndarray, shape (n_time,)
        The held-out values' own noise, mm.
    velocity_noise_std_ : float
        Their velocities' noise, mm/yr.
    displacement_coverage_, velocity_coverage_ : HeldOutCoverage
        Held-out coverage before (raw std, white slope) and after.
    """

    def __init__(self, quantile=QUANTILE, k=K, window=WINDOW):
        self.quantile = quantile
        self.k = k
        self.window = window

    def fit(self, residual, std, epochs, noise_var=0.0, velocity_noise_var=0.0):
        """Fit the factors.

        Parameters
        ----------
        residual : array_like, shape (n, n_time)
            Held-out residuals, prediction minus held-out value, mm.
        std : array_like, shape (n, n_time), or None
            The method's raw std at them, mm; None for a method without one.
        epochs : array of dates, shape (n_time,)
        noise_var : float or array_like, shape (n_time,)
            Variance of the held-out values' own noise per epoch, mm² (:func:`noise_variance`).
        velocity_noise_var : float
            Variance of their velocities' noise, (mm/yr)².

        Returns
        -------
        self
        """
        residual = np.asarray(residual, float)
        std = None if std is None else np.asarray(std, float)
        n_time = residual.shape[1]
        noise_var = np.broadcast_to(np.asarray(noise_var, float), (n_time,))
        self.factor_ = _windowed_factors(residual, std, noise_var, self.window, self.quantile,
                                         self.k)
        self.noise_std_ = np.sqrt(noise_var)
        raw = np.ones_like(residual) if std is None else std
        spatial = self.factor_[None, :] * raw
        white = white_velocity_std(spatial, epochs)
        v_res = linear_rate(epochs, residual)
        self.velocity_factor_ = scale_factor(v_res, white, velocity_noise_var, self.quantile,
                                             self.k)
        self.velocity_noise_std_ = float(np.sqrt(velocity_noise_var))
        full = np.sqrt(spatial**2 + noise_var[None, :])
        v_full = np.sqrt((self.velocity_factor_ * white) ** 2 + velocity_noise_var)
        v_raw = white_velocity_std(raw, epochs)
        self.displacement_coverage_ = HeldOutCoverage(
            coverage(residual, raw, 1), coverage(residual, raw, 2), coverage(residual, full, 1),
            coverage(residual, full, 2), [coverage(residual, full, c) for c in CURVE_K])
        self.velocity_coverage_ = HeldOutCoverage(
            coverage(v_res, v_raw, 1), coverage(v_res, v_raw, 2), coverage(v_res, v_full, 1),
            coverage(v_res, v_full, 2), [coverage(v_res, v_full, c) for c in CURVE_K])
        return self

    def spatial_std(self, std: xr.DataArray) -> xr.DataArray:
        """The calibrated spatial std ``a(t) s`` of a raw std cube (time, y, x), mm."""
        factor = xr.DataArray(self.factor_, dims="time", coords={"time": std["time"]})
        return (std * factor).transpose("time", "y", "x")

    def velocity_std(self, spatial: xr.DataArray) -> xr.DataArray:
        """The spatial part of the velocity std (y, x), mm/yr, of a calibrated spatial std."""
        from .products import velocity_std_map

        return self.velocity_factor_ * velocity_std_map(spatial)


def common_mode_std(spatial: xr.DataArray, stations_xy=None, tie_sigma=None) -> np.ndarray:
    """The per-epoch common-mode std of a product (mm): its datum tie's own uncertainty.

    Parameters
    ----------
    spatial : xarray.DataArray, dims (time, y, x)
        The calibrated spatial std, mm.
    stations_xy : tuple of array_like, optional
        ``(x, y)`` of the tie stations, metres.
    tie_sigma : array_like, shape (n_time,), optional
        The tie's own per-epoch uncertainty (the network tie's ``sigma_mm``), mm.

    Returns
    -------
    ndarray, shape (n_time,)
        ``tie_sigma`` where given (0 where unknown); else the spatial std at the stations
        over the square root of their number; else the field's median spatial std.
    """
    if tie_sigma is not None:
        sigma = np.array([np.nan if s is None else s for s in tie_sigma], float)
        return np.nan_to_num(sigma)
    return _at_references(spatial, stations_xy)


def _at_references(field: xr.DataArray, stations_xy) -> np.ndarray:
    """RMS of ``field`` at the stations over sqrt(their number), or its median without any."""
    from .grid import sample

    if stations_xy is not None and len(stations_xy[0]):
        at = np.asarray(sample(field, *stations_xy, outside="edge", fallback="nearest"), float)
        at = at.reshape(len(stations_xy[0]), -1)
        return np.sqrt(np.nanmean(at**2, axis=0) / at.shape[0]).reshape(field.shape[:-2])
    dims = ("y", "x")
    return np.asarray(field.median(dims, skipna=True).values, float)


@dataclass
class Calibrated:
    """A product's calibrated std, its raw std and what was done (for the metadata)."""

    std: xr.DataArray
    velocity_std: xr.DataArray
    std_raw: xr.DataArray
    velocity_std_raw: xr.DataArray
    summary: dict
    #: Whether the method has a std of its own (``std_raw`` finite somewhere; the CNN with
    #: ``mc_samples: 0`` has none, and its products carry no raw std).
    own_std: bool = True

    def attrs(self) -> dict:
        """The calibration as product metadata attributes."""
        s = self.summary
        attrs = {"std_calibration": s["method"], "std_calibration_source": s["source"],
                 "std_factor_median": s.get("factor_median"),
                 "velocity_std_factor": s.get("velocity_factor"),
                 "std_common_mode_mm_mean": s.get("common_mode_std_mm_mean"),
                 "velocity_std_common_mode_mm_yr": s.get("velocity_common_mode_std_mm_yr")}
        return {k: v for k, v in attrs.items() if v is not None}


def calibrate_std(std_raw, calibrator, source, spatial=None, stations_xy=None,
                  tie_sigma=None, valid=None) -> Calibrated:
    """Calibrate one product's std: spatial part, common mode, velocity.

    Parameters
    ----------
    std_raw : xarray.DataArray, dims (time, y, x)
        The method's raw std, mm.
    calibrator : StdCalibrator or None
        Fitted on the method's own (or the donor's) held-out residuals; None: the raw std is
        kept (nothing held out).
    source : str
        Where the calibration comes from (for the metadata and the log).
    spatial : xarray.DataArray, optional
        A calibrated spatial std to use instead of ``calibrator.spatial_std(std_raw)`` (a
        donor's, for a method not held out).
    stations_xy, tie_sigma
        As in :func:`common_mode_std`.
    valid : xarray.DataArray, optional
        Where the product has values (time, y, x); the calibrated std is NaN elsewhere
        (default: where the raw std is finite, or for a method without a std of its own, a
        NaN raw std, where the donor's ``spatial`` std is).

    Returns
    -------
    Calibrated
    """
    from .products import velocity_std_map

    std_raw = std_raw.transpose("time", "y", "x")
    own = bool(std_raw.notnull().any())
    v_raw = (velocity_std_map(std_raw) if own
             else xr.full_like(std_raw.isel(time=0, drop=True), np.nan).rename("velocity_std"))
    if calibrator is None:
        summary = {"method": "none", "source": source}
        return Calibrated(std_raw, v_raw, std_raw, v_raw, summary, own)
    if spatial is None:
        spatial = calibrator.spatial_std(std_raw)
    if valid is None:
        valid = np.isfinite(std_raw if own else spatial)
    spatial = spatial.where(valid)
    cm = common_mode_std(spatial, stations_xy, tie_sigma)
    cm_da = xr.DataArray(cm, dims="time", coords={"time": std_raw["time"]})
    total = np.sqrt(spatial**2 + cm_da**2).transpose("time", "y", "x")
    total.name = "displacement_std"
    v_spatial = calibrator.velocity_std(spatial)
    v_cm_spatial = float(np.atleast_1d(_at_references(v_spatial.expand_dims(time=[0]),
                                                      stations_xy))[0])
    v_cm = float(np.hypot(v_cm_spatial, white_velocity_std(cm, std_raw["time"].values)))
    v_total = np.sqrt(v_spatial**2 + v_cm**2)
    v_total.name = "velocity_std"
    v_total.attrs = {"units": "mm/yr"}
    summary = {"method": f"variance scale factor per epoch at the {calibrator.quantile:.2%} "
                         f"quantile of held-out |z| (= {calibrator.k:g} std), plus the datum's "
                         "common mode",
               "source": source,
               "factors": [rounded(f, 4) for f in calibrator.factor_],
               "factor_median": rounded(np.median(calibrator.factor_), 4),
               "velocity_factor": rounded(calibrator.velocity_factor_, 4),
               "noise_std_mm_mean": rounded(np.mean(calibrator.noise_std_)),
               "velocity_noise_std_mm_yr": rounded(calibrator.velocity_noise_std_),
               "common_mode_std_mm": [rounded(c) for c in cm],
               "common_mode_std_mm_mean": rounded(np.mean(cm)),
               "velocity_common_mode_std_mm_yr": rounded(v_cm),
               "heldout_displacement": calibrator.displacement_coverage_.as_dict(),
               "heldout_velocity": calibrator.velocity_coverage_.as_dict()}
    return Calibrated(total, v_total, std_raw, v_raw, summary, own)


def _closest(name, candidates, velocities) -> str | None:
    """The candidate whose velocity map is closest to ``name``'s (RMS difference)."""
    if not candidates:
        return None
    own = np.asarray(velocities(name), float)

    def distance(other):
        diff = own - np.asarray(velocities(other), float)
        return float(np.sqrt(np.nanmean(diff**2))) if np.isfinite(diff).any() else np.inf

    return min(candidates, key=distance)


def calibrate_products(stds: dict, residuals: dict, epochs, velocities, *, noise_var=0.0,
                       velocity_noise_var=0.0, valid=None, stations_xy=None, tie_sigmas=None,
                       calibrator=None) -> dict:
    """Calibrate the std of every product that has one.

    Parameters
    ----------
    stds : dict
        ``{method: raw std cube (time, y, x) or None}``, mm.
    residuals : dict
        ``{method: HeldOutResiduals}`` of the methods scored on held-out blocks
        (:class:`insarfusion.model_selection.HeldOutResiduals`).
    epochs : array of dates
    velocities : callable
        ``velocities(method)`` → the product's velocity map (y, x), mm/yr; chooses the donor
        of a method not held out.
    noise_var : float or array_like, shape (n_time,)
        Variance of the held-out points' own noise per epoch, mm² (:func:`noise_variance`).
    velocity_noise_var : float
        Variance of their velocities' noise, (mm/yr)².
    valid : callable, optional
        ``valid(method)`` → where the product has values (time, y, x).
    stations_xy : tuple of array_like, optional
        ``(x, y)`` of the datum's tie stations, metres.
    tie_sigmas : dict, optional
        ``{method: per-epoch tie uncertainty (mm)}`` of each product's datum tie.
    calibrator : StdCalibrator, optional
        Its parameters are used (default :class:`StdCalibrator`).

    Returns
    -------
    dict
        ``{method: Calibrated}`` for every method with a std.
    """
    template = calibrator or StdCalibrator()
    fitted = {name: StdCalibrator(template.quantile, template.k, template.window).fit(
        res.residual, res.std, epochs, noise_var, velocity_noise_var)
        for name, res in residuals.items()}
    with_std = [n for n, res in residuals.items() if res.std is not None]
    out = {}
    for name, std in stds.items():
        if std is None:
            continue
        kwargs = {"stations_xy": stations_xy, "valid": None if valid is None else valid(name),
                  "tie_sigma": (tie_sigmas or {}).get(name)}
        if name in with_std:
            out[name] = calibrate_std(std, fitted[name], "own held-out blocks", **kwargs)
            continue
        donor = _closest(name, with_std, velocities)
        if donor is not None:
            spatial = fitted[donor].spatial_std(stds[donor].transpose("time", "y", "x"))
            source = f"borrowed: calibrated spatial std of {donor} (closest held-out method)"
        else:
            donor = _closest(name, list(fitted), velocities)
            spatial = None
            if donor is not None:
                ones = xr.ones_like(std.transpose("time", "y", "x"))
                spatial = fitted[donor].spatial_std(ones)
                source = (f"borrowed: per-epoch held-out spread of {donor} (closest held-out "
                          "method), constant in space")
        if donor is None:
            logger.warning("std of %s not calibrated: no method was scored on held-out blocks "
                           "(validation.holdout_folds); its raw std is written", name)
            out[name] = calibrate_std(std, None, "none: nothing held out")
            continue
        if name in residuals:
            logger.info("%s has no std of its own: its std is the %s", name,
                        source.removeprefix("borrowed: "))
        else:
            logger.warning("%s was not scored on held-out blocks (validation.holdout_methods): "
                           "its std is the %s", name, source.removeprefix("borrowed: "))
        out[name] = calibrate_std(std, fitted[donor], source, spatial=spatial, **kwargs)
    for name, cal in out.items():
        s = cal.summary
        if s["method"] != "none":
            logger.info("std of %s calibrated (%s): factor median %.3g, velocity factor %.3g, "
                        "common mode %.2f mm, velocity common mode %.2f mm/yr", name,
                        s["source"], s["factor_median"], s["velocity_factor"],
                        s["common_mode_std_mm_mean"], s["velocity_common_mode_std_mm_yr"])
    return out


def subsample(residuals, max_points=MAX_POINTS, seed=0):
    """At most ``max_points`` held-out points of a ``HeldOutResiduals``, drawn with ``seed``."""
    from .model_selection import HeldOutResiduals

    n = residuals.index.size
    if n <= max_points:
        return residuals
    keep = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    return HeldOutResiduals(residuals.index[keep], residuals.residual[keep],
                            None if residuals.std is None else residuals.std[keep])
