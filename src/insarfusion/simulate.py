"""A simulated Cuenca-like case with a known truth (``insarfusion simulate`` and the demo data).

The scene imitates the setting of Khalili et al. (2024, §2–3): a 1.5 × 1.5 km slope in the
south-east of Cuenca, Ecuador (around lon −79.00, lat −2.92; working CRS UTM 17S, EPSG:32717)
with two slow rotational landslides, observed by

* COSMO-SkyMed PSI (X band): 57 irregular acquisitions 2015-03-12 … 2019-01-13, incidence about
  29–31°, ascending heading −10°, persistent scatterers in urban blocks only, point noise ~1 mm;
* Sentinel-1A SBAS (C band): 61 acquisitions on the 12-day grid 2015-01-10 … 2018-11-26,
  incidence 39–43° across range, heading −12°, one point per 40 m multilooked cell, dense on
  vegetation and sparse in town, noise ~2 mm;
* 11 GNSS stations named as in the paper's Figure 4 (references M01, M21), weekly positions.

The truth is analytic (:class:`TruthModel`): a sum of separable terms, each a 3-D (east, north,
up) amplitude field in space times a function of time — secular creep, an annual term and an
acceleration from mid-2017 in the middle of the western landslide. It can be evaluated at any
place and date. The western landslide moves SW→NE, the eastern one S→N; their crowns subside and
their toes bulge. Ground outside the two bodies does not move.

The input files carry the errors real stacks have: per-epoch spatially correlated atmospheric
delay (Gaussian random fields made by FFT on a coarse grid, exponential covariance, correlation
length ~700 m), per-epoch orbital ramps, white point noise, half-wavelength unwrapping jumps at
about 1 % of the points, and referencing of every dataset to its own arbitrary stable point and
its own first date. GNSS gets white noise (1.5 mm horizontal, 4 mm vertical), gaps and outliers.

``scale=K`` tiles the 1.5 km pattern over a scene K times larger (side × √K) with K times more
points; the 11 stations stay in the central tile. Every random number comes from one
:class:`numpy.random.Generator` seeded with ``seed``, drawn in a fixed order, so one seed gives
byte-identical input files.

Public functions: :func:`write_case`, :func:`simulate_case`, :func:`load_truth`,
:func:`dataset_truth`, :func:`plot_case`, and :class:`TruthModel`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from .conventions import (
    DAYS_PER_YEAR,
    WAVELENGTH_MM,
    as_days,
    geometry_from_los_vector,
    los_unit_vector,
)
from .crs import lonlat_to_xy, xy_to_lonlat
from .errors import InputError
from .grid import DEFAULT_CELL_SIZE
from .series import linear_rate
from .timegrid import common_epochs

#: Working CRS of the case (WGS 84 / UTM zone 17S).
CRS = "EPSG:32717"
#: Centre of the scene (WGS84 degrees).
CENTRE_LON, CENTRE_LAT = -79.00, -2.92
#: Side of one tile of the landslide pattern (m); a scale-1 scene is one tile.
TILE_SIZE = 1500.0
#: Origin of the truth's time functions.
MODEL_ORIGIN = np.datetime64("2015-01-01", "D")

#: Land-cover codes: grass and crops on the cleared landslide bodies, buildings, the highway,
#: and woodland on the stable ground around (C-band decorrelates there).
VEGETATION, URBAN, HIGHWAY, FOREST = 0, 1, 2, 3
LAND_COVER_NAMES = {VEGETATION: "vegetation", URBAN: "urban", HIGHWAY: "highway",
                    FOREST: "forest"}

#: Urban blocks (tile-local metres: xmin, xmax, ymin, ymax): campus on the western landslide,
#: the town over the toes, buildings on the eastern crown, and a few scattered houses.
URBAN_BLOCKS = (
    (-420.0, -200.0, -130.0, 90.0),    # campus
    (-150.0, 520.0, -20.0, 330.0),     # town over the lower bodies and the toes
    (200.0, 470.0, -560.0, -380.0),    # buildings on the eastern crown
    (-715.0, -595.0, 575.0, 695.0),    # houses around M21 (stable)
    (590.0, 710.0, 590.0, 710.0),      # houses around M01 (stable)
)
#: The highway crosses the scene from west to east: y = offset + slope * x, half-width (m).
HIGHWAY_LINE = (60.0, 0.10, 15.0)

#: GNSS stations: name -> (tile-local x, y in m, role). Roles "reference" and "validation".
#: Placed so that their true LOS rates resemble the paper's Table 4 (M09 −6 … M23 −10 mm/yr);
#: M17, M19, M20 and M22 stand on grass or woodland more than 80 m from any building, so CSK
#: has no scatterer near them.
STATIONS = {
    "M01": (640.0, 640.0, "reference"),
    "M21": (-655.0, 635.0, "reference"),
    "M09": (-70.0, 280.0, "validation"),
    "M10": (-120.0, 40.0, "validation"),
    "M15": (-405.0, -115.0, "validation"),
    "M17": (-610.0, 400.0, "validation"),
    "M18": (490.0, 160.0, "validation"),
    "M19": (-540.0, -650.0, "validation"),
    "M20": (640.0, -580.0, "validation"),
    "M22": (670.0, -100.0, "validation"),
    "M23": (420.0, -410.0, "validation"),
}


@dataclass(frozen=True)
class Landslide:
    """A rotational slide: a rounded-rectangle body (tile-local metres) moving as a block.

    The outline is the superellipse ``|du/half_x|^4 + |dv/half_y|^4 = 1`` around ``centre``.
    Horizontal motion is along ``azimuth`` (degrees clockwise from north) at ``speed`` (mm/yr)
    over the body and tapers to zero over its outer margin. Along the motion, ``s`` runs from
    −1 at the crown to +1 at the toe (``reach`` metres from the centre): the crown subsides
    (peak ``crown_sink * speed``) and the toe bulges (peak ``toe_rise * speed``, centred at
    ``s = toe_at``). The annual
    term has amplitude ``seasonal_mm`` (mm) over the body.
    """

    name: str
    centre: tuple[float, float]
    half_x: float
    half_y: float
    azimuth: float
    reach: float
    speed: float
    crown_sink: float
    toe_rise: float
    seasonal_mm: float
    toe_at: float = 0.8

    #: Width of the marginal taper, as a fraction of the normalised radius.
    EDGE = 0.2
    #: Exponent of the superellipse outline.
    SHAPE = 6.0

    def radius(self, u, v):
        """Normalised radius: < 1 inside the body."""
        du = (u - self.centre[0]) / self.half_x
        dv = (v - self.centre[1]) / self.half_y
        return (np.abs(du) ** self.SHAPE + np.abs(dv) ** self.SHAPE) ** (1.0 / self.SHAPE)

    def along(self, u, v):
        """``s``: −1 at the crown, +1 at the toe, along the direction of motion."""
        az = np.deg2rad(self.azimuth)
        return ((u - self.centre[0]) * np.sin(az) + (v - self.centre[1]) * np.cos(az)) \
            / self.reach

    def inside(self, u, v):
        return self.radius(u, v) < 1.0

    def unit_field(self, u, v):
        """East, north, up displacement pattern per unit of ``speed`` (dimensionless)."""
        taper = _smoothstep((1.0 - self.radius(u, v)) / self.EDGE)
        s = self.along(u, v)
        az = np.deg2rad(self.azimuth)
        up = taper * (self.toe_rise * _bump(s, self.toe_at, 0.28)
                      - self.crown_sink * _bump(s, -0.7, 0.45))
        return np.stack([taper * np.sin(az), taper * np.cos(az), up])

    def outline(self, n=241):
        """Tile-local (x, y) of the outline, metres."""
        phi = np.linspace(0, 2 * np.pi, n)
        c, s = np.cos(phi), np.sin(phi)
        p = 2.0 / self.SHAPE
        return (self.centre[0] + self.half_x * np.sign(c) * np.abs(c) ** p,
                self.centre[1] + self.half_y * np.sign(s) * np.abs(s) ** p)


def _smoothstep(z):
    """0 below 0, 1 above 1, ``3z² - 2z³`` between."""
    z = np.clip(z, 0.0, 1.0)
    return z * z * (3.0 - 2.0 * z)


def _bump(s, middle, half_width):
    """Compactly supported bump ``(1 - ((s - middle)/half_width)²)²``, zero outside."""
    return np.clip(1.0 - ((s - middle) / half_width) ** 2, 0.0, None) ** 2


LANDSLIDES = (
    Landslide("west", centre=(-345.0, -100.0), half_x=375.0, half_y=600.0, azimuth=45.0,
              reach=650.0, speed=15.0, crown_sink=0.45, toe_rise=0.6, seasonal_mm=2.5,
              toe_at=0.55),
    Landslide("east", centre=(375.0, -90.0), half_x=335.0, half_y=610.0, azimuth=0.0,
              reach=610.0, speed=25.0, crown_sink=0.5, toe_rise=0.85, seasonal_mm=2.0),
)

#: The fast middle of the western landslide (campus): centre (tile-local m), Gaussian sigma (m)
#: and extra speed at its centre (mm/yr), steady over the whole period.
FAST_CORE = dict(centre=(-290.0, -40.0), sigma=110.0, extra_speed=40.0)
#: Acceleration of the western landslide's middle from mid-2017: centre (tile-local m), radius
#: (Gaussian sigma, m), extra peak speed (mm/yr), onset date and its smoothing (years).
ACCELERATION = dict(centre=(-220.0, 40.0), sigma=150.0, extra_speed=40.0,
                    onset=np.datetime64("2017-06-15"), smoothing_years=0.08)
#: Phase of the annual term: date of its maximum displacement.
SEASONAL_PEAK = np.datetime64("2015-04-15")


@dataclass
class SceneGeometry:
    """Where the scene lies: its centre and extent in the working CRS (metres)."""

    scale: float = 1.0
    centre_x: float = field(init=False)
    centre_y: float = field(init=False)
    side: float = field(init=False)

    def __post_init__(self):
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise InputError(f"scale must be a positive number, got {self.scale!r}")
        cx, cy = lonlat_to_xy(CENTRE_LON, CENTRE_LAT, CRS)
        # centre on a multiple of the output cell so that the central tile sits on the grid
        self.centre_x = float(np.round(cx / DEFAULT_CELL_SIZE) * DEFAULT_CELL_SIZE)
        self.centre_y = float(np.round(cy / DEFAULT_CELL_SIZE) * DEFAULT_CELL_SIZE)
        self.side = TILE_SIZE * float(np.sqrt(self.scale))

    @property
    def extent(self):
        """(xmin, xmax, ymin, ymax), metres."""
        h = self.side / 2
        return (self.centre_x - h, self.centre_x + h, self.centre_y - h, self.centre_y + h)

    @property
    def area_km2(self):
        return (self.side / 1000.0) ** 2

    def tile_local(self, x, y):
        """Coordinates relative to the centre of the tile holding each point (m)."""
        h = TILE_SIZE / 2
        u = np.mod(np.asarray(x, float) - self.centre_x + h, TILE_SIZE) - h
        v = np.mod(np.asarray(y, float) - self.centre_y + h, TILE_SIZE) - h
        return u, v

    def fraction_x(self, x):
        """Position across the scene from west (0) to east (1): the range direction."""
        xmin, xmax = self.extent[:2]
        return np.clip((np.asarray(x, float) - xmin) / (xmax - xmin), 0.0, 1.0)

    def station_xy(self):
        """Working-CRS x, y (m) of the stations, in the order of :data:`STATIONS`."""
        local = np.array([v[:2] for v in STATIONS.values()])
        return self.centre_x + local[:, 0], self.centre_y + local[:, 1]


class TruthModel:
    """The true ground motion: an analytic east/north/up field in space and time.

    ``enu(x, y, time)`` is a sum of terms ``field_k(x, y) * f_k(t)``: for each landslide a
    secular term (mm/yr × years) and an annual term, and for the western one the acceleration
    from mid-2017. Ground outside the landslides does not move (GNSS datum).

    Parameters
    ----------
    scene : SceneGeometry
        Places the tiled pattern in the working CRS.
    """

    def __init__(self, scene: SceneGeometry):
        self.scene = scene

    # -- space ---------------------------------------------------------------------------------
    def fields(self, x, y):
        """ENU amplitude of every term at the points, shape (n_terms, 3, n): mm/yr or mm.

        Terms: for each landslide its secular (mm/yr) and annual (mm) patterns, then the fast
        core of the western landslide (mm/yr) and its acceleration (mm/yr after the onset).
        """
        u, v = self.scene.tile_local(x, y)
        terms = []
        for slide in LANDSLIDES:
            unit = slide.unit_field(u, v)
            terms.append(unit * slide.speed)
            terms.append(unit * slide.seasonal_mm)
        west = LANDSLIDES[0].unit_field(u, v)
        for patch in (FAST_CORE, ACCELERATION):
            cu, cv = patch["centre"]
            weight = np.exp(-((u - cu) ** 2 + (v - cv) ** 2) / (2 * patch["sigma"] ** 2))
            terms.append(west * weight * patch["extra_speed"])
        return np.stack(terms)

    def landslide_id(self, x, y):
        """0 on stable ground, 1 on the western and 2 on the eastern landslide."""
        u, v = self.scene.tile_local(x, y)
        out = np.zeros(np.shape(u), dtype=np.int8)
        for k, slide in enumerate(LANDSLIDES, start=1):
            out[slide.inside(u, v) & (out == 0)] = k
        return out

    # -- time ----------------------------------------------------------------------------------
    @staticmethod
    def time_functions(time):
        """Value of every term's time function at the dates, shape (n_terms, m).

        Secular terms are years since :data:`MODEL_ORIGIN`; annual terms a unit sine peaking on
        the anniversary of :data:`SEASONAL_PEAK`; the acceleration a smoothed ramp (years)
        starting at its onset.
        """
        days = as_days(np.atleast_1d(time)).astype("int64").astype(float)
        t = (days - MODEL_ORIGIN.astype("int64")) / DAYS_PER_YEAR
        peak = (SEASONAL_PEAK - MODEL_ORIGIN).astype(int) / DAYS_PER_YEAR
        annual = np.cos(2 * np.pi * (t - peak))
        onset = (ACCELERATION["onset"].astype("datetime64[D]") - MODEL_ORIGIN).astype(int) \
            / DAYS_PER_YEAR
        tau = ACCELERATION["smoothing_years"]
        ramp = tau * np.logaddexp(0.0, (t - onset) / tau)
        rows = []
        for _ in LANDSLIDES:
            rows += [t, annual]
        rows += [t, ramp]
        return np.stack(rows)

    # -- evaluation ----------------------------------------------------------------------------
    def enu(self, x, y, time, origin=None):
        """True east, north, up displacement (mm) at points and dates.

        Parameters
        ----------
        x, y : array_like, shape (n,)
            Working-CRS metres.
        time : array_like of dates, shape (m,)
        origin : date-like, optional
            Displacements are relative to this date (default: the first of ``time``).

        Returns
        -------
        east, north, up : ndarray, shape (n, m)
            mm; east and north positive toward east and north, up positive upward.
        """
        time = as_days(np.atleast_1d(time))
        f = self._relative_time_functions(time, origin)
        enu = np.einsum("kcn,km->cnm", self.fields(np.atleast_1d(x), np.atleast_1d(y)), f)
        return enu[0], enu[1], enu[2]

    def los(self, x, y, time, incidence, heading, origin=None, dtype=float):
        """True LOS displacement (mm, positive toward the satellite) at points and dates.

        ``incidence`` and ``heading`` (degrees) are per point or scalars. Shape (n, m),
        relative to ``origin`` (default the first date).
        """
        time = as_days(np.atleast_1d(time))
        f = self._relative_time_functions(time, origin)
        return (self.los_fields(x, y, incidence, heading).T @ f).astype(dtype)

    def los_fields(self, x, y, incidence, heading):
        """Amplitude of every term projected on the LOS, shape (n_terms, n)."""
        e = np.stack(np.broadcast_arrays(*los_unit_vector(incidence, heading)))
        fields = self.fields(np.atleast_1d(x), np.atleast_1d(y))
        return np.einsum("kcn,cn->kn", fields, np.broadcast_to(e.reshape(3, -1),
                                                                (3, fields.shape[2])))

    def los_velocity(self, x, y, time, incidence, heading):
        """Least-squares LOS velocity (mm/yr) of the true series over the dates ``time``."""
        rates = linear_rate(as_days(time), self.time_functions(time))
        return rates @ self.los_fields(x, y, incidence, heading)

    def _relative_time_functions(self, time, origin):
        f = self.time_functions(time)
        f0 = self.time_functions([time[0] if origin is None else origin])
        return f - f0


# ------------------------------------------------------------------------------------------------
# Land cover, topography, sensor geometry


def land_cover(scene: SceneGeometry, x, y):
    """Land-cover code per point (:data:`LAND_COVER_NAMES`).

    Outside the landslide bodies the ground is woodland, inside it grass; urban blocks and the
    highway are drawn over both.
    """
    u, v = scene.tile_local(x, y)
    on_slide = np.zeros(np.shape(u), dtype=bool)
    for slide in LANDSLIDES:
        on_slide |= slide.inside(u, v)
    cover = np.where(on_slide, VEGETATION, FOREST).astype(np.int8)
    for x0, x1, y0, y1 in URBAN_BLOCKS:
        cover[(u >= x0) & (u < x1) & (v >= y0) & (v < y1)] = URBAN
    offset, slope, half = HIGHWAY_LINE
    cover[np.abs(v - (offset + slope * u)) < half] = HIGHWAY
    return cover


def terrain_height(scene: SceneGeometry, x, y):
    """Orthometric height (m): the slope rises southward from the valley floor (~2550 m)."""
    u, v = scene.tile_local(x, y)
    return 2550.0 + 0.16 * (TILE_SIZE / 2 - v) + 12.0 * np.sin(u / 170.0) * np.cos(v / 230.0)


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
        return WAVELENGTH_MM[self.band]

    def incidence(self, scene, x):
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

#: GNSS: weekly epochs, white noise (mm), fraction of missing weeks, outliers.
GNSS_FIRST, GNSS_LAST = np.datetime64("2015-01-03"), np.datetime64("2019-02-23")
GNSS_NOISE_MM = (1.5, 1.5, 4.0)
GNSS_MISSING_FRACTION = 0.04
GNSS_OUTLIERS_PER_STATION = 2

#: Atmosphere: correlation length (m), median per-epoch standard deviation (mm), FFT cell (m).
ATMOSPHERE_CORRELATION_M = 700.0
ATMOSPHERE_STD_MM = 2.5
ATMOSPHERE_CELL_M = 60.0
#: Orbital ramp: RMS gradient per axis, mm/km.
RAMP_MM_PER_KM = 0.5


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


# ------------------------------------------------------------------------------------------------
# Errors


def gaussian_random_fields(rng, n_fields, shape, cell, correlation, std):
    """Stationary Gaussian random fields by FFT filtering of white noise.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_fields : int
    shape : (ny, nx)
        Grid size (cells); the FFT domain is periodic, so pad beyond the area of interest.
    cell : float
        Cell size, m.
    correlation : float
        Correlation length of the exponential covariance ``exp(-r / correlation)``, m.
    std : array_like, shape (n_fields,)
        Standard deviation of each field (its units are the fields' units).

    Returns
    -------
    ndarray, shape (n_fields, ny, nx)
    """
    ny, nx = shape
    ky = np.fft.fftfreq(ny, d=cell) * 2 * np.pi
    kx = np.fft.rfftfreq(nx, d=cell) * 2 * np.pi
    k2 = ky[:, None] ** 2 + kx[None, :] ** 2
    # 2-D spectrum of the exponential covariance, normalised to unit variance on this grid
    spectrum = (1.0 + k2 * correlation**2) ** -1.5
    weight = np.full(kx.size, 2.0)
    weight[0] = 1.0
    if nx % 2 == 0:
        weight[-1] = 1.0
    spectrum *= ny * nx / (spectrum * weight[None, :]).sum()
    white = rng.standard_normal((n_fields, ny, nx))
    filtered = np.fft.irfft2(np.fft.rfft2(white, norm="ortho") * np.sqrt(spectrum),
                             s=(ny, nx), norm="ortho")
    return filtered * np.asarray(std, float)[:, None, None]


def atmosphere_at_points(rng, scene: SceneGeometry, x, y, n_epochs):
    """Per-epoch atmospheric delay (mm) at the points, shape (n, n_epochs).

    Fields are drawn on a coarse grid (:data:`ATMOSPHERE_CELL_M`) padded by three correlation
    lengths and interpolated bilinearly to the points. Per-epoch standard deviations are
    log-normal around :data:`ATMOSPHERE_STD_MM` (a few stormy dates are worse).
    """
    xmin, _, ymin, _ = scene.extent
    pad = 3 * ATMOSPHERE_CORRELATION_M
    n = int(np.ceil((scene.side + 2 * pad) / ATMOSPHERE_CELL_M)) + 2
    std = ATMOSPHERE_STD_MM * np.exp(0.4 * rng.standard_normal(n_epochs))
    fields = gaussian_random_fields(rng, n_epochs, (n, n), ATMOSPHERE_CELL_M,
                                    ATMOSPHERE_CORRELATION_M, std)
    fc = (np.asarray(x) - (xmin - pad)) / ATMOSPHERE_CELL_M
    fr = (np.asarray(y) - (ymin - pad)) / ATMOSPHERE_CELL_M
    c0 = np.clip(np.floor(fc).astype(np.int64), 0, n - 2)
    r0 = np.clip(np.floor(fr).astype(np.int64), 0, n - 2)
    tc, tr = fc - c0, fr - r0
    flat = fields.reshape(n_epochs, -1)
    out = (flat[:, r0 * n + c0] * ((1 - tr) * (1 - tc)) + flat[:, r0 * n + c0 + 1] * ((1 - tr) * tc)
           + flat[:, (r0 + 1) * n + c0] * (tr * (1 - tc)) + flat[:, (r0 + 1) * n + c0 + 1] * (tr * tc))
    return out.T


def orbital_ramps(rng, scene: SceneGeometry, x, y, n_epochs):
    """Per-epoch planar ramps (mm) at the points, zero at the scene centre, shape (n, m)."""
    gradients = rng.normal(0.0, RAMP_MM_PER_KM / 1000.0, size=(2, n_epochs))
    dx = np.asarray(x) - scene.centre_x
    dy = np.asarray(y) - scene.centre_y
    return dx[:, None] * gradients[0] + dy[:, None] * gradients[1]


def point_noise_std(rng, noise_mm, n):
    """Per-point noise standard deviation (mm), log-normal with RMS exactly ``noise_mm``."""
    spread = 0.3
    return noise_mm * np.exp(spread * rng.standard_normal(n) - spread**2)


def coherence_from_noise(noise_std_mm, wavelength_mm):
    """Temporal coherence implied by a LOS noise level: ``exp(-σφ²/2)``, σφ = 4πσ/λ (rad)."""
    sigma_phase = 4 * np.pi * np.asarray(noise_std_mm) / wavelength_mm
    return np.exp(-(sigma_phase**2) / 2)


# ------------------------------------------------------------------------------------------------
# Sampling the datasets


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
    """Sample one dataset: positions, dates, truth, errors, referencing."""
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
    """Weekly ENU positions of the 11 stations with noise, gaps and outliers."""
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


# ------------------------------------------------------------------------------------------------
# The whole case


@dataclass
class SimulatedCase:
    """Everything a case folder holds, in memory."""

    seed: int
    scale: float
    scene: SceneGeometry
    model: TruthModel
    datasets: dict
    gnss: SimulatedGnss
    epochs: np.ndarray
    truth: xr.Dataset


def simulate_case(seed: int = 0, scale: float = 1.0) -> SimulatedCase:
    """Simulate the datasets, the stations and the truth (nothing is written).

    Parameters
    ----------
    seed : int
        Seed of the single random generator.
    scale : float
        Area and point-count factor (1: the 1.5 × 1.5 km scene, ~1,000 points per sensor).
    """
    rng = np.random.default_rng(seed)
    scene = SceneGeometry(float(scale))
    model = TruthModel(scene)
    stations_xy = scene.station_xy()
    datasets = {spec.name: simulate_points(rng, spec, scene, model, stations_xy)
                for spec in SENSORS}
    gnss = simulate_gnss(rng, scene, model)
    epochs = common_epochs({k: v.dates for k, v in datasets.items()}, step_days=12)
    from .simulate_io import truth_dataset

    truth = truth_dataset(scene, model, datasets, gnss, epochs, seed=seed, scale=scale)
    return SimulatedCase(seed=int(seed), scale=float(scale), scene=scene, model=model,
                         datasets=datasets, gnss=gnss, epochs=epochs, truth=truth)


def write_case(out, seed: int = 0, scale: float = 1.0, force: bool = False) -> str:
    """Simulate a case and write it to the folder ``out``.

    The folder receives ``csk_psi.csv`` (wide CSV), ``s1a_sbas.csv`` (EGMS L2b CSV),
    ``gnss/<station>.tenv3`` (NGL), ``config.yaml``, ``truth.nc`` and ``README.md``. It is
    written into a temporary sibling folder first and renamed into place, so that a failure
    leaves nothing half-written.

    Parameters
    ----------
    out : path-like
        The case folder; must not exist or be empty unless ``force``.
    seed : int
        Random seed; one seed gives byte-identical input files.
    scale : float
        Multiplies the area and the number of points (stations stay 11).
    force : bool
        Replace an existing non-empty folder.

    Returns
    -------
    str
        A short human summary of what was written.
    """
    from .simulate_io import write_case_files

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", out)
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError("folder exists and is not empty (use --force to replace it)", out)
    case = simulate_case(seed=seed, scale=scale)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        written = write_case_files(case, staging)
        os.chmod(staging, 0o755)
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, trash / "case")
            os.replace(staging, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return case_summary(case, out, written)


def case_summary(case: SimulatedCase, out, written) -> str:
    """A few lines saying what a case holds."""
    lines = [f"simulated Cuenca-like case (seed {case.seed}, scale {case.scale:g}) in {out}:"]
    for name, ds in case.datasets.items():
        lines.append(f"  {name}: {ds.ids.size} points, {ds.dates.size} acquisitions "
                     f"{ds.dates[0]}..{ds.dates[-1]} ({ds.spec.band} band {ds.spec.technique})")
    g = case.gnss
    lines.append(f"  GNSS: {len(g.names)} stations ({', '.join(g.names)}), weekly "
                 f"{g.dates[0]}..{g.dates[-1]}")
    t = case.truth
    lines.append(f"  truth: {t.sizes['time']} common epochs {case.epochs[0]}..{case.epochs[-1]}"
                 f" on a {t.sizes['y']} x {t.sizes['x']} grid of "
                 f"{t.attrs['cell_size']:g} m")
    lines.append(f"  files: {', '.join(written)}")
    return "\n".join(lines)


def load_truth(path, lazy: bool = False) -> xr.Dataset:
    """Read a case's ``truth.nc`` (``lazy``: open it, reading each variable when it is used;
    close it when done).

    Variables (mm, mm/yr, degrees; LOS positive toward the satellite; GNSS datum, i.e. ground
    motion with no InSAR reference and no errors):

    * grid, dims ``time`` (the common epochs), ``y``, ``x`` (cell centres, EPSG:32717):
      ``displacement`` (time, y, x) true LOS displacement in the primary (S1A) geometry relative
      to the first common epoch; ``velocity`` (y, x) its least-squares rate; ``incidence``,
      ``heading`` (y, x) the primary geometry; ``landslide`` (y, x) 0 stable / 1 west / 2 east;
      ``land_cover`` (y, x) 0 vegetation / 1 urban / 2 highway.
    * per dataset ``D`` (``CSK``, ``S1A``), dims ``D_point`` (ids as in the file) and ``D_time``
      (its acquisitions): ``D_x``, ``D_y`` (m), ``D_los`` (D_point, D_time) truth in its own LOS
      relative to its first date; ``D_primary`` (D_point, time) truth in the primary LOS at the
      common epochs relative to the first; ``D_velocity`` (own LOS, own dates) and
      ``D_primary_velocity`` (mm/yr); ``D_nuisance`` (D_point, D_time) atmosphere + orbital ramp
      relative to the first date; ``D_noise_std`` (mm, RMS white noise of the point);
      ``D_unwrap_jump`` (1 where the point has a half-wavelength jump); attrs ``D_reference``
      (id of the reference point). The file holds, per point ``i`` and date ``t``,
      ``los + nuisance + noise(t) - noise(first date) + jump``, minus the same at the reference
      point.
    * stations, dims ``station`` and ``gnss_time`` (weekly): ``gnss_east``, ``gnss_north``,
      ``gnss_up`` (station, gnss_time) true positions relative to the first week;
      ``gnss_los`` the same in the primary LOS; ``station_x``, ``station_y``, ``station_lon``,
      ``station_lat``, ``station_role`` ("reference"/"validation"), ``station_velocity``
      (true primary-LOS rate over the common epochs, mm/yr), ``station_incidence``,
      ``station_heading``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such truth file", path)
    if lazy:
        return xr.open_dataset(path)
    with xr.open_dataset(path) as ds:
        return ds.load()


def dataset_truth(truth: xr.Dataset, name: str) -> xr.Dataset:
    """The truth of one input dataset with plain dims ``point``, ``time`` and ``epoch``.

    Returns variables ``los`` (point, time: own LOS, own dates), ``primary`` (point, epoch:
    primary LOS at the common epochs), ``nuisance``, ``velocity``, ``primary_velocity``,
    ``noise_std``, ``unwrap_jump`` and coordinates ``x``, ``y``.
    """
    if f"{name}_los" not in truth:
        have = sorted(v[:-4] for v in truth.data_vars if v.endswith("_los") and v != "gnss_los")
        raise InputError(f"the truth has no dataset {name!r} (have: {', '.join(have)})")
    keys = ("los", "primary", "nuisance", "velocity", "primary_velocity", "noise_std",
            "unwrap_jump")
    out = xr.Dataset({k: truth[f"{name}_{k}"] for k in keys})
    out = out.rename({f"{name}_point": "point", f"{name}_time": "time", "time": "epoch"})
    out = out.assign_coords(x=("point", truth[f"{name}_x"].values),
                            y=("point", truth[f"{name}_y"].values))
    out.attrs["reference"] = truth.attrs.get(f"{name}_reference", "")
    return out


def plot_case(case_dir, path) -> Path:
    """Figure of a case: the true LOS velocity with landslide outlines and stations, and the
    CSK and S1A points coloured by the velocity in their files (mm/yr).

    Returns the path of the PNG written.
    """
    from .simulate_io import plot_case_figure

    return plot_case_figure(Path(case_dir), Path(path))


__all__ = ["CRS", "LANDSLIDES", "SENSORS", "STATIONS", "Landslide", "SceneGeometry",
           "SimulatedCase", "TruthModel", "dataset_truth", "land_cover", "load_truth",
           "plot_case", "simulate_case", "write_case"]
