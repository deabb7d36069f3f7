"""The APS filter on labelled point datasets, and the ``atmosphere.nc`` product."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import InputError
from ..log import logger
from .filter import APSFilter


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



def filter_datasets(datasets: dict, params: dict | None = None) -> tuple[dict, dict, dict]:
    """Estimate and remove the APS of every point dataset, each on its own.

    Each dataset has its own atmosphere and its own reference point, so each is filtered
    separately (:func:`remove_atmosphere`).

    Parameters
    ----------
    datasets : dict of str to xarray.Dataset
        Point datasets on the common epochs (``displacement`` in mm).
    params : dict, optional
        Parameters of :class:`APSFilter` (``atmosphere:`` of the configuration).

    Returns
    -------
    filtered : dict of str to xarray.Dataset
        The datasets with their APS removed (as given with ``method`` ``"none"``).
    aps : dict of str to xarray.DataArray
        The removed APS per dataset (empty with ``"none"``).
    section : dict
        For ``validation.json``: ``method`` and ``removed_rms_mm`` per dataset.
    """
    params = dict(params or {})
    if params.get("method", "spatiotemporal") == "none":
        logger.info("atmosphere: none; no APS removed from any dataset")
        return dict(datasets), {}, {"method": "none"}
    filtered, aps, rms = {}, {}, {}
    for name, ds in datasets.items():
        filtered[name], aps[name] = remove_atmosphere(ds, APSFilter(**params))
        rms[name] = float(filtered[name]["displacement"].attrs["aps_rms_mm"])
    return filtered, aps, {"method": params.get("method", "spatiotemporal"),
                           "removed_rms_mm": rms}


def write_aps(path, aps_by_dataset: dict) -> None:
    """Write the removed APS of every dataset as one NetCDF file (:func:`aps_dataset`).

    Nothing is written when no APS was removed (``aps_by_dataset`` empty).
    """
    if not aps_by_dataset:
        return
    out = aps_dataset({k: v.astype("float32") for k, v in aps_by_dataset.items()})
    out.to_netcdf(path)
    logger.info("wrote %s (the APS removed from %s)", path, ", ".join(aps_by_dataset))
