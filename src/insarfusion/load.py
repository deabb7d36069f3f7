"""Stage 1 of the pipeline: read every dataset and the GNSS stations into one working CRS."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from .config import Config
from .crs import crs_string, parse_crs, utm_crs
from .dataset import summary, to_crs
from .errors import ConfigError
from .io import read_gnss, read_points
from .log import logger


@dataclass
class Inputs:
    """Everything a run reads: point datasets by name (primary first) and GNSS (or None)."""

    datasets: dict[str, xr.Dataset]
    gnss: xr.Dataset | None
    crs: str
    primary: str

    def summary_lines(self) -> list[str]:
        """One line per dataset (and the GNSS): counts, span, band and technique."""
        lines = [f"working CRS: {self.crs}"]
        for name, ds in self.datasets.items():
            s = summary(ds)
            tag = " (primary)" if name == self.primary else ""
            lines.append(f"{name}{tag}: {s['points']} points, {s['epochs']} epochs, "
                         f"{s['start']} .. {s['end']}"
                         f" [{ds.attrs.get('band') or '?'}-band {ds.attrs.get('technique') or ''}]"
                         .rstrip())
        if self.gnss is not None:
            s = summary(self.gnss)
            lines.append(f"GNSS: {s['stations']} stations ({', '.join(self.gnss.station.values)}),"
                         f" {s['epochs']} epochs, {s['start']} .. {s['end']}")
        return lines


def load_inputs(cfg: Config) -> Inputs:
    """Read the configured datasets and GNSS and put them in one projected CRS."""
    datasets = {}
    for d in cfg.datasets:
        fmt = None if d.format == "auto" else d.format
        options = {"crs": cfg.crs} if cfg.crs is not None else {}  # x/y columns are in it
        options.update(d.options)
        ds = read_points(d.path, fmt, name=d.name, band=d.band, technique=d.technique,
                         incidence=d.incidence, heading=d.heading, **options)
        datasets[d.name] = ds
        logger.info("read %s: %d points x %d epochs from %s", d.name, ds.sizes["point"],
                    ds.sizes["time"], d.path)
    if cfg.crs is not None:
        crs = crs_string(parse_crs(cfg.crs, where="key 'crs'"))
        check_crs_area(crs, datasets)
    else:
        primary = datasets[cfg.primary]
        crs = crs_string(utm_crs(primary["lon"].values, primary["lat"].values))
    datasets = {k: to_crs(v, crs) for k, v in datasets.items()}
    order = [cfg.primary] + [k for k in datasets if k != cfg.primary]
    datasets = {k: datasets[k] for k in order}
    gnss = None
    if cfg.gnss is not None:
        fmt = None if cfg.gnss.format == "auto" else cfg.gnss.format
        gnss = to_crs(read_gnss(cfg.gnss.path, fmt, crs=crs, stations=cfg.gnss.stations), crs)
        for ref in [*cfg.gnss.reference, cfg.gnss.final_reference]:
            if ref is not None and ref not in gnss["station"].values:
                raise ConfigError(f"reference station {ref!r} is not among the GNSS stations "
                                  f"({', '.join(gnss.station.values)})", cfg.gnss.path)
        logger.info("read GNSS: %d stations from %s", gnss.sizes["station"], cfg.gnss.path)
    check_ties(cfg, datasets, gnss, crs)
    return Inputs(datasets=datasets, gnss=gnss, crs=crs, primary=cfg.primary)


#: Degrees the data may lie outside the area of use of a configured CRS (half a UTM zone).
CRS_AREA_MARGIN_DEG = 3.0


def check_crs_area(crs, datasets: dict[str, xr.Dataset]) -> None:
    """Refuse a configured working CRS whose area of use does not hold the data.

    Parameters
    ----------
    crs : str
        The configured CRS (the ``crs`` key).
    datasets : dict of str to xarray.Dataset
        The point datasets, with ``lon``/``lat`` in degrees.

    Raises
    ------
    ConfigError
        Naming the key ``crs``, its area of use and where the data lie (degrees), when a
        point lies more than :data:`CRS_AREA_MARGIN_DEG` outside that area.
    """
    from pyproj import CRS

    area = CRS.from_user_input(crs).area_of_use
    if area is None:
        return
    m = CRS_AREA_MARGIN_DEG
    for name, ds in datasets.items():
        lon, lat = ds["lon"].values, ds["lat"].values
        if area.west <= area.east:
            lon_out = (lon < area.west - m) | (lon > area.east + m)
        else:  # the area crosses the antimeridian
            lon_out = (lon < area.west - m) & (lon > area.east + m)
        outside = lon_out | (lat < area.south - m) | (lat > area.north + m)
        if outside.any():
            raise ConfigError(
                f"{crs} is not valid where the data are: its area of use is longitude "
                f"{area.west:g}..{area.east:g}, latitude {area.south:g}..{area.north:g} degrees, "
                f"and dataset {name!r} lies at longitude {np.nanmin(lon):.3f}.."
                f"{np.nanmax(lon):.3f}, latitude {np.nanmin(lat):.3f}..{np.nanmax(lat):.3f}; "
                "give the CRS of the data's area or leave the key out (UTM zone of the data)",
                where="key 'crs'")


#: A tie (reference station or area) may reach this many times its radius for points ...
REACH_RADII = 20.0
#: ... and at least this far, metres; beyond it there is nothing to tie to.
MIN_REACH_M = 2000.0


def _reach(radius_m: float) -> float:
    """Farthest distance (m) at which a tie of ``radius_m`` may still find its points."""
    return max(REACH_RADII * float(radius_m), MIN_REACH_M)


def _nearest_m(x0: float, y0: float, ds: xr.Dataset) -> float:
    """Distance (m) from ``(x0, y0)`` to the nearest point of ``ds``."""
    return float(np.min(np.hypot(ds["x"].values - x0, ds["y"].values - y0)))


def check_ties(cfg: Config, datasets: dict[str, xr.Dataset], gnss, crs: str) -> None:
    """Refuse ties that would reach for points far away, before any work.

    * every reference station (``gnss.reference``) must have points of every dataset within
      :func:`_reach` of ``gnss.radius_m``, and the final reference (``gnss.final_reference``)
      points of some dataset;
    * without reference stations, a configured ``reference_point`` must have points of every
      dataset within reach, and, without one, the datasets' extents must overlap.

    Parameters
    ----------
    cfg : Config
        The run's configuration.
    datasets : dict of str to xarray.Dataset
        Point datasets with ``x``/``y`` in ``crs`` (metres).
    gnss : xarray.Dataset or None
        The stations, ``x``/``y`` in ``crs``.
    crs : str
        The working CRS.

    Raises
    ------
    ConfigError
        Naming the key (``gnss.reference``, ``gnss.final_reference``, ``reference_point`` or
        ``datasets``), the station or dataset, and the distance in km.
    """
    g = cfg.gnss
    if g is not None and gnss is not None:
        _note_far_stations(gnss, datasets, g)
    if g is not None and g.reference and gnss is not None:
        reach = _reach(g.radius_m)
        for key, names in (("gnss.reference", g.reference),
                           ("gnss.final_reference", [g.final_reference])):
            for station in (n for n in names if n is not None):
                st = gnss.sel(station=station)
                x0, y0 = float(st["x"]), float(st["y"])
                if not (np.isfinite(x0) and np.isfinite(y0)):
                    raise ConfigError(f"reference station {station!r} has no known position",
                                      where=f"key '{key}'")
                gaps = {name: _nearest_m(x0, y0, ds) for name, ds in datasets.items()}
                far = {n: d for n, d in gaps.items() if d > reach}
                if far and (key == "gnss.reference" or len(far) == len(gaps)):
                    name, gap = next(iter(far.items()))
                    raise ConfigError(
                        f"reference station {station!r} is {gap / 1e3:.1f} km from the nearest "
                        f"point of dataset {name!r}, beyond {reach / 1e3:.1f} km (gnss.radius_m "
                        f"{g.radius_m:g} m): there is nothing to tie it to; choose a station "
                        "inside the data", where=f"key '{key}'")
        return
    rp = cfg.reference_point
    if rp is not None:
        from .crs import lonlat_to_xy

        x, y = lonlat_to_xy([rp.lon], [rp.lat], crs)
        reach = _reach(rp.radius_m)
        for name, ds in datasets.items():
            gap = _nearest_m(float(x[0]), float(y[0]), ds)
            if gap > reach:
                raise ConfigError(f"the reference point is {gap / 1e3:.1f} km from the nearest "
                                  f"point of dataset {name!r}, beyond {reach / 1e3:.1f} km",
                                  where="key 'reference_point'")
        return
    _check_overlap(datasets)


def _note_far_stations(gnss, datasets: dict[str, xr.Dataset], g) -> None:
    """Log the GNSS stations beyond reach of every InSAR point.

    They are listed, comma-separated, in ``gnss.attrs["stations_outside_data"]``: what is
    compared with them there is extrapolated, not measured.
    """
    xs = np.concatenate([ds["x"].values for ds in datasets.values()])
    ys = np.concatenate([ds["y"].values for ds in datasets.values()])
    reach = _reach(g.radius_m)
    far = []
    for station, x0, y0 in zip(gnss["station"].values, gnss["x"].values, gnss["y"].values,
                               strict=True):
        if not (np.isfinite(x0) and np.isfinite(y0)):
            continue
        gap = float(np.min(np.hypot(xs - x0, ys - y0)))
        if gap > reach:
            far.append(str(station))
            logger.warning("GNSS station %s is %.1f km from the nearest InSAR point (beyond "
                           "%.1f km): its comparisons are with extrapolated values", station,
                           gap / 1e3, reach / 1e3)
    gnss.attrs["stations_outside_data"] = ",".join(far)


def _check_overlap(datasets: dict[str, xr.Dataset]) -> None:
    """Without GNSS or a reference point, the datasets' extents must overlap (within reach)."""
    if len(datasets) < 2:
        return
    reach = _reach(0.0)
    boxes = {n: (float(ds["x"].min()), float(ds["x"].max()), float(ds["y"].min()),
                 float(ds["y"].max())) for n, ds in datasets.items()}
    xmin = max(b[0] for b in boxes.values())
    xmax = min(b[1] for b in boxes.values())
    ymin = max(b[2] for b in boxes.values())
    ymax = min(b[3] for b in boxes.values())
    gap = float(np.hypot(max(xmin - xmax, 0.0), max(ymin - ymax, 0.0)))
    if gap > reach:
        raise ConfigError(f"the datasets ({', '.join(boxes)}) do not overlap in space (their "
                          f"extents are {gap / 1e3:.1f} km apart): without GNSS reference "
                          "stations they cannot be tied together; give gnss.reference",
                          where="key 'datasets'")


def extent(inputs: Inputs) -> tuple[float, float, float, float]:
    """(xmin, xmax, ymin, ymax) of all points, metres in the working CRS."""
    xs = np.concatenate([ds["x"].values for ds in inputs.datasets.values()])
    ys = np.concatenate([ds["y"].values for ds in inputs.datasets.values()])
    return float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())
