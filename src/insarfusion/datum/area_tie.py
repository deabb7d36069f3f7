"""Tie the datasets together without GNSS: a common reference area.

Without reference stations the datasets cannot be put in the GNSS datum; they are put in one
common datum instead. :func:`common_reference_area` picks the area: the configured reference
point and radius, or else the 200 m block where the datasets overlap best.
:func:`reference_to_area` subtracts, from every point of each dataset, the mean series of its
points inside the area. Series are mm (positive toward the satellite), positions metres.
"""

from __future__ import annotations

import numpy as np

from ..crs import lonlat_to_xy
from ..log import logger

#: Side of the blocks searched for the best overlap of the datasets, metres.
OVERLAP_BLOCK_M = 200.0


def common_reference_area(datasets: dict, reference_point, crs) -> tuple[float, float, float]:
    """The configured reference area, else the 200 m block where the datasets overlap best.

    Without ``reference_point`` the plane is cut into :data:`OVERLAP_BLOCK_M` blocks; the
    block chosen is the one whose smallest point count over the datasets is largest, among the
    blocks holding points of every dataset (or, if none does, of the first dataset); ties go to
    the larger block key (the larger x, then y block index).

    Parameters
    ----------
    datasets : dict
        Name -> point dataset with ``x``, ``y`` (m, working CRS).
    reference_point : object or None
        With ``lon``, ``lat`` (WGS84 degrees) and ``radius_m`` (m), as
        :class:`insarfusion.config.ReferencePointConfig`.
    crs : str
        The working CRS.

    Returns
    -------
    x0, y0 : float
        Centre of the area, metres in ``crs``.
    radius : float
        Its radius, metres.
    """
    rp = reference_point
    if rp is not None:
        x, y = lonlat_to_xy([rp.lon], [rp.lat], crs)
        return float(x[0]), float(y[0]), rp.radius_m
    block = OVERLAP_BLOCK_M
    counts = []
    for ds in datasets.values():
        bx = np.floor(ds["x"].values / block).astype(np.int64)
        by = np.floor(ds["y"].values / block).astype(np.int64)
        counts.append({k: v for k, v in zip(*np.unique(bx * 10**7 + by, return_counts=True),
                                             strict=True)})
    keys = set.intersection(*(set(c) for c in counts)) or set(counts[0])
    best = max(keys, key=lambda k: (min(c.get(k, 0) for c in counts), k))
    bx, by = divmod(best, 10**7)
    logger.info("no GNSS: datasets tied together at the 200 m block of best overlap")
    return (bx + 0.5) * block, (by + 0.5) * block, block / 2


def reference_to_area(datasets: dict, x0: float, y0: float, radius: float) -> dict:
    """Refer every dataset to the mean series of its points in a common area.

    Per dataset the points within ``radius`` of ``(x0, y0)`` are averaged per epoch (NaN
    skipped, as :meth:`xarray.DataArray.mean` does); with none inside, the 5 nearest are used
    (warned). The mean series is subtracted from every point's displacement.

    Parameters
    ----------
    datasets : dict
        Name -> point dataset with ``x``, ``y`` (m) and ``displacement`` (point, time; mm).
    x0, y0 : float
        Centre of the area, metres.
    radius : float
        Its radius, metres.

    Returns
    -------
    dict
        Name -> the referenced dataset (``velocity`` unchanged), with attr ``datum``
        (``"reference area x=… y=… r=… m"``).
    """
    out = {}
    for name, ds in datasets.items():
        d = np.hypot(ds["x"].values - x0, ds["y"].values - y0)
        near = d <= radius
        if not near.any():
            near = d <= np.sort(d)[min(4, d.size - 1)]
            logger.warning("%s: no point within %.0f m of the reference area; using the 5 "
                           "nearest (up to %.0f m)", name, radius, d[near].max())
        offset = ds["displacement"].isel(point=np.flatnonzero(near)).mean("point")
        out[name] = ds.assign(displacement=ds["displacement"] - offset)
        out[name].attrs["datum"] = f"reference area x={x0:.1f} y={y0:.1f} r={radius:.0f} m"
    return out
