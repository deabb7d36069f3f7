"""The truth of a simulated case: built in memory, written to and read from ``truth.nc``.

:func:`truth_dataset` evaluates :class:`~insarfusion.simulate.motion.TruthModel` on the output
grid, at every input point and at every station; :func:`write_truth` writes it with fixed time
units (byte-identical files for one seed); :func:`load_truth` reads it back (its docstring lists
the variables) and :func:`dataset_truth` gives the truth of one input dataset with plain
dimension names. Displacements are mm, rates mm/yr, angles degrees; LOS positive toward the
satellite, east/north/up positive toward east, north and up; GNSS datum (stable ground is zero).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..conventions import enu_to_los
from ..errors import InputError
from ..grid import DEFAULT_CELL_SIZE, make_grid
from ..series import linear_rate
from .scene import CRS, land_cover
from .sensors import PRIMARY, S1A


def _grid_truth(scene, model, epochs):
    """Variables and coordinates of the truth on the output grid (primary geometry)."""
    primary = S1A
    grid = make_grid(*scene.extent, DEFAULT_CELL_SIZE, CRS)
    gx, gy = np.meshgrid(grid["x"].values, grid["y"].values)
    ny, nx = gx.shape
    inc = primary.incidence(scene, gx.ravel())
    head = np.full(inc.shape, primary.heading)
    fields = model.los_fields(gx.ravel(), gy.ravel(), inc, head)
    f = model.relative_time_functions(epochs, None)
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
    return data, coords


def _points_truth(scene, model, name, pts, epochs):
    """Variables and coordinates of the truth at the points of one input dataset."""
    primary = S1A
    p, t = f"{name}_point", f"{name}_time"
    p_inc = primary.incidence(scene, pts.x)
    p_los = model.los(pts.x, pts.y, epochs, p_inc, primary.heading, dtype=np.float32)
    coords = {p: pts.ids, t: pts.dates.astype("datetime64[ns]")}
    data = {
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
    }
    return data, coords


def _stations_truth(scene, model, gnss, epochs):
    """Variables and coordinates of the truth at the GNSS stations (primary LOS)."""
    primary = S1A
    s_inc = primary.incidence(scene, gnss.x)
    s_los = enu_to_los(*gnss.truth_enu, s_inc[:, None], primary.heading)
    coords = {"station": np.array(gnss.names), "gnss_time": gnss.dates.astype("datetime64[ns]")}
    data = {
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
    }
    return data, coords


def truth_dataset(scene, model, datasets, gnss, epochs, seed=0, scale=1.0) -> xr.Dataset:
    """The truth of a case as one xarray Dataset (variables listed in :func:`load_truth`).

    Parameters
    ----------
    scene : SceneGeometry
        Where the case lies.
    model : TruthModel
        The true ground motion.
    datasets : dict
        Dataset name -> :class:`~insarfusion.simulate.sensors.SimulatedPoints`.
    gnss : SimulatedGnss
        The stations.
    epochs : ndarray of datetime64[D], shape (n_epoch,)
        The common epochs of the grid truth.
    seed : int
        Recorded in the attrs.
    scale : float
        Recorded in the attrs.

    Returns
    -------
    xarray.Dataset
        The grid, point and station truth (mm, mm/yr, degrees; LOS positive toward the
        satellite; GNSS datum).
    """
    data, coords = _grid_truth(scene, model, epochs)
    attrs = {"crs": CRS, "cell_size": float(DEFAULT_CELL_SIZE), "primary": PRIMARY,
             "seed": int(seed), "scale": float(scale),
             "sign": "LOS positive toward the satellite; east, north, up positive",
             "datum": "GNSS (ground motion; stable ground is zero)"}
    for name, pts in datasets.items():
        point_data, point_coords = _points_truth(scene, model, name, pts, epochs)
        coords.update(point_coords)
        data.update(point_data)
        attrs[f"{name}_reference"] = str(pts.ids[pts.reference])
    station_data, station_coords = _stations_truth(scene, model, gnss, epochs)
    coords.update(station_coords)
    data.update(station_data)
    return xr.Dataset(data, coords=coords, attrs=attrs)


def write_truth(truth: xr.Dataset, path):
    """Write the truth NetCDF with fixed time units (so that the bytes do not vary).

    Parameters
    ----------
    truth : xarray.Dataset
        As :func:`truth_dataset` gives it.
    path : path-like
        The ``truth.nc`` to write.
    """
    encoding = {name: {"units": "days since 2015-01-01", "calendar": "proleptic_gregorian",
                       "dtype": "int32"}
                for name in truth.coords if np.issubdtype(truth[name].dtype, np.datetime64)}
    truth.to_netcdf(path, encoding=encoding)

def load_truth(path, lazy: bool = False) -> xr.Dataset:
    """Read a case's ``truth.nc``.

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

    Parameters
    ----------
    path : path-like
        The ``truth.nc`` file.
    lazy : bool
        Open the file and read each variable when it is used (close the dataset when done)
        instead of loading everything now.

    Returns
    -------
    xarray.Dataset
        The truth, variables as above.

    Raises
    ------
    InputError
        If ``path`` is not a file.
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

    Parameters
    ----------
    truth : xarray.Dataset
        A case's truth (:func:`load_truth`).
    name : str
        The dataset (``"CSK"``, ``"S1A"``).

    Returns
    -------
    xarray.Dataset
        Variables ``los`` (point, time: own LOS, own dates, mm), ``primary`` (point, epoch:
        primary LOS at the common epochs, mm), ``nuisance`` (mm), ``velocity``,
        ``primary_velocity`` (mm/yr), ``noise_std`` (mm), ``unwrap_jump`` and coordinates
        ``x``, ``y`` (m); LOS positive toward the satellite. attr ``reference``: the id of the
        dataset's reference point.

    Raises
    ------
    InputError
        If the truth has no dataset ``name``.
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

