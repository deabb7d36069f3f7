"""The simulated InSAR sensors and the sampling of their datasets.

Two sensors imitate the paper's (Khalili et al., 2024, §2–3): COSMO-SkyMed PSI (:data:`CSK`, X
band, persistent scatterers on urban ground only, irregular dates) and Sentinel-1A SBAS
(:data:`S1A`, C band, one point per 40 m multilooked cell, dense on vegetation, 12-day grid;
the primary geometry). :func:`simulate_points` samples one dataset: positions, dates, the true
LOS series of :class:`~insarfusion.simulate.motion.TruthModel`, the errors of
:mod:`insarfusion.simulate.nuisance`, half-wavelength unwrapping jumps and the referencing to
an arbitrary stable point and to the first date. Displacements are LOS mm, positive toward the
satellite; angles degrees (heading clockwise from north).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..conventions import WAVELENGTH_MM, geometry_from_los_vector, los_unit_vector
from ..crs import xy_to_lonlat
from .motion import TruthModel
from .nuisance import atmosphere_at_points, orbital_ramps, point_noise_std
from .scene import (
    CRS,
    FOREST,
    HIGHWAY,
    URBAN,
    VEGETATION,
    SceneGeometry,
    land_cover,
    terrain_height,
)


@dataclass(frozen=True)
class SensorSpec:
    """One simulated InSAR dataset."""

    name: str
    band: str
    technique: str
    incidence_near: float     # degrees at the west edge of the scene
    incidence_far: float      # degrees at the east edge
    heading: float            # degrees clockwise from north
    noise_mm: float           # RMS point noise, mm
    first: np.datetime64
    last: np.datetime64
    n_dates: int
    jump_fraction: float = 0.01

    @property
    def wavelength(self):
        """Radar wavelength of the sensor's band, mm."""
        return WAVELENGTH_MM[self.band]

    def incidence(self, scene, x):
        """Incidence angle (degrees) at working-CRS ``x`` (m), linear across the scene."""
        return self.incidence_near + (self.incidence_far - self.incidence_near) * \
            scene.fraction_x(x)


CSK = SensorSpec("CSK", "X", "PSI", 29.0, 31.0, -10.0, 1.0,
                 np.datetime64("2015-03-12"), np.datetime64("2019-01-13"), 57)
S1A = SensorSpec("S1A", "C", "SBAS", 39.0, 43.0, -12.0, 2.0,
                 np.datetime64("2015-01-10"), np.datetime64("2018-11-26"), 61)
SENSORS = (CSK, S1A)
PRIMARY = "S1A"

#: CSK persistent scatterers per km² of urban ground.
CSK_URBAN_DENSITY = 3000.0
#: S1A multilook cell (m) and the chance that a cell holds a point, by land cover.
S1A_CELL = 40.0
S1A_KEEP = {VEGETATION: 0.95, URBAN: 0.2, HIGHWAY: 0.0, FOREST: 0.06}


def acquisition_dates(spec: SensorSpec, rng):
    """Acquisition dates of a sensor (datetime64[D]) including its first and last date.

    S1A: a random subset of the 12-day grid from ``first`` to ``last``; CSK: a random subset of
    an 8-day grid, each date moved by up to 2 days (irregular, at least 4 days apart).
    """
    first, last = spec.first.astype("datetime64[D]"), spec.last.astype("datetime64[D]")
    span = int((last - first).astype(int))
    if spec.name == "S1A":
        chosen = np.sort(rng.choice(np.arange(12, span, 12), size=spec.n_dates - 2,
                                    replace=False))
    else:
        # the constellation's 8-day pattern, each date shifted by up to 2 days
        chosen = np.sort(rng.choice(np.arange(8, span - 7, 8), size=spec.n_dates - 2,
                                    replace=False))
        chosen = chosen + rng.integers(-2, 3, size=chosen.size)
    return first + np.concatenate([[0], chosen, [span]]).astype("timedelta64[D]")


@dataclass
class SimulatedPoints:
    """One simulated InSAR dataset, before writing (all arrays per point / per date)."""

    spec: SensorSpec
    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    incidence: np.ndarray      # degrees, as written to the file
    heading: np.ndarray        # degrees, as written to the file
    height: np.ndarray         # m
    dates: np.ndarray          # datetime64[D]
    truth_los: np.ndarray      # (n, m) mm, own LOS, relative to the first date
    nuisance: np.ndarray       # (n, m) mm, atmosphere + orbital ramp before referencing
    noise_std: np.ndarray      # (n,) mm
    jump: np.ndarray           # (n, m) mm, unwrapping errors
    displacement: np.ndarray   # (n, m) mm, as written: truth + errors, referenced
    reference: int             # index of the reference point
    cover: np.ndarray          # land-cover code


def sample_csk_positions(rng, scene: SceneGeometry):
    """CSK persistent scatterers: a Poisson process over urban ground (no highway)."""
    xmin, xmax, ymin, ymax = scene.extent
    n = rng.poisson(CSK_URBAN_DENSITY * scene.area_km2)
    x = rng.uniform(xmin, xmax, n)
    y = rng.uniform(ymin, ymax, n)
    keep = land_cover(scene, x, y) == URBAN
    return x[keep], y[keep]


def sample_s1a_positions(rng, scene: SceneGeometry):
    """S1A multilooked cells (centres on multiples of :data:`S1A_CELL`), kept by land cover."""
    xmin, xmax, ymin, ymax = scene.extent
    xs = (np.arange(np.ceil(xmin / S1A_CELL - 0.5), np.floor(xmax / S1A_CELL - 0.5) + 1) + 0.5) \
        * S1A_CELL
    ys = (np.arange(np.ceil(ymin / S1A_CELL - 0.5), np.floor(ymax / S1A_CELL - 0.5) + 1) + 0.5) \
        * S1A_CELL
    gx, gy = np.meshgrid(xs, ys[::-1])
    gx, gy = gx.ravel(), gy.ravel()
    cover = land_cover(scene, gx, gy)
    chance = np.choose(cover, [S1A_KEEP[k] for k in sorted(S1A_KEEP)])
    keep = rng.random(gx.size) < chance
    return gx[keep], gy[keep]


def _geometry(spec: SensorSpec, scene: SceneGeometry, x):
    """Incidence and heading (degrees) per point as the file will state them.

    The values are rounded as the writers round them (EGMS: the LOS vector to 3 decimals; the
    wide CSV: angles to 2 decimals), so that the truth uses exactly the geometry in the file.
    """
    incidence = spec.incidence(scene, x)
    heading = np.full(incidence.shape, spec.heading)
    if spec.name == "S1A":
        vec = np.round(np.stack(los_unit_vector(incidence, heading)), 3)
        return geometry_from_los_vector(*vec)
    return np.round(incidence, 2), np.round(heading, 2)


def simulate_points(rng, spec: SensorSpec, scene: SceneGeometry, model: TruthModel,
                    stations_xy):
    """Sample one dataset: positions, dates, truth, errors, referencing.

    The written series of a point is its true LOS displacement plus atmosphere, orbital ramp,
    white noise and unwrapping jumps, minus the same at the processor's reference point (a
    random point on stable ground more than 300 m from every station) and minus its value at
    the first date.

    Parameters
    ----------
    rng : numpy.random.Generator
        The case's generator; it is drawn from in a fixed order.
    spec : SensorSpec
        The sensor.
    scene : SceneGeometry
        Where the scene lies.
    model : TruthModel
        The true ground motion.
    stations_xy : tuple of ndarray
        Station x, y (m), kept away from the reference point.

    Returns
    -------
    SimulatedPoints
        The dataset; displacements mm, LOS positive toward the satellite.
    """
    if spec.name == "CSK":
        x, y = sample_csk_positions(rng, scene)
    else:
        x, y = sample_s1a_positions(rng, scene)
    n = x.size
    dates = acquisition_dates(spec, rng)
    m = dates.size
    incidence, heading = _geometry(spec, scene, x)
    truth = model.los(x, y, dates, incidence, heading)

    nuisance = atmosphere_at_points(rng, scene, x, y, m) + orbital_ramps(rng, scene, x, y, m)
    noise_std = point_noise_std(rng, spec.noise_mm, n)
    noise = rng.standard_normal((n, m)) * noise_std[:, None]
    n_jump = int(round(spec.jump_fraction * n))
    jumped = rng.choice(n, size=n_jump, replace=False)
    jump_start = rng.integers(1, m, size=n_jump)
    jump_sign = rng.choice([-1.0, 1.0], size=n_jump)
    jump = np.zeros((n, m))
    jump[jumped] = (np.arange(m)[None, :] >= jump_start[:, None]) * \
        (jump_sign[:, None] * spec.wavelength / 2)

    # the processor's reference: a random point on stable ground, away from the stations
    velocity = model.los_velocity(x, y, dates, incidence, heading)
    sx, sy = stations_xy
    far = np.hypot(x[:, None] - sx[None, :], y[:, None] - sy[None, :]).min(axis=1) > 300.0
    candidates = np.flatnonzero((np.abs(velocity) < 0.2) & far & (jump.sum(axis=1) == 0))
    if candidates.size == 0:
        candidates = np.array([int(np.argmin(np.abs(velocity)))])
    reference = int(rng.choice(candidates))

    observed = truth + nuisance + noise + jump
    observed = observed - observed[reference][None, :]
    observed = observed - observed[:, :1]

    lon, lat = xy_to_lonlat(x, y, CRS)
    prefix = "PS" if spec.technique == "PSI" else "DS"
    ids = np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), 7))
    return SimulatedPoints(
        spec=spec, ids=ids, x=x, y=y, lon=lon, lat=lat, incidence=incidence, heading=heading,
        height=terrain_height(scene, x, y), dates=dates, truth_los=truth, nuisance=nuisance,
        noise_std=noise_std, jump=jump, displacement=observed, reference=reference,
        cover=land_cover(scene, x, y))
