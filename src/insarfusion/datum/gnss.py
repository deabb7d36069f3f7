"""The GNSS stations on the LOS: lookups, projection (paper eq. 2) and averaging onto epochs.

A station's east/north/up positions (mm) are projected on a ground-to-satellite unit vector
(:func:`gnss_los`, LOS positive toward the satellite) and averaged onto the common epochs over a
window (:func:`gnss_on_epochs`). :func:`station_geometry` reads the primary dataset's incidence
and heading at a station and :func:`stations_los_on_epochs` does all three for several stations.
:func:`validation_stations` lists the stations left for validation.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..conventions import as_days, los_unit_vector
from ..errors import InputError
from ..project import primary_geometry_at


def _station_index(gnss: xr.Dataset, station) -> int:
    names = np.asarray(gnss["station"].values).astype(str)
    hits = np.flatnonzero(names == str(station))
    if hits.size == 0:
        raise InputError(f"GNSS station {str(station)!r} not found; the stations are "
                         f"{', '.join(names)}", gnss.attrs.get("source") or None)
    return int(hits[0])


def _station_los_series(gnss: xr.Dataset, station, los_east, los_north, los_up) -> np.ndarray:
    """LOS series (mm) of a station along a given (possibly averaged) ground-to-satellite vector."""
    i = _station_index(gnss, station)
    return (gnss["east"].values[i] * los_east + gnss["north"].values[i] * los_north
            + gnss["up"].values[i] * los_up)


def gnss_los(gnss: xr.Dataset, station, incidence, heading) -> xr.DataArray:
    """LOS displacement of a GNSS station on its own dates (paper eq. 2).

    ``d_LOS = d_up cos(theta) + d_north sin(theta) sin(alpha) - d_east sin(theta) cos(alpha)``.

    Parameters
    ----------
    gnss : xarray.Dataset
        GNSS dataset (east/north/up in mm, see :func:`insarfusion.dataset.gnss_dataset`).
    station : str
        Station name.
    incidence, heading : float
        LOS geometry at the station, degrees (see :mod:`insarfusion.conventions`).

    Returns
    -------
    xarray.DataArray
        Over ``time`` (the GNSS dates), mm, positive toward the satellite, relative to the
        station's own origin; NaN where a component is missing.

    Raises
    ------
    InputError
        If the station is not in ``gnss``.
    """
    los = _station_los_series(gnss, station, *los_unit_vector(incidence, heading))
    return xr.DataArray(los, dims="time", coords={"time": gnss["time"].values}, name="los",
                        attrs={"units": "mm", "station": str(station),
                               "incidence": float(incidence), "heading": float(heading),
                               "long_name": "GNSS displacement along the LOS, positive toward "
                                            "the satellite"})


def _default_half_window(epochs_days: np.ndarray) -> float:
    return float(np.median(np.diff(epochs_days))) / 2.0 if epochs_days.size > 1 else 0.0


def gnss_on_epochs(values, gnss_time, epochs, half_window_days=None) -> np.ndarray:
    """Average GNSS values onto epochs.

    Each epoch gets the mean of the finite values dated within ``+-half_window_days`` of it
    (both ends included).

    Parameters
    ----------
    values : array_like, shape (..., n_gnss_time)
        GNSS series (mm), NaN where missing.
    gnss_time : array_like of dates, shape (n_gnss_time,)
    epochs : array_like of dates, shape (n_epoch,)
    half_window_days : float, optional
        Half width of the window, days; default half the median epoch spacing.

    Returns
    -------
    numpy.ndarray, shape (..., n_epoch)
        Window means (mm); NaN where no value falls in the window.
    """
    t = as_days(gnss_time).astype("int64")
    ep = as_days(epochs).astype("int64")
    hw = _default_half_window(ep) if half_window_days is None else float(half_window_days)
    v = np.asarray(values, dtype=float)
    order = np.argsort(t, kind="stable")
    t = t[order]
    v = v[..., order]
    finite = np.isfinite(v)
    zero = np.zeros(v.shape[:-1] + (1,))
    value_sum = np.concatenate([zero, np.cumsum(np.where(finite, v, 0.0), axis=-1)], axis=-1)
    count = np.concatenate([zero, np.cumsum(finite, axis=-1)], axis=-1)
    lo = np.searchsorted(t, ep - hw, side="left")
    hi = np.searchsorted(t, ep + hw, side="right")
    n = count[..., hi] - count[..., lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (value_sum[..., hi] - value_sum[..., lo]) / n
    return np.where(n > 0, mean, np.nan)




def station_geometry(gnss: xr.Dataset, primary: xr.Dataset, station) -> tuple[float, float]:
    """Incidence and heading of the primary dataset at a GNSS station.

    The mean incidence and the circular mean heading of the ``k = 8`` primary points nearest to
    the station (:func:`insarfusion.project.primary_geometry_at`).

    Parameters
    ----------
    gnss : xarray.Dataset
        GNSS dataset with station positions ``x``, ``y`` (m) in the CRS of ``primary``.
    primary : xarray.Dataset
        Primary point dataset with ``x``, ``y`` (m), ``incidence`` and ``heading`` (degrees).
    station : str
        Station name.

    Returns
    -------
    incidence, heading : float
        Degrees; heading clockwise from north, in [-180, 180).

    Raises
    ------
    InputError
        If the station is not in ``gnss`` or the primary dataset lacks its geometry.
    """
    i = _station_index(gnss, station)
    inc, head = primary_geometry_at(primary, gnss["x"].values[[i]], gnss["y"].values[[i]])
    return float(inc[0]), float(head[0])


def stations_los_on_epochs(gnss: xr.Dataset, primary: xr.Dataset, epochs, stations
                           ) -> np.ndarray:
    """LOS series of GNSS stations in the primary geometry, averaged onto epochs.

    Per station: the geometry of :func:`station_geometry`, the projection of :func:`gnss_los`
    and the window means of :func:`gnss_on_epochs` (default window: half the median epoch
    spacing either side).

    Parameters
    ----------
    gnss : xarray.Dataset
        GNSS dataset (east/north/up in mm, positions ``x``, ``y`` in the CRS of ``primary``).
    primary : xarray.Dataset
        Primary point dataset with ``x``, ``y`` (m), ``incidence`` and ``heading`` (degrees).
    epochs : array_like of dates, shape (n_epoch,)
    stations : list of str
        Station names, in the order of the rows returned.

    Returns
    -------
    numpy.ndarray, shape (n_station, n_epoch)
        mm, positive toward the satellite, relative to each station's own origin; NaN where no
        GNSS position falls in an epoch's window.

    Raises
    ------
    InputError
        If a station is not in ``gnss`` or the primary dataset lacks its geometry.
    """
    names = [str(s) for s in stations]
    if not names:
        return np.zeros((0, np.size(epochs)))
    rows = [_station_index(gnss, s) for s in names]
    inc, head = primary_geometry_at(primary, gnss["x"].values[rows], gnss["y"].values[rows])
    out = np.full((len(names), np.size(epochs)), np.nan)
    for k, name in enumerate(names):  # a handful of stations
        los = gnss_los(gnss, name, float(inc[k]), float(head[k]))
        out[k] = gnss_on_epochs(np.asarray(los), gnss["time"].values, epochs)
    return out

def validation_stations(gnss: xr.Dataset, reference, final_reference=None) -> list[str]:
    """GNSS stations left for validation: all but the reference ones.

    Parameters
    ----------
    gnss : xarray.Dataset
    reference : str or list of str
        Stations that tied the datasets to the datum.
    final_reference : str, optional
        Station that re-referenced the fused product.

    Returns
    -------
    list of str
        The other stations, in the order of ``gnss``.

    Raises
    ------
    InputError
        A reference station that is not in ``gnss``.
    """
    names = [str(s) for s in np.asarray(gnss["station"].values).astype(str)]
    excluded = [reference] if isinstance(reference, str) else list(reference or [])
    if final_reference:
        excluded.append(final_reference)
    unknown = [str(s) for s in excluded if str(s) not in names]
    if unknown:
        raise InputError(f"reference GNSS station(s) {', '.join(unknown)} not found; the "
                         f"stations are {', '.join(names)}", gnss.attrs.get("source") or None)
    excluded = {str(s) for s in excluded}
    return [n for n in names if n not in excluded]
