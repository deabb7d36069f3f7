"""Coordinate reference systems: the working projected CRS and transforms into it (pyproj)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

from .errors import InputError

WGS84 = "EPSG:4326"


def parse_crs(crs, path=None, where="crs") -> CRS:
    """A :class:`pyproj.CRS` from any user form (``"EPSG:32717"``, ``32717``, WKT, CRS)."""
    try:
        return CRS.from_user_input(crs)
    except Exception as exc:  # pyproj raises CRSError with multi-line text
        raise InputError(f"not a coordinate reference system: {crs!r} ({exc})".splitlines()[0],
                         path, where) from None


def utm_crs(lon, lat) -> CRS:
    """The WGS84 / UTM zone CRS containing the median of the given points."""
    clon = float(np.nanmedian(np.asarray(lon, dtype=float)))
    clat = float(np.nanmedian(np.asarray(lat, dtype=float)))
    zone = int(np.floor((clon + 180.0) / 6.0)) % 60 + 1
    return CRS.from_epsg(_utm_epsg(zone, clat < 0))


@lru_cache(maxsize=128)
def _utm_epsg(zone: int, south: bool) -> int:
    # ask the PROJ database once per zone (the query takes a few tenths of a second)
    centre = -183.0 + 6.0 * zone
    lat = -1.0 if south else 1.0
    infos = query_utm_crs_info(datum_name="WGS 84",
                               area_of_interest=AreaOfInterest(centre, lat, centre, lat))
    return int(infos[0].code)


@lru_cache(maxsize=64)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def transform(xs, ys, src, dst):
    """Transform coordinates from ``src`` to ``dst`` (axis order x/lon first)."""
    t = _transformer(CRS.from_user_input(src).to_string(), CRS.from_user_input(dst).to_string())
    x, y = t.transform(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
    return np.asarray(x), np.asarray(y)


def lonlat_to_xy(lon, lat, crs):
    """WGS84 longitude/latitude (degrees) to projected ``x``/``y`` (metres) in ``crs``."""
    return transform(lon, lat, WGS84, crs)


def xy_to_lonlat(x, y, crs):
    """Projected ``x``/``y`` in ``crs`` to WGS84 longitude/latitude (degrees)."""
    return transform(x, y, crs, WGS84)


def crs_string(crs) -> str:
    """A compact, round-trippable text form (``EPSG:xxxx`` when the CRS has a code)."""
    crs = CRS.from_user_input(crs)
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()
