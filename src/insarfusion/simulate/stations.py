"""The simulated GNSS stations: weekly east/north/up positions with noise, gaps and outliers.

The 11 stations of :data:`~insarfusion.simulate.scene.STATIONS` (named as in the paper's
Figure 4; references M01 and M21) record the true motion of
:class:`~insarfusion.simulate.motion.TruthModel` every week, with white noise
(:data:`GNSS_NOISE_MM`: 1.5 mm horizontal, 4 mm vertical), scattered missing weeks, one outage
per station and a few outliers. Positions are mm, east/north/up positive toward east, north and
up, relative to the first week.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..crs import xy_to_lonlat
from .motion import TruthModel
from .scene import CRS, STATIONS, SceneGeometry, terrain_height

#: GNSS: weekly epochs, white noise (mm), fraction of missing weeks, outliers.
GNSS_FIRST, GNSS_LAST = np.datetime64("2015-01-03"), np.datetime64("2019-02-23")
GNSS_NOISE_MM = (1.5, 1.5, 4.0)
GNSS_MISSING_FRACTION = 0.04
GNSS_OUTLIERS_PER_STATION = 2


@dataclass
class SimulatedGnss:
    """The GNSS stations, before writing."""

    names: list
    roles: list
    x: np.ndarray
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    height: np.ndarray
    dates: np.ndarray                # datetime64[D], weekly
    truth_enu: np.ndarray            # (3, station, time) mm relative to the first date
    observed_enu: np.ndarray         # (3, station, time) mm, NaN where missing
    sigma: np.ndarray                # (3,) mm
    outlier: np.ndarray              # (station, time) bool


def simulate_gnss(rng, scene: SceneGeometry, model: TruthModel):
    """Weekly ENU positions of the 11 stations with noise, gaps and outliers.

    Parameters
    ----------
    rng : numpy.random.Generator
        The case's generator; it is drawn from in a fixed order.
    scene : SceneGeometry
        Where the stations stand (:meth:`SceneGeometry.station_xy`).
    model : TruthModel
        The true ground motion.

    Returns
    -------
    SimulatedGnss
        True and observed east/north/up (mm, positive toward east, north, up) relative to the
        first week; observed NaN on missing weeks.
    """
    x, y = scene.station_xy()
    dates = np.arange(GNSS_FIRST, GNSS_LAST + np.timedelta64(1, "D"), np.timedelta64(7, "D"))
    n, m = x.size, dates.size
    truth = np.stack(model.enu(x, y, dates))
    sigma = np.asarray(GNSS_NOISE_MM)
    observed = truth + rng.standard_normal((3, n, m)) * sigma[:, None, None]
    # gaps: scattered missing weeks plus one outage of 2–10 weeks per station
    missing = rng.random((n, m)) < GNSS_MISSING_FRACTION
    outage_start = rng.integers(10, m - 20, size=n)
    outage_length = rng.integers(2, 11, size=n)
    week = np.arange(m)[None, :]
    missing |= (week >= outage_start[:, None]) & (week < (outage_start + outage_length)[:, None])
    missing[:, 0] = False  # each file starts with a valid epoch, its own origin
    # outliers: a few weeks off by 15–30 mm in a random direction
    outlier = np.zeros((n, m), dtype=bool)
    rows = np.repeat(np.arange(n), GNSS_OUTLIERS_PER_STATION)
    cols = rng.integers(1, m, size=rows.size)
    outlier[rows, cols] = True
    direction = rng.standard_normal((3, rows.size))
    direction /= np.linalg.norm(direction, axis=0)
    observed[:, rows, cols] += direction * rng.uniform(15.0, 30.0, size=rows.size)
    outlier &= ~missing
    observed[:, missing] = np.nan
    lon, lat = xy_to_lonlat(x, y, CRS)
    return SimulatedGnss(
        names=list(STATIONS), roles=[v[2] for v in STATIONS.values()], x=x, y=y, lon=lon,
        lat=lat, height=terrain_height(scene, x, y) + 24.5, dates=dates, truth_enu=truth,
        observed_enu=observed, sigma=sigma, outlier=outlier)
