"""Conventions used everywhere in insarfusion: units, signs, angles and the LOS geometry.

Everything in the package refers to this module instead of restating a convention.

Units inside the code
---------------------
* displacement: millimetres (mm)
* velocity: millimetres per year (mm/yr), a year being :data:`DAYS_PER_YEAR` days
* angles: degrees
* dates: calendar days (``datetime64[D]``); xarray coordinates hold them as ``datetime64[ns]``
  at midnight, which is what :func:`as_days` returns when given to xarray.
* coordinates: ``lon``/``lat`` in WGS84 degrees; ``x``/``y`` in metres of the working projected CRS.

Signs and angles
----------------
* LOS displacement is **positive toward the satellite** (uplift seen from above is positive).
* ``incidence`` (theta) is measured from the vertical at the ground point, 0 < theta < 90 degrees.
* ``heading`` (alpha) is the azimuth of the satellite flight direction, clockwise from north
  (ascending about -10 degrees, descending about -170 / 190 degrees). A right-looking SAR is assumed.
* MintPy's ``azimuthAngle`` is the azimuth of the ground-to-satellite vector counted
  anti-clockwise from north: ``azimuthAngle = -(heading - 90)``.
* The LOS unit vector (ground to satellite) in (east, north, up) is
  ``[-sin(theta) cos(alpha), sin(theta) sin(alpha), cos(theta)]``, so that the LOS displacement
  of a 3-D motion is the paper's eq. (2):
  ``d_LOS = d_up cos(theta) + d_north sin(theta) sin(alpha) - d_east sin(theta) cos(alpha)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Length of a year used to turn days into years for velocities.
DAYS_PER_YEAR = 365.25

#: Units of the quantities as stored in the data model (attrs ``units`` use these strings).
UNITS = {
    "displacement": "mm",
    "velocity": "mm/yr",
    "incidence": "degree",
    "heading": "degree",
    "x": "m",
    "y": "m",
    "lon": "degrees_east",
    "lat": "degrees_north",
    "east": "mm",
    "north": "mm",
    "up": "mm",
}

#: What a run calls the product of its fusion method (``spatial.method``); the baselines'
#: products are called by their methods (:func:`insarfusion.spatial.product_name`).
FUSED = "synergic"

#: Radar wavelengths (mm) by band, used to size unwrapping errors and simulated noise.
WAVELENGTH_MM = {"X": 31.0, "C": 55.5, "L": 236.0}

#: Names of the projections between two lines of sight (see :func:`projection_factor`).
PROJECTION_METHODS = ("vector", "paper")


def los_unit_vector(incidence, heading):
    """Ground-to-satellite LOS unit vector for the given geometry.

    Parameters
    ----------
    incidence : array_like
        Incidence angle from the vertical, degrees.
    heading : array_like
        Flight direction, degrees clockwise from north.

    Returns
    -------
    east, north, up : ndarray
        Components of the unit vector (dimensionless), broadcast together.
    """
    theta = np.deg2rad(np.asarray(incidence, dtype=float))
    alpha = np.deg2rad(np.asarray(heading, dtype=float))
    sin_t = np.sin(theta)
    return -sin_t * np.cos(alpha), sin_t * np.sin(alpha), np.cos(theta)


def enu_to_los(east, north, up, incidence, heading):
    """Project east/north/up displacements onto the LOS (paper eq. 2).

    All displacement arguments share a unit (mm in the package); the result is in that unit,
    positive toward the satellite.
    """
    e, n, u = los_unit_vector(incidence, heading)
    return np.asarray(up) * u + np.asarray(north) * n + np.asarray(east) * e


def geometry_from_los_vector(los_east, los_north, los_up):
    """Incidence and heading (degrees) from a ground-to-satellite LOS unit vector.

    Inverse of :func:`los_unit_vector`; the vector is normalised first.
    """
    e = np.asarray(los_east, dtype=float)
    n = np.asarray(los_north, dtype=float)
    u = np.asarray(los_up, dtype=float)
    norm = np.sqrt(e**2 + n**2 + u**2)
    incidence = np.rad2deg(np.arccos(np.clip(u / norm, -1.0, 1.0)))
    heading = np.rad2deg(np.arctan2(n, -e))
    return incidence, heading


def heading_from_azimuth_angle(azimuth_angle):
    """Heading (clockwise from north, degrees) from MintPy's ``azimuthAngle`` (degrees)."""
    return wrap_angle(90.0 - np.asarray(azimuth_angle, dtype=float))


def azimuth_angle_from_heading(heading):
    """MintPy's ``azimuthAngle`` (degrees) from a heading: ``-(heading - 90)``."""
    return wrap_angle(-(np.asarray(heading, dtype=float) - 90.0))


def wrap_angle(angle):
    """Wrap angles (degrees) into [-180, 180); angles already inside are returned unchanged."""
    a = np.asarray(angle, dtype=float)
    inside = (a >= -180.0) & (a < 180.0)
    return np.where(inside | ~np.isfinite(a), a, (a + 180.0) % 360.0 - 180.0)


def projection_factor(source_incidence, source_heading, target_incidence, target_heading,
                      method="vector"):
    """Factor that turns a LOS measurement of one geometry into the LOS of another.

    ``value_target = value_source * factor``. Both forms assume the motion lies along the
    target LOS.

    Parameters
    ----------
    source_incidence, source_heading : array_like
        Geometry of the dataset being projected (degrees).
    target_incidence, target_heading : array_like
        Geometry of the primary dataset at the same points (degrees).
    method : {"vector", "paper"}
        ``"vector"``: ``1 / (e_target . e_source)`` with the full 3-D unit vectors (accounts for
        different headings, e.g. ascending vs descending). ``"paper"``: eq. (1) of Khalili et
        al. (2024), ``1 / cos(theta_target - theta_source)``, which ignores heading.
    """
    if method == "paper":
        delta = np.deg2rad(np.asarray(target_incidence, dtype=float)
                           - np.asarray(source_incidence, dtype=float))
        return 1.0 / np.cos(delta)
    if method == "vector":
        es = los_unit_vector(source_incidence, source_heading)
        et = los_unit_vector(target_incidence, target_heading)
        dot = es[0] * et[0] + es[1] * et[1] + es[2] * et[2]
        return 1.0 / dot
    raise ValueError(f"unknown projection method {method!r}; expected one of {PROJECTION_METHODS}")


def as_days(dates) -> np.ndarray:
    """Dates of any common form (strings, datetime, datetime64) as ``datetime64[D]``."""
    values = pd.to_datetime(np.asarray(dates).ravel()).values.astype("datetime64[D]")
    return values.reshape(np.shape(dates))


def decimal_years(dates, origin=None) -> np.ndarray:
    """Time in years since ``origin`` (default the first date), using :data:`DAYS_PER_YEAR`."""
    days = as_days(dates).astype("int64").astype(float)
    start = days.min() if origin is None else float(as_days([origin])[0].astype("int64"))
    return (days - start) / DAYS_PER_YEAR
