"""Writing a simulated case in public formats, its truth file and its figure.

See :mod:`insarfusion.simulate` for the model. Formats written:

* ``csk_psi.csv`` — the wide CSV of DESIGN.md §3: ``id, lon, lat, incidence, heading, velocity,
  coherence, height`` then one ``YYYYMMDD`` column per acquisition (cumulative LOS, mm).
* ``s1a_sbas.csv`` — an EGMS 2020–2024 L2b CSV (same static columns as the service, then
  ``YYYYMMDD`` columns in mm). ``easting``/``northing`` are EPSG:3035, ``track_angle`` is the
  heading in [0, 360), ``los_*`` the ground-to-satellite unit vector; ``gnss_velocity`` is 0.0
  (the case has no regional GNSS velocity model).
* ``gnss/<station>.tenv3`` — Nevada Geodetic Laboratory daily-position layout, one file per
  station, positions as integer metres plus fractional part (both carrying the sign).
* ``truth.nc`` — see :func:`insarfusion.simulate.load_truth`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from .conventions import DAYS_PER_YEAR, as_days, enu_to_los, los_unit_vector
from .crs import transform
from .grid import DEFAULT_CELL_SIZE, make_grid
from .series import linear_rate

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
    from .simulate import coherence_from_noise

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
    from .simulate import coherence_from_noise

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
    from .simulate import CRS, PRIMARY, STATIONS

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


def truth_dataset(scene, model, datasets, gnss, epochs, seed=0, scale=1.0) -> xr.Dataset:
    """The truth of a case as one xarray Dataset (variables listed in ``load_truth``)."""
    from .simulate import CRS, PRIMARY, S1A, land_cover

    primary = S1A
    grid = make_grid(*scene.extent, DEFAULT_CELL_SIZE, CRS)
    gx, gy = np.meshgrid(grid["x"].values, grid["y"].values)
    ny, nx = gx.shape
    inc = primary.incidence(scene, gx.ravel())
    head = np.full(inc.shape, primary.heading)
    fields = model.los_fields(gx.ravel(), gy.ravel(), inc, head)
    f = model._relative_time_functions(epochs, None)
    cube = (f.T @ fields).astype(np.float32).reshape(epochs.size, ny, nx)
    velocity = (linear_rate(epochs, model.time_functions(epochs)) @ fields).reshape(ny, nx)

    data = {
        "displacement": (("time", "y", "x"), cube,
                         {"units": "mm", "long_name": f"true LOS displacement ({PRIMARY} "
                          "geometry, GNSS datum) relative to the first common epoch"}),
        "velocity": (("y", "x"), velocity.astype(np.float32),
                     {"units": "mm/yr", "long_name": "true mean LOS velocity (least squares "
                      "over the common epochs)"}),
        "incidence": (("y", "x"), inc.reshape(ny, nx), {"units": "degree"}),
        "heading": (("y", "x"), head.reshape(ny, nx), {"units": "degree"}),
        "landslide": (("y", "x"), model.landslide_id(gx, gy),
                      {"long_name": "0 stable, 1 western landslide, 2 eastern landslide"}),
        "land_cover": (("y", "x"), land_cover(scene, gx, gy),
                       {"long_name": "0 vegetation, 1 urban, 2 highway"}),
    }
    coords = {"time": epochs.astype("datetime64[ns]"), "x": grid["x"], "y": grid["y"]}
    attrs = {"crs": CRS, "cell_size": float(DEFAULT_CELL_SIZE), "primary": PRIMARY,
             "seed": int(seed), "scale": float(scale),
             "sign": "LOS positive toward the satellite; east, north, up positive",
             "datum": "GNSS (ground motion; stable ground is zero)"}

    for name, pts in datasets.items():
        p, t = f"{name}_point", f"{name}_time"
        p_inc = primary.incidence(scene, pts.x)
        p_los = model.los(pts.x, pts.y, epochs, p_inc, primary.heading, dtype=np.float32)
        coords[p] = pts.ids
        coords[t] = pts.dates.astype("datetime64[ns]")
        data.update({
            f"{name}_x": (p, pts.x, {"units": "m"}),
            f"{name}_y": (p, pts.y, {"units": "m"}),
            f"{name}_los": ((p, t), pts.truth_los.astype(np.float32),
                            {"units": "mm", "long_name": f"true LOS displacement in the {name} "
                             "geometry relative to its first date"}),
            f"{name}_primary": ((p, "time"), p_los,
                                {"units": "mm", "long_name": f"true LOS displacement in the "
                                 f"{PRIMARY} geometry at the common epochs"}),
            f"{name}_velocity": (p, model.los_velocity(pts.x, pts.y, pts.dates, pts.incidence,
                                                       pts.heading), {"units": "mm/yr"}),
            f"{name}_primary_velocity": (p, model.los_velocity(pts.x, pts.y, epochs, p_inc,
                                                               primary.heading),
                                         {"units": "mm/yr"}),
            f"{name}_nuisance": ((p, t), (pts.nuisance - pts.nuisance[:, :1]).astype(np.float32),
                                 {"units": "mm", "long_name": "atmospheric delay + orbital ramp "
                                  "relative to the first date (before the reference point is "
                                  "subtracted)"}),
            f"{name}_noise_std": (p, pts.noise_std, {"units": "mm"}),
            f"{name}_unwrap_jump": (p, (pts.jump != 0).any(axis=1).astype(np.int8),
                                    {"long_name": "1 where the point has an unwrapping jump"}),
        })
        attrs[f"{name}_reference"] = str(pts.ids[pts.reference])

    s_inc = primary.incidence(scene, gnss.x)
    s_los = enu_to_los(*gnss.truth_enu, s_inc[:, None], primary.heading)
    coords.update(station=np.array(gnss.names), gnss_time=gnss.dates.astype("datetime64[ns]"))
    data.update({
        "gnss_east": (("station", "gnss_time"), gnss.truth_enu[0], {"units": "mm"}),
        "gnss_north": (("station", "gnss_time"), gnss.truth_enu[1], {"units": "mm"}),
        "gnss_up": (("station", "gnss_time"), gnss.truth_enu[2], {"units": "mm"}),
        "gnss_los": (("station", "gnss_time"), s_los,
                     {"units": "mm", "long_name": f"true LOS ({PRIMARY} geometry)"}),
        "station_x": ("station", gnss.x, {"units": "m"}),
        "station_y": ("station", gnss.y, {"units": "m"}),
        "station_lon": ("station", gnss.lon, {"units": "degrees_east"}),
        "station_lat": ("station", gnss.lat, {"units": "degrees_north"}),
        "station_role": ("station", np.array(gnss.roles)),
        "station_incidence": ("station", s_inc, {"units": "degree"}),
        "station_heading": ("station", np.full(s_inc.shape, primary.heading),
                            {"units": "degree"}),
        "station_velocity": ("station", model.los_velocity(gnss.x, gnss.y, epochs, s_inc,
                                                           primary.heading),
                             {"units": "mm/yr"}),
    })
    return xr.Dataset(data, coords=coords, attrs=attrs)


def write_truth(truth: xr.Dataset, path):
    """Write the truth NetCDF with fixed time units (so that the bytes do not vary)."""
    encoding = {name: {"units": "days since 2015-01-01", "calendar": "proleptic_gregorian",
                       "dtype": "int32"}
                for name in truth.coords if np.issubdtype(truth[name].dtype, np.datetime64)}
    truth.to_netcdf(path, encoding=encoding)


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
    """Write every file of a case into ``folder``; returns the names written."""
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


def plot_case_figure(case_dir: Path, path: Path) -> Path:
    """Draw the truth velocity and the two sampled datasets (see ``plot_case``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    from .simulate import load_truth

    truth = load_truth(case_dir / TRUTH_FILE)
    cx = float(truth["x"].values.mean())
    cy = float(truth["y"].values.mean())
    km = 1000.0
    norm = TwoSlopeNorm(vmin=-30.0, vcenter=0.0, vmax=15.0)
    csk_v = pd.read_csv(case_dir / CSK_FILE, usecols=["velocity"])["velocity"].to_numpy()
    s1a_v = pd.read_csv(case_dir / S1A_FILE, usecols=["mean_velocity"])[
        "mean_velocity"].to_numpy()

    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2), sharex=True, sharey=True,
                             constrained_layout=True)
    gx = (truth["x"].values - cx) / km
    gy = (truth["y"].values - cy) / km
    image = axes[0].pcolormesh(gx, gy, truth["velocity"].values, cmap="RdBu_r", norm=norm,
                               shading="nearest")
    axes[0].set_title("truth: LOS velocity (S1A geometry)")
    panels = ((axes[1], "CSK", csk_v, "CSK PSI (X band)"),
              (axes[2], "S1A", s1a_v, "S1A SBAS (C band)"))
    for ax, name, vel, title in panels:
        ax.scatter((truth[f"{name}_x"].values - cx) / km, (truth[f"{name}_y"].values - cy) / km,
                   c=vel, s=4, cmap="RdBu_r", norm=norm, linewidths=0)
        ax.set_title(f"{title}: {vel.size} points, file velocity")
    road = truth["land_cover"].values == 2
    slides = truth["landslide"].values
    for ax in axes:
        ax.contour(gx, gy, road.astype(float), levels=[0.5], colors="0.4", linewidths=0.6,
                   linestyles="--")
        for k in (1, 2):
            ax.contour(gx, gy, (slides == k).astype(float), levels=[0.5], colors="k",
                       linewidths=1.0)
        sx = (truth["station_x"].values - cx) / km
        sy = (truth["station_y"].values - cy) / km
        ref = truth["station_role"].values == "reference"
        ax.scatter(sx[~ref], sy[~ref], marker="^", s=60, c="#39c", edgecolors="k", zorder=5)
        ax.scatter(sx[ref], sy[ref], marker="^", s=70, c="gold", edgecolors="k", zorder=5)
        for name, x, y in zip(truth["station"].values, sx, sy, strict=True):
            ax.annotate(str(name), (x, y), xytext=(4, 4), textcoords="offset points",
                        fontsize=7)
        ax.set_aspect("equal")
        ax.set_xlabel("east of scene centre (km)")
    axes[0].set_ylabel("north of scene centre (km)")
    fig.colorbar(image, ax=axes, shrink=0.85, label="LOS velocity (mm/yr, + toward satellite)")
    fig.suptitle("Simulated Cuenca-like case: landslide outlines (black), highway (dashed), "
                 "GNSS stations (gold: references)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["case_config", "harmonic_fit", "tenv3_text", "truth_dataset", "write_case_files",
           "write_truth"]
