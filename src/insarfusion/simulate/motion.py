"""The true ground motion of the simulated case: an analytic east/north/up field in space and time.

:class:`TruthModel` sums separable terms, each a 3-D (east, north, up) amplitude field in space
times a function of time: for each landslide of :mod:`insarfusion.simulate.scene` a secular
creep and an annual term, the steady fast core of the western landslide (:data:`FAST_CORE`)
and its acceleration from mid-2017 (:data:`ACCELERATION`). Displacements are mm (east, north,
up positive toward east, north and up; LOS positive toward the satellite), rates mm/yr, dates
``datetime64``.
"""

from __future__ import annotations

import numpy as np

from ..conventions import DAYS_PER_YEAR, as_days, los_unit_vector
from ..series import linear_rate
from .scene import LANDSLIDES, SceneGeometry

#: Origin of the truth's time functions.
MODEL_ORIGIN = np.datetime64("2015-01-01", "D")

#: The fast middle of the western landslide (campus): centre (tile-local m), Gaussian sigma (m)
#: and extra speed at its centre (mm/yr), steady over the whole period.
FAST_CORE = dict(centre=(-290.0, -40.0), sigma=110.0, extra_speed=40.0)
#: Acceleration of the western landslide's middle from mid-2017: centre (tile-local m), radius
#: (Gaussian sigma, m), extra peak speed (mm/yr), onset date and its smoothing (years).
ACCELERATION = dict(centre=(-220.0, 40.0), sigma=150.0, extra_speed=40.0,
                    onset=np.datetime64("2017-06-15"), smoothing_years=0.08)
#: Phase of the annual term: date of its maximum displacement.
SEASONAL_PEAK = np.datetime64("2015-04-15")


class TruthModel:
    """The true ground motion: an analytic east/north/up field in space and time.

    ``enu(x, y, time)`` is a sum of terms ``field_k(x, y) * f_k(t)``: for each landslide a
    secular term (mm/yr × years) and an annual term, and for the western one the acceleration
    from mid-2017. Ground outside the landslides does not move (GNSS datum).

    Parameters
    ----------
    scene : SceneGeometry
        Places the tiled pattern in the working CRS.
    """

    def __init__(self, scene: SceneGeometry):
        self.scene = scene

    # -- space ---------------------------------------------------------------------------------
    def fields(self, x, y):
        """ENU amplitude of every term at the points, shape (n_terms, 3, n): mm/yr or mm.

        Terms: for each landslide its secular (mm/yr) and annual (mm) patterns, then the fast
        core of the western landslide (mm/yr) and its acceleration (mm/yr after the onset).
        """
        u, v = self.scene.tile_local(x, y)
        terms = []
        for slide in LANDSLIDES:
            unit = slide.unit_field(u, v)
            terms.append(unit * slide.speed)
            terms.append(unit * slide.seasonal_mm)
        west = LANDSLIDES[0].unit_field(u, v)
        for patch in (FAST_CORE, ACCELERATION):
            cu, cv = patch["centre"]
            weight = np.exp(-((u - cu) ** 2 + (v - cv) ** 2) / (2 * patch["sigma"] ** 2))
            terms.append(west * weight * patch["extra_speed"])
        return np.stack(terms)

    def landslide_id(self, x, y):
        """0 on stable ground, 1 on the western and 2 on the eastern landslide."""
        u, v = self.scene.tile_local(x, y)
        out = np.zeros(np.shape(u), dtype=np.int8)
        for k, slide in enumerate(LANDSLIDES, start=1):
            out[slide.inside(u, v) & (out == 0)] = k
        return out

    # -- time ----------------------------------------------------------------------------------
    @staticmethod
    def time_functions(time):
        """Value of every term's time function at the dates, shape (n_terms, m).

        Secular terms are years since :data:`MODEL_ORIGIN`; annual terms a unit sine peaking on
        the anniversary of :data:`SEASONAL_PEAK`; the acceleration a smoothed ramp (years)
        starting at its onset.
        """
        days = as_days(np.atleast_1d(time)).astype("int64").astype(float)
        t = (days - MODEL_ORIGIN.astype("int64")) / DAYS_PER_YEAR
        peak = (SEASONAL_PEAK - MODEL_ORIGIN).astype(int) / DAYS_PER_YEAR
        annual = np.cos(2 * np.pi * (t - peak))
        onset = (ACCELERATION["onset"].astype("datetime64[D]") - MODEL_ORIGIN).astype(int) \
            / DAYS_PER_YEAR
        tau = ACCELERATION["smoothing_years"]
        ramp = tau * np.logaddexp(0.0, (t - onset) / tau)
        rows = []
        for _ in LANDSLIDES:
            rows += [t, annual]
        rows += [t, ramp]
        return np.stack(rows)

    # -- evaluation ----------------------------------------------------------------------------
    def enu(self, x, y, time, origin=None):
        """True east, north, up displacement (mm) at points and dates.

        Parameters
        ----------
        x, y : array_like, shape (n,)
            Working-CRS metres.
        time : array_like of dates, shape (m,)
        origin : date-like, optional
            Displacements are relative to this date (default: the first of ``time``).

        Returns
        -------
        east, north, up : ndarray, shape (n, m)
            mm; east and north positive toward east and north, up positive upward.
        """
        time = as_days(np.atleast_1d(time))
        f = self.relative_time_functions(time, origin)
        enu = np.einsum("kcn,km->cnm", self.fields(np.atleast_1d(x), np.atleast_1d(y)), f)
        return enu[0], enu[1], enu[2]

    def los(self, x, y, time, incidence, heading, origin=None, dtype=float):
        """True LOS displacement (mm, positive toward the satellite) at points and dates.

        ``incidence`` and ``heading`` (degrees) are per point or scalars. Shape (n, m),
        relative to ``origin`` (default the first date).
        """
        time = as_days(np.atleast_1d(time))
        f = self.relative_time_functions(time, origin)
        return (self.los_fields(x, y, incidence, heading).T @ f).astype(dtype)

    def los_fields(self, x, y, incidence, heading):
        """Amplitude of every term projected on the LOS, shape (n_terms, n)."""
        e = np.stack(np.broadcast_arrays(*los_unit_vector(incidence, heading)))
        fields = self.fields(np.atleast_1d(x), np.atleast_1d(y))
        return np.einsum("kcn,cn->kn", fields, np.broadcast_to(e.reshape(3, -1),
                                                                (3, fields.shape[2])))

    def los_velocity(self, x, y, time, incidence, heading):
        """Least-squares LOS velocity (mm/yr) of the true series over the dates ``time``."""
        rates = linear_rate(as_days(time), self.time_functions(time))
        return rates @ self.los_fields(x, y, incidence, heading)

    def relative_time_functions(self, time, origin=None):
        """Time functions (as :meth:`time_functions`) minus their value at ``origin``.

        Parameters
        ----------
        time : array_like of dates, shape (m,)
        origin : date-like, optional
            Date where every function is zero (default: the first of ``time``).

        Returns
        -------
        ndarray, shape (n_terms, m)
            Years (secular terms and the acceleration ramp) or dimensionless (annual terms).
        """
        f = self.time_functions(time)
        f0 = self.time_functions([time[0] if origin is None else origin])
        return f - f0
