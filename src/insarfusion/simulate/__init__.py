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

Modules, each depending only on those before it: :mod:`.scene` (geometry, landslides, land
cover, terrain, station positions), :mod:`.motion` (the true motion), :mod:`.nuisance`
(atmosphere, ramps, noise), :mod:`.sensors` (the InSAR datasets), :mod:`.stations` (GNSS),
:mod:`.truth` (``truth.nc``), :mod:`.formats` (the input files), :mod:`.case` (a whole case)
and :mod:`.figure`.
"""

from .case import SimulatedCase, case_summary, simulate_case, write_case
from .figure import plot_case
from .formats import (
    CONFIG_FILE,
    CSK_FILE,
    EGMS_COLUMNS,
    GEOID_UNDULATION_M,
    GNSS_DIR,
    README_FILE,
    S1A_FILE,
    TENV3_HEADER,
    TRUTH_FILE,
    case_config,
    case_readme,
    harmonic_fit,
    tenv3_text,
    write_case_files,
    write_csk_csv,
    write_egms_csv,
    write_gnss,
)
from .motion import ACCELERATION, FAST_CORE, MODEL_ORIGIN, SEASONAL_PEAK, TruthModel
from .nuisance import (
    ATMOSPHERE_CELL_M,
    ATMOSPHERE_CORRELATION_M,
    ATMOSPHERE_STD_MM,
    RAMP_MM_PER_KM,
    atmosphere_at_points,
    coherence_from_noise,
    gaussian_random_fields,
    orbital_ramps,
    point_noise_std,
)
from .scene import (
    CENTRE_LAT,
    CENTRE_LON,
    CRS,
    FOREST,
    HIGHWAY,
    HIGHWAY_LINE,
    LAND_COVER_NAMES,
    LANDSLIDES,
    STATIONS,
    TILE_SIZE,
    URBAN,
    URBAN_BLOCKS,
    VEGETATION,
    Landslide,
    SceneGeometry,
    land_cover,
    terrain_height,
)
from .sensors import (
    CSK,
    CSK_URBAN_DENSITY,
    PRIMARY,
    S1A,
    S1A_CELL,
    S1A_KEEP,
    SENSORS,
    SensorSpec,
    SimulatedPoints,
    acquisition_dates,
    sample_csk_positions,
    sample_s1a_positions,
    simulate_points,
)
from .stations import (
    GNSS_FIRST,
    GNSS_LAST,
    GNSS_MISSING_FRACTION,
    GNSS_NOISE_MM,
    GNSS_OUTLIERS_PER_STATION,
    SimulatedGnss,
    simulate_gnss,
)
from .truth import dataset_truth, load_truth, truth_dataset, write_truth

__all__ = [
    "ACCELERATION", "ATMOSPHERE_CELL_M", "ATMOSPHERE_CORRELATION_M", "ATMOSPHERE_STD_MM",
    "CENTRE_LAT", "CENTRE_LON", "CONFIG_FILE", "CRS", "CSK", "CSK_FILE", "CSK_URBAN_DENSITY",
    "EGMS_COLUMNS", "FAST_CORE", "FOREST", "GEOID_UNDULATION_M", "GNSS_DIR", "GNSS_FIRST",
    "GNSS_LAST", "GNSS_MISSING_FRACTION", "GNSS_NOISE_MM", "GNSS_OUTLIERS_PER_STATION",
    "HIGHWAY", "HIGHWAY_LINE", "LANDSLIDES", "LAND_COVER_NAMES", "MODEL_ORIGIN", "PRIMARY",
    "RAMP_MM_PER_KM", "README_FILE", "S1A", "S1A_CELL", "S1A_FILE", "S1A_KEEP",
    "SEASONAL_PEAK", "SENSORS", "STATIONS", "TENV3_HEADER", "TILE_SIZE", "TRUTH_FILE", "URBAN",
    "URBAN_BLOCKS", "VEGETATION", "Landslide", "SceneGeometry", "SensorSpec", "SimulatedCase",
    "SimulatedGnss", "SimulatedPoints", "TruthModel", "acquisition_dates",
    "atmosphere_at_points", "case_config", "case_readme", "case_summary",
    "coherence_from_noise", "dataset_truth", "gaussian_random_fields", "harmonic_fit",
    "land_cover", "load_truth", "orbital_ramps", "plot_case", "point_noise_std",
    "sample_csk_positions", "sample_s1a_positions", "simulate_case", "simulate_gnss",
    "simulate_points", "tenv3_text", "terrain_height", "truth_dataset", "write_case",
    "write_case_files", "write_csk_csv", "write_egms_csv", "write_gnss", "write_truth",
]
