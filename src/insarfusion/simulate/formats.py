"""The input files of a simulated case in public formats, its configuration and its README.

See :mod:`insarfusion.simulate` for the model. Formats written:

* ``csk_psi.csv`` — the wide CSV of DESIGN.md §3: ``id, lon, lat, incidence, heading, velocity,
  coherence, height`` then one ``YYYYMMDD`` column per acquisition (cumulative LOS, mm).
* ``s1a_sbas.csv`` — an EGMS 2020–2024 L2b CSV (same static columns as the service, then
  ``YYYYMMDD`` columns in mm). ``easting``/``northing`` are EPSG:3035, ``track_angle`` is the
  heading in [0, 360), ``los_*`` the ground-to-satellite unit vector; ``gnss_velocity`` is 0.0
  (the case has no regional GNSS velocity model).
* ``gnss/<station>.tenv3`` — Nevada Geodetic Laboratory daily-position layout, one file per
  station, positions as integer metres plus fractional part (both carrying the sign).
* ``config.yaml`` — the run configuration (:func:`case_config`) and ``README.md``
  (:func:`case_readme`).
* ``truth.nc`` — see :func:`insarfusion.simulate.load_truth`.

:func:`write_case_files` writes them all into one folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..conventions import DAYS_PER_YEAR, as_days, los_unit_vector
from ..crs import transform
from ..grid import DEFAULT_CELL_SIZE
from ..series import linear_rate
from .nuisance import coherence_from_noise
from .scene import CRS, STATIONS
from .sensors import PRIMARY
from .truth import write_truth

#: File names inside a case folder.
CSK_FILE = "csk_psi.csv"
S1A_FILE = "s1a_sbas.csv"
GNSS_DIR = "gnss"
CONFIG_FILE = "config.yaml"
TRUTH_FILE = "truth.nc"
README_FILE = "README.md"

EGMS_COLUMNS = ("pid", "mp_type", "latitude", "longitude", "easting", "northing",
                "height_ortho", "height_ellipse", "line", "pixel", "rmse_ts",
                "temporal_coherence", "amplitude_dispersion", "incidence_angle", "track_angle",
                "los_east", "los_north", "los_up", "mean_velocity", "mean_velocity_std",
                "acceleration", "acceleration_std", "seasonality", "seasonality_std",
                "gnss_velocity")
TENV3_HEADER = ("site YYMMMDD yyyy.yyyy __MJD week d reflon _e0(m) __east(m) ____n0(m) "
                "_north(m) u0(m) ____up(m) _ant(m) sig_e(m) sig_n(m) sig_u(m) __corr_en "
                "__corr_eu __corr_nu _latitude(deg) _longitude(deg) __height(m)")
#: Geoid height used to turn orthometric into ellipsoidal heights (m).
GEOID_UNDULATION_M = 24.5
_EARTH_RADIUS_M = 6378137.0
_MJD_EPOCH = np.datetime64("1858-11-17", "D")
_GPS_WEEK_MJD = 44244


def _rounded(values, decimals):
    """Round for writing; ``+ 0.0`` turns negative zeros into zeros."""
    return np.round(np.asarray(values, float), decimals) + 0.0


def _date_labels(dates):
    return [str(d).replace("-", "") for d in as_days(dates)]


def _write_table(path, columns: dict, dates, displacement, decimals):
    frame = pd.DataFrame(columns)
    series = pd.DataFrame(_rounded(displacement, decimals), columns=_date_labels(dates))
    pd.concat([frame, series], axis=1).to_csv(path, index=False, lineterminator="\n")


def harmonic_fit(dates, displacement):
    """Least-squares fit of ``a + v t + ½ acc t² + seasonal`` to every series at once.

    Returns velocity (mm/yr) and acceleration (mm/yr²) with their standard errors, the annual
    amplitude (mm) with its standard error, and the RMS residual (mm), each of shape (n,).
    """
    t = (as_days(dates).astype("int64") - as_days(dates).astype("int64").mean()) / DAYS_PER_YEAR
    design = np.column_stack([np.ones_like(t), t, 0.5 * t**2, np.cos(2 * np.pi * t),
                              np.sin(2 * np.pi * t)])
    coef, *_ = np.linalg.lstsq(design, displacement.T, rcond=None)
    residual = displacement.T - design @ coef
    dof = max(t.size - design.shape[1], 1)
    sigma2 = (residual**2).sum(axis=0) / dof
    cov = np.linalg.inv(design.T @ design)
    se = np.sqrt(np.outer(np.diag(cov), sigma2))
    amplitude = np.hypot(coef[3], coef[4])
    return {"velocity": linear_rate(dates, displacement), "velocity_std": se[1],
            "acceleration": coef[2], "acceleration_std": se[2], "seasonality": amplitude,
            "seasonality_std": np.sqrt((se[3] ** 2 + se[4] ** 2) / 2),
            "rmse": np.sqrt((residual**2).mean(axis=0))}


def write_csk_csv(points, path):
    """The CSK dataset as the wide CSV of DESIGN.md §3."""
    columns = {
        "id": points.ids,
        "lon": _rounded(points.lon, 8),
        "lat": _rounded(points.lat, 8),
        "incidence": _rounded(points.incidence, 2),
        "heading": _rounded(points.heading, 2),
        "velocity": _rounded(linear_rate(points.dates, points.displacement), 2),
        "coherence": _rounded(coherence_from_noise(points.noise_std, points.spec.wavelength), 3),
        "height": _rounded(points.height, 1),
    }
    _write_table(path, columns, points.dates, points.displacement, 2)


def write_egms_csv(points, path):
    """The S1A dataset as an EGMS L2b CSV."""
    fit = harmonic_fit(points.dates, points.displacement)
    easting, northing = transform(points.lon, points.lat, "EPSG:4326", "EPSG:3035")
    los_e, los_n, los_u = los_unit_vector(points.incidence, points.heading)
    heading = np.deg2rad(points.heading)
    # radar coordinates: ~14 m lines along track, ~4 m range pixels across
    along = points.x * np.sin(heading) + points.y * np.cos(heading)
    across = points.x * np.cos(heading) - points.y * np.sin(heading)
    sigma_phase = 4 * np.pi * points.noise_std / points.spec.wavelength
    columns = {
        "pid": points.ids,
        "mp_type": np.ones(points.ids.size, dtype=np.int64),
        "latitude": _rounded(points.lat, 6),
        "longitude": _rounded(points.lon, 6),
        "easting": _rounded(easting, 2),
        "northing": _rounded(northing, 2),
        "height_ortho": _rounded(points.height, 1),
        "height_ellipse": _rounded(points.height + GEOID_UNDULATION_M, 1),
        "line": np.round((along - along.min()) / 13.9).astype(np.int64) + 100,
        "pixel": np.round((across - across.min()) / 4.0).astype(np.int64) + 100,
        "rmse_ts": _rounded(fit["rmse"], 1),
        "temporal_coherence": _rounded(coherence_from_noise(points.noise_std,
                                                            points.spec.wavelength), 2),
        "amplitude_dispersion": _rounded(sigma_phase, 2),
        "incidence_angle": _rounded(points.incidence, 2),
        "track_angle": _rounded(np.mod(points.heading, 360.0), 2),
        "los_east": _rounded(los_e, 3),
        "los_north": _rounded(los_n, 3),
        "los_up": _rounded(los_u, 3),
        "mean_velocity": _rounded(fit["velocity"], 1),
        "mean_velocity_std": _rounded(fit["velocity_std"], 2),
        "acceleration": _rounded(fit["acceleration"], 2),
        "acceleration_std": _rounded(fit["acceleration_std"], 2),
        "seasonality": _rounded(fit["seasonality"], 1),
        "seasonality_std": _rounded(fit["seasonality_std"], 1),
        "gnss_velocity": np.zeros(points.ids.size),
    }
    assert tuple(columns) == EGMS_COLUMNS
    _write_table(path, columns, points.dates, points.displacement, 1)


def _fmt(template, values):
    return np.char.mod(template, np.asarray(values))


def tenv3_text(name, lon, lat, height, dates, enu_mm, sigma_mm) -> str:
    """The text of one station's ``.tenv3`` file.

    Parameters
    ----------
    name : str
    lon, lat, height : float
        Station position at the first epoch (degrees, m above the ellipsoid).
    dates : datetime64[D], shape (m,)
        Epochs with data (missing weeks already removed).
    enu_mm : ndarray, shape (3, m)
        Displacement from the station position, mm.
    sigma_mm : array_like, shape (3,)
        Formal errors, mm.
    """
    days = as_days(dates)
    mjd = (days - _MJD_EPOCH).astype(np.int64)
    years = days.astype("datetime64[Y]")
    doy = (days - years.astype("datetime64[D]")).astype(np.int64) + 1
    year_num = years.astype(np.int64) + 1970
    label = pd.DatetimeIndex(days).strftime("%y%b%d").str.upper().to_numpy()
    reflon = np.round(lon, 1)
    lat_rad = np.deg2rad(lat)
    east_m = np.deg2rad(lon - reflon) * _EARTH_RADIUS_M * np.cos(lat_rad) + enu_mm[0] / 1000
    north_m = lat_rad * _EARTH_RADIUS_M + enu_mm[1] / 1000
    up_m = height + enu_mm[2] / 1000
    lat_t = lat + np.rad2deg(enu_mm[1] / 1000 / _EARTH_RADIUS_M)
    lon_t = lon + np.rad2deg(enu_mm[0] / 1000 / (_EARTH_RADIUS_M * np.cos(lat_rad)))
    m = days.size

    def whole_frac(v):
        whole = np.trunc(v)
        return whole.astype(np.int64), v - whole

    e0, ef = whole_frac(east_m)
    n0, nf = whole_frac(north_m)
    u0, uf = whole_frac(up_m)
    sig = np.asarray(sigma_mm, float) / 1000
    cols = [
        np.full(m, f"{name:<4s}"), label, _fmt("%9.4f", year_num + (doy - 0.75) / DAYS_PER_YEAR),
        _fmt("%5d", mjd), _fmt("%4d", (mjd - _GPS_WEEK_MJD) // 7),
        _fmt("%1d", (mjd - _GPS_WEEK_MJD) % 7), np.full(m, f"{reflon:6.1f}"),
        _fmt("%8d", e0), _fmt("%10.6f", ef), _fmt("%9d", n0), _fmt("%10.6f", nf),
        _fmt("%5d", u0), _fmt("%10.6f", uf), np.full(m, "0.0000"),
        np.full(m, f"{sig[0]:.6f}"), np.full(m, f"{sig[1]:.6f}"), np.full(m, f"{sig[2]:.6f}"),
        np.full(m, " 0.000000"), np.full(m, " 0.000000"), np.full(m, " 0.000000"),
        _fmt("%15.10f", lat_t), _fmt("%15.10f", lon_t), _fmt("%10.5f", up_m),
    ]
    lines = cols[0]
    for col in cols[1:]:
        lines = np.char.add(np.char.add(lines, " "), col)
    return TENV3_HEADER + "\n" + "\n".join(lines.tolist()) + "\n"


def write_gnss(gnss, folder):
    """One ``.tenv3`` file per station in ``folder``; returns the file names."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for k, name in enumerate(gnss.names):
        valid = np.isfinite(gnss.observed_enu[0, k])
        text = tenv3_text(name, gnss.lon[k], gnss.lat[k], gnss.height[k], gnss.dates[valid],
                          gnss.observed_enu[:, k, valid], gnss.sigma)
        (folder / f"{name}.tenv3").write_text(text, encoding="utf-8")
        names.append(f"{name}.tenv3")
    return names


def case_config(seed: int) -> dict:
    """The ``config.yaml`` of a case (DESIGN.md §3)."""
    references = [s for s, v in STATIONS.items() if v[2] == "reference"]
    return {
        "crs": CRS,
        "datasets": [
            {"name": "CSK", "path": CSK_FILE, "format": "csv", "band": "X", "technique": "PSI"},
            {"name": "S1A", "path": S1A_FILE, "format": "egms", "band": "C",
             "technique": "SBAS"},
        ],
        "primary": PRIMARY,
        "gnss": {"path": f"{GNSS_DIR}/", "format": "tenv3", "reference": ["M21"],
                 "final_reference": "M01" if "M01" in references else references[0],
                 "radius_m": 100},
        "time": {"step_days": 12},
        "temporal": {"method": "lstm"},
        "spatial": {"method": "cnn", "cell_size_m": DEFAULT_CELL_SIZE},
        "seed": int(seed),
        "truth": TRUTH_FILE,
    }


def case_readme(case) -> str:
    """The ``README.md`` of a case folder."""
    g = case.gnss
    lines = [
        "# Simulated Cuenca-like case",
        "",
        f"Made by `insarfusion simulate` (seed {case.seed}, scale {case.scale:g}). A slope of "
        f"{case.scene.side / 1000:.2f} × {case.scene.side / 1000:.2f} km around lon "
        "−79.00, lat −2.92 (working CRS EPSG:32717) with two slow rotational landslides "
        "(western SW→NE, eastern S→N; crowns subside, toes bulge; an acceleration from "
        "mid-2017 in the middle of the western one) and a known truth.",
        "",
        "| file | what |",
        "| --- | --- |",
    ]
    for name, pts in case.datasets.items():
        fname = CSK_FILE if name == "CSK" else S1A_FILE
        fmt = "wide CSV" if name == "CSK" else "EGMS L2b CSV"
        lines.append(f"| `{fname}` | {name} {pts.spec.technique} ({pts.spec.band} band), {fmt}: "
                     f"{pts.ids.size} points, {pts.dates.size} acquisitions "
                     f"{pts.dates[0]}..{pts.dates[-1]}; LOS mm, referenced to point "
                     f"`{pts.ids[pts.reference]}` and to the first date |")
    lines += [
        f"| `{GNSS_DIR}/*.tenv3` | {len(g.names)} GNSS stations (NGL tenv3), weekly "
        f"{g.dates[0]}..{g.dates[-1]}; references "
        f"{', '.join(n for n, r in zip(g.names, g.roles, strict=True) if r == 'reference')} |",
        f"| `{CONFIG_FILE}` | the run configuration (`insarfusion run {CONFIG_FILE}`) |",
        f"| `{TRUTH_FILE}` | the truth: true LOS displacement ({case.truth.sizes['time']} common "
        f"epochs, S1A geometry, GNSS datum) and velocity on the 20.22 m output grid, the truth "
        "at every input point and station; read with `insarfusion.simulate.load_truth` |",
        "",
        "Errors in the inputs: per-epoch atmospheric delay (correlated over ~700 m), orbital "
        "ramps, point noise (CSK ~1 mm, S1A ~2 mm), half-wavelength unwrapping jumps at ~1 % "
        "of the points, each dataset's own reference point; GNSS noise 1.5 mm (horizontal) and "
        "4 mm (vertical), missing weeks and a few outliers.",
        "",
    ]
    return "\n".join(lines)


def write_case_files(case, folder) -> list[str]:
    """Write every file of a case into ``folder``.

    Parameters
    ----------
    case : SimulatedCase
        The case, simulated in memory.
    folder : path-like
        An existing folder.

    Returns
    -------
    list of str
        The names written, as :func:`~insarfusion.simulate.case_summary` lists them.
    """
    folder = Path(folder)
    write_csk_csv(case.datasets["CSK"], folder / CSK_FILE)
    write_egms_csv(case.datasets["S1A"], folder / S1A_FILE)
    write_gnss(case.gnss, folder / GNSS_DIR)
    (folder / CONFIG_FILE).write_text(yaml.safe_dump(case_config(case.seed), sort_keys=False),
                                      encoding="utf-8")
    write_truth(case.truth, folder / TRUTH_FILE)
    (folder / README_FILE).write_text(case_readme(case), encoding="utf-8")
    return [CSK_FILE, S1A_FILE, f"{GNSS_DIR}/ ({len(case.gnss.names)} .tenv3)", CONFIG_FILE,
            TRUTH_FILE, README_FILE]
