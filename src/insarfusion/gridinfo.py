"""Per-cell geometry and support of a product grid (beyond the paper).

* :func:`geometry_rasters`: the LOS geometry of the primary dataset in every cell, so that a
  user can turn the LOS product into vertical (``d_up ~ d_LOS / los_up`` for purely vertical
  motion) or combine it with another geometry: ``incidence`` and ``heading`` (degrees, see
  :mod:`insarfusion.conventions`) and the ground-to-satellite unit vector ``los_east``,
  ``los_north``, ``los_up``. It is taken from the primary dataset's points, the nearest point
  or an inverse-distance weighting of the nearest ``k``. Angles are never averaged directly:
  the unit vectors are averaged, re-normalised and turned back into angles.
* :func:`support_rasters`: how well each cell is supported by data: ``distance_m``, the
  distance from the cell centre to the nearest input point, and ``n_points``, the number of
  input points within ``radius_m``.
* :func:`data_mask`: 1 where the nearest input point is within ``max_distance_m``, 0 where the
  cell is far from any data (the product there is extrapolated).
* :func:`write_grid_info`: the three as Cloud-Optimized GeoTIFFs ``geometry.tif`` (5 bands),
  ``support.tif`` (2 bands) and ``data_mask.tif`` (uint8).

All functions return xarray objects on the run's grid (:func:`insarfusion.grid.make_grid`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from scipy.spatial import cKDTree

from .conventions import geometry_from_los_vector, los_unit_vector
from .errors import InputError, StageError

#: Cell centres handled at a time (bounds the memory of the neighbour queries).
_BLOCK_CELLS = 262_144

#: Names and units of the geometry layers.
GEOMETRY_LAYERS = {
    "incidence": ("degree", "incidence angle from the vertical at the ground"),
    "heading": ("degree", "satellite flight direction, clockwise from north"),
    "los_east": ("1", "east component of the ground-to-satellite LOS unit vector"),
    "los_north": ("1", "north component of the ground-to-satellite LOS unit vector"),
    "los_up": ("1", "up component of the ground-to-satellite LOS unit vector"),
}


def _centres(grid, block: slice) -> np.ndarray:
    """Cell-centre coordinates (n, 2) of the cells ``block`` (row-major numbering)."""
    nx = grid.sizes["x"]
    index = np.arange(block.start, block.stop)
    return np.column_stack([grid["x"].values[index % nx], grid["y"].values[index // nx]])


def _on_grid(values, grid, name, attrs) -> xr.DataArray:
    shape = (grid.sizes["y"], grid.sizes["x"])
    return xr.DataArray(np.asarray(values).reshape(shape), dims=("y", "x"),
                        coords={"y": grid["y"], "x": grid["x"]}, name=name, attrs=attrs)


def _xy(points):
    """x, y (m) of a point dataset, a list/dict of them, or an (x, y) pair."""
    if isinstance(points, xr.Dataset):
        return points["x"].values.astype(float), points["y"].values.astype(float)
    if isinstance(points, dict):
        points = list(points.values())
    if isinstance(points, (list, tuple)) and points and isinstance(points[0], xr.Dataset):
        return (np.concatenate([p["x"].values for p in points]).astype(float),
                np.concatenate([p["y"].values for p in points]).astype(float))
    x, y = points
    return np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()


def _blocks(grid):
    n = grid.sizes["x"] * grid.sizes["y"]
    for start in range(0, n, _BLOCK_CELLS):
        yield slice(start, min(n, start + _BLOCK_CELLS))


def geometry_rasters(grid, points, method="idw", k=8, power=2.0) -> xr.Dataset:
    """LOS geometry of the primary dataset in every cell of the grid.

    Parameters
    ----------
    grid : xarray.Dataset
        The run's grid (``x``, ``y`` cell centres, attrs ``cell_size``, ``crs``).
    points : xarray.Dataset
        The primary dataset's points (``x``, ``y``, ``incidence``, ``heading``); points with
        unknown geometry (NaN) are left out.
    method : {"idw", "nearest"}
        ``nearest``: the geometry of the nearest point. ``idw``: the inverse-distance
        weighted mean (weights ``1 / d**power``) of the LOS unit vectors of the ``k``
        nearest points, re-normalised; incidence and heading follow from it.
    k : int
        Neighbours for ``idw``.
    power : float
        Distance power for ``idw``.

    Returns
    -------
    xarray.Dataset
        ``incidence``, ``heading`` (degrees), ``los_east``, ``los_north``, ``los_up``
        (dimensionless), each (y, x); attrs ``method``, ``source`` (the dataset's name).

    Raises
    ------
    StageError
        If no point has a known geometry.
    """
    if method not in ("idw", "nearest"):
        raise InputError(f"unknown geometry interpolation {method!r}; expected idw or nearest")
    inc = np.broadcast_to(np.asarray(points["incidence"].values, float), points["x"].shape)
    head = np.broadcast_to(np.asarray(points["heading"].values, float), points["x"].shape)
    ok = np.isfinite(inc) & np.isfinite(head)
    if not ok.any():
        raise StageError(f"{points.attrs.get('name', 'primary dataset')}: no point has a known "
                         "incidence and heading")
    x, y = points["x"].values[ok].astype(float), points["y"].values[ok].astype(float)
    vectors = np.column_stack(los_unit_vector(inc[ok], head[ok]))      # (n, 3)
    tree = cKDTree(np.column_stack([x, y]))
    k = 1 if method == "nearest" else int(min(max(k, 1), len(x)))
    out = np.empty((grid.sizes["x"] * grid.sizes["y"], 3))
    for block in _blocks(grid):
        dist, idx = tree.query(_centres(grid, block), k=k)
        if k == 1:
            out[block] = vectors[idx]
            continue
        with np.errstate(divide="ignore"):
            w = 1.0 / np.maximum(dist, 1e-6) ** power
        w /= w.sum(axis=1, keepdims=True)
        mean = np.einsum("nk,nkc->nc", w, vectors[idx])
        out[block] = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    incidence, heading = geometry_from_los_vector(out[:, 0], out[:, 1], out[:, 2])
    layers = {"incidence": incidence, "heading": heading, "los_east": out[:, 0],
              "los_north": out[:, 1], "los_up": out[:, 2]}
    ds = xr.Dataset({name: _on_grid(values, grid, name,
                                    {"units": GEOMETRY_LAYERS[name][0],
                                     "long_name": GEOMETRY_LAYERS[name][1]})
                     for name, values in layers.items()})
    ds.attrs = {"method": method, "source": str(points.attrs.get("name", "")),
                "crs": grid.attrs.get("crs", "")}
    return ds


def support_rasters(grid, points, radius_m=None) -> xr.Dataset:
    """Distance to the nearest input point and number of points near every cell.

    Parameters
    ----------
    grid : xarray.Dataset
        The run's grid.
    points : xarray.Dataset, list or dict of them, or (x, y)
        Every input point (all datasets), metres in the grid's CRS.
    radius_m : float, optional
        Radius of the count; default twice the cell size.

    Returns
    -------
    xarray.Dataset
        ``distance_m`` (m) and ``n_points`` (count within ``radius_m`` of the cell centre),
        each (y, x); attr ``radius_m``.
    """
    x, y = _xy(points)
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.any():
        raise StageError("no input point to measure the support from")
    radius = float(radius_m) if radius_m is not None else 2.0 * float(grid.attrs["cell_size"])
    if not radius > 0:
        raise InputError(f"support radius must be positive, got {radius_m}")
    tree = cKDTree(np.column_stack([x[finite], y[finite]]))
    n = grid.sizes["x"] * grid.sizes["y"]
    distance = np.empty(n)
    count = np.empty(n, dtype=np.int32)
    for block in _blocks(grid):
        centres = _centres(grid, block)
        distance[block] = tree.query(centres, k=1)[0]
        count[block] = tree.query_ball_point(centres, r=radius, return_length=True)
    return xr.Dataset(
        {"distance_m": _on_grid(distance, grid, "distance_m",
                                {"units": "m", "long_name": "distance to the nearest input "
                                                            "point"}),
         "n_points": _on_grid(count, grid, "n_points",
                              {"units": "1", "long_name": f"input points within {radius:g} m"})},
        attrs={"radius_m": radius, "crs": grid.attrs.get("crs", "")})


def default_max_distance(grid, points) -> float:
    """Distance beyond which a cell counts as far from data.

    Three times the median spacing of the input points (distance from each point to its
    nearest neighbour), and at least two cells.
    """
    x, y = _xy(points)
    cell = float(grid.attrs["cell_size"])
    if x.size < 2:
        return 2.0 * cell
    spacing = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=2)[0][:, 1]
    return float(max(2.0 * cell, 3.0 * np.median(spacing)))


def data_mask(support, max_distance_m) -> xr.DataArray:
    """Mask of the cells near data: 1 where a point lies within ``max_distance_m``, else 0.

    Parameters
    ----------
    support : xarray.Dataset
        From :func:`support_rasters`.
    max_distance_m : float
        Largest distance (m) from a cell centre to its nearest point for the cell to count as
        supported (:func:`default_max_distance` gives a default).

    Returns
    -------
    xarray.DataArray
        uint8 (y, x); attr ``max_distance_m``.
    """
    mask = (support["distance_m"] <= float(max_distance_m)).astype("uint8")
    mask.name = "data_mask"
    mask.attrs = {"units": "1", "max_distance_m": float(max_distance_m),
                  "long_name": f"1 where an input point lies within {float(max_distance_m):g} "
                               "m, 0 where the cell is far from any data"}
    return mask


def write_grid_info(out_dir, grid, crs, geometry=None, support=None, mask=None,
                    metadata=None) -> dict:
    """Write the geometry, support and mask rasters as Cloud-Optimized GeoTIFFs.

    Parameters
    ----------
    out_dir : path-like
        Output folder.
    grid : xarray.Dataset
        The run's grid.
    crs : str or pyproj.CRS
        Working CRS.
    geometry : xarray.Dataset, optional
        From :func:`geometry_rasters`; written as ``geometry.tif``, bands ``incidence``,
        ``heading``, ``los_east``, ``los_north``, ``los_up``.
    support : xarray.Dataset, optional
        From :func:`support_rasters`; written as ``support.tif``, bands ``distance_m``,
        ``n_points``.
    mask : xarray.DataArray, optional
        From :func:`data_mask`; written as ``data_mask.tif`` (uint8, 255 as nodata).
    metadata : dict, optional
        Dataset tags (:func:`insarfusion.products.product_metadata`).

    Returns
    -------
    dict
        ``{name: path}`` of the files written.
    """
    from .products import write_cog

    out = Path(out_dir)
    written = {}
    meta = dict(metadata or {})
    if geometry is not None:
        names = list(GEOMETRY_LAYERS)
        written["geometry"] = write_cog(
            out / "geometry.tif", [geometry[n] for n in names], grid, crs, descriptions=names,
            units=[GEOMETRY_LAYERS[n][0] for n in names],
            metadata={**meta, "geometry_source": geometry.attrs.get("source", ""),
                      "geometry_method": geometry.attrs.get("method", ""),
                      "heading_convention": "clockwise from north, flight direction",
                      "los_vector": "ground to satellite (east, north, up)"})
    if support is not None:
        written["support"] = write_cog(
            out / "support.tif", [support["distance_m"], support["n_points"]], grid, crs,
            descriptions=["distance_m", "n_points"], units=["m", "1"],
            metadata={**meta, "radius_m": support.attrs.get("radius_m", "")})
    if mask is not None:
        written["data_mask"] = write_cog(
            out / "data_mask.tif", mask, grid, crs, descriptions=["data_mask"], units=["1"],
            dtype="uint8", nodata=255, resampling="nearest",
            metadata={**meta, "max_distance_m": mask.attrs.get("max_distance_m", ""),
                      "meaning": "1 near data, 0 far from any input point"})
    return written
