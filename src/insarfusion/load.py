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


def extent(inputs: Inputs) -> tuple[float, float, float, float]:
    """(xmin, xmax, ymin, ymax) of all points, metres in the working CRS."""
    xs = np.concatenate([ds["x"].values for ds in inputs.datasets.values()])
    ys = np.concatenate([ds["y"].values for ds in inputs.datasets.values()])
    return float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())
