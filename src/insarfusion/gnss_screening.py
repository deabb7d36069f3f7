"""Screening of GNSS station series: outlier epochs and steps are flagged, logged and removed.

A single bad daily solution (a 1 km spike in one ``.tenv3`` epoch) or an antenna change (a
step of centimetres) must not reach the datum tie nor any validation score. For every station
and component (east, north, up; mm), :func:`screen_gnss`:

1. **outlier epochs** — compares each position with the median of a centred moving window
   (``window_days``) and flags it when it departs by more than ``outlier_threshold`` robust
   standard deviations (1.4826 × the median absolute departure over a longer centred window,
   ``scale_days``, floored at ``min_sigma_mm``). Two passes, so that a large outlier cannot hide a smaller one. An epoch
   flagged in any component is removed (set to NaN, sigmas too) in all three: it is one bad
   solution.
2. **steps** — at every epoch, the difference between the median of the ``window_days`` after
   it (itself included) and the median of the ``window_days`` before it. A steady velocity adds
   the same amount at every epoch, so the series' median difference is subtracted; what stands
   out by more than ``step_threshold`` robust standard deviations of that difference (and at
   least ``min_step_mm``), at a local maximum, is a step at that epoch; its size is then
   fitted locally (offset + rate + step over ± ``window_days``). Step dates may also be
   given (``step_dates``, e.g. from NGL's ``steps.txt`` through :func:`read_ngl_steps`); their
   offsets are estimated the same way, whatever their size.

   Steps are **corrected**: the estimated offset is subtracted from every later epoch of that
   component, so the station keeps its whole series (flagging the later part instead would
   throw away most of a station's record after an antenna change). The size and date of each
   correction are reported.

Series stay relative to their first valid epoch, as the readers return them
(:mod:`insarfusion.io.gnss`): where the first epoch was removed, the component is re-zeroed at
the new first one.

Everything runs on all stations and components at once (pandas time-based rolling windows);
only the report is written station by station. Every flagged item is logged with the station
named, and returned in a :class:`ScreeningReport`.

Public API: :func:`screen_gnss`, :class:`ScreeningReport`, :func:`read_ngl_steps` and
:func:`screen_for_run` (the run's screening, as ``gnss.screening`` configures it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .conventions import as_days
from .errors import InputError
from .log import logger

#: Position components screened, as named in a GNSS dataset.
COMPONENTS = ("east", "north", "up")
#: Scale of a median absolute deviation that makes it a standard deviation for Gaussian noise.
_MAD_TO_STD = 1.4826

#: Fewest positions in each of the windows before and after a step (few: a step may sit in a
#: gap of weeks, and the size is fitted again over both windows afterwards).
_STEP_SAMPLES = 3
#: Default moving window of the outlier and step tests, days.
DEFAULT_WINDOW_DAYS = 90.0
#: Default window of the moving MAD that scales the outlier test, days.
DEFAULT_SCALE_DAYS = 365.0
#: Default outlier threshold, in robust standard deviations.
DEFAULT_OUTLIER_THRESHOLD = 5.0
#: Default step threshold, in robust standard deviations of the before/after difference.
DEFAULT_STEP_THRESHOLD = 6.0
#: Smallest step detected, mm.
DEFAULT_MIN_STEP_MM = 5.0


@dataclass(frozen=True)
class ScreeningReport:
    """What :func:`screen_gnss` flagged: :attr:`flags`, one row per item, and :attr:`removed`.

    Attributes
    ----------
    flags : pandas.DataFrame
        One row per flagged item: ``station``, ``time`` (datetime64), ``component``
        (east/north/up), ``kind`` (``"outlier"`` or ``"step"``), ``size_mm`` (the outlier's
        departure from the moving median, or the step's offset, mm), ``action``
        (``"removed"`` or ``"corrected"``) and ``source`` (``"detected"`` or ``"given"``).
    removed : xarray.DataArray
        (station, time) bool: epochs removed as outliers.
    """

    flags: pd.DataFrame
    removed: xr.DataArray

    def for_station(self, station) -> pd.DataFrame:
        """The rows of :attr:`flags` about one station."""
        return self.flags[self.flags["station"] == str(station)]

    def summary(self) -> dict:
        """Per station: counts of removed epochs and corrected steps, and the steps' dates/sizes."""
        out = {}
        for station in self.removed["station"].values:
            rows = self.for_station(station)
            steps = rows[rows["kind"] == "step"]
            out[str(station)] = {
                "outlier_epochs": int(self.removed.sel(station=station).sum()),
                "steps": [{"date": str(np.datetime64(t, "D")), "component": c,
                           "size_mm": round(float(s), 2)}
                          for t, c, s in zip(steps["time"], steps["component"],
                                             steps["size_mm"], strict=True)],
            }
        return out


def _frame(gnss: xr.Dataset) -> pd.DataFrame:
    """East/north/up of every station as one table: time × (component, station)."""
    parts = {c: pd.DataFrame(gnss[c].transpose("station", "time").values.T,
                             index=pd.DatetimeIndex(gnss["time"].values),
                             columns=gnss["station"].values.astype(str))
             for c in COMPONENTS}
    return pd.concat(parts, axis=1)


def _window(window_days) -> str:
    if not (np.isfinite(window_days) and window_days > 0):
        raise InputError(f"window_days must be positive, got {window_days!r}")
    return f"{float(window_days)}D"


def _detrended(table, window_days):
    """Each series less a robust steady rate: the median of its slopes over ``window_days``.

    A moving median lags behind a fast station and sits on the middle point of a nearly
    monotonic window, which would make departures and their MAD meaningless; the residual
    from a steady rate has neither problem.
    """
    days = (table.index - table.index[0]) / pd.Timedelta(days=1)
    days = np.asarray(days, dtype=float)
    lag = pd.Timedelta(days=float(window_days))
    pos = table.index.get_indexer(table.index + lag, method="nearest",
                                  tolerance=pd.Timedelta(days=float(window_days) / 4))
    ok = pos >= 0
    values = table.values
    rates = np.full(values.shape, np.nan)
    span = days[pos[ok]] - days[ok]
    rates[ok] = (values[pos[ok]] - values[ok]) / span[:, None]
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(rates).any(axis=0)
        rate = np.zeros(values.shape[1])
        rate[finite] = np.nanmedian(rates[:, finite], axis=0)
    return table - np.outer(days, rate)


def _outliers(table, window, scale_window, threshold, min_sigma, min_samples):
    """Boolean table of outliers and the departures (mm), two passes."""
    table = _detrended(table, pd.Timedelta(window) / pd.Timedelta(days=1))
    flagged = pd.DataFrame(False, index=table.index, columns=table.columns)
    departure = pd.DataFrame(np.nan, index=table.index, columns=table.columns)
    for _ in range(2):
        kept = table.where(~flagged)
        median = kept.rolling(window, center=True, min_periods=min_samples).median()
        dev = table - median
        mad = dev.where(~flagged).abs().rolling(scale_window, center=True,
                                                 min_periods=min_samples).median()
        sigma = np.maximum(_MAD_TO_STD * mad, min_sigma)
        new = (dev.abs() > threshold * sigma) & table.notna()
        departure = departure.where(~new | flagged, dev)
        flagged |= new
    return flagged, departure


def _whole_epochs(flagged, stations):
    """A flag in any component of a station's epoch, spread to all three components."""
    epoch = flagged.T.groupby(level=1, sort=False).any().T.reindex(columns=stations)
    return pd.concat({c: epoch for c in COMPONENTS}, axis=1)


def _reflected(table):
    """``table`` reversed in time, indexed so that time still increases (for forward windows)."""
    idx = table.index
    rev = table.iloc[::-1]
    rev.index = pd.DatetimeIndex(idx[0] + (idx[-1] - idx[::-1]))
    return rev


def _step_differences(table, window, min_samples):
    """Mean of the window after each epoch (itself included) minus that of the window before.

    Computed on series already cleared of outliers, so that a mean is safe; it peaks sharply
    at a step's first epoch (a median's would plateau over a whole window). A steady velocity
    gives every epoch the same difference, so each series' median difference is taken off.
    NaN at epochs without a position (a step is placed at an epoch that has one).
    """
    before = table.rolling(window, closed="left", min_periods=min_samples).mean()
    after = _reflected(_reflected(table).rolling(window, closed="right",
                                                 min_periods=min_samples).mean())
    after.index = table.index
    diff = (after - before).where(table.notna())
    return diff - diff.median()


def _detect_steps(diff, table, window, threshold, min_step):
    """Steps (table of offsets, 0 elsewhere) at local maxima of the detrended differences."""
    spread = _MAD_TO_STD * diff.abs().median()
    limit = np.maximum(threshold * spread, min_step)
    size = diff.abs()
    # the largest within one window on either side: one step per 2 windows at most
    wide = f"{2 * pd.Timedelta(window) / pd.Timedelta(days=1)}D"
    peak = size.rolling(wide, center=True, min_periods=1).max()
    found = (size > limit) & (size >= peak) & table.notna()
    return diff.where(found, 0.0).fillna(0.0)


def _step_fit(days, values, at, centre, window_days):
    """Step size and residual sum of squares of a local fit with a step at day ``at``.

    The fit (offset + rate + step) uses the positions within ± ``window_days`` of ``centre``.
    """
    near = (np.abs(days - centre) < window_days) & np.isfinite(values)
    t = days[near] - at
    after = t >= 0
    if after.sum() < 2 or (~after).sum() < 2:
        return np.nan, np.inf
    design = np.stack([np.ones(t.size), t / 365.25, after.astype(float)], axis=1)
    coef, *_ = np.linalg.lstsq(design, values[near], rcond=None)
    return coef[2], float(np.sum((values[near] - design @ coef) ** 2))


def _refine(offsets, table, window_days, move=True):
    """Step sizes (and, with ``move``, epochs) fitted locally: offset + rate + step.

    The before/after difference of means also holds whatever the local rate (a seasonal
    swing, an acceleration) adds over the windows; a local line takes that out. With
    ``move``, the step may move to the valid epoch before or after where the fit is better
    (around a gap, the last epoch before it and the first after it look alike). One small
    least-squares fit per step found (a handful), not per epoch.
    """
    days = np.asarray((table.index - table.index[0]) / pd.Timedelta(days=1), dtype=float)
    rows, cols = np.nonzero(offsets.values)
    out = pd.DataFrame(0.0, index=offsets.index, columns=offsets.columns)
    for k, j in zip(rows, cols, strict=True):
        values = table.values[:, j]
        valid = np.flatnonzero(np.isfinite(values))
        p = int(np.searchsorted(valid, k))
        tries = valid[max(p - 1, 0):p + 2] if move else np.array([k])
        fits = [_step_fit(days, values, days[i], days[k], window_days) for i in tries]
        best = int(np.argmin([rss for _, rss in fits]))
        size = fits[best][0]
        out.iloc[tries[best], j] = offsets.iloc[k, j] if np.isnan(size) else size
    return out


def _given_steps(diff, step_dates, stations, times):
    """Offsets (table, 0 elsewhere) at the first epoch on or after each given step date."""
    offsets = pd.DataFrame(0.0, index=diff.index, columns=diff.columns)
    days = as_days(times)
    for station, dates in (step_dates or {}).items():
        if str(station) not in stations:
            continue
        for date in as_days(np.atleast_1d(dates)):
            k = int(np.searchsorted(days, date))
            if 0 < k < days.size:
                for comp in COMPONENTS:
                    value = diff[(comp, str(station))].iloc[k]
                    offsets.iloc[k, offsets.columns.get_loc((comp, str(station)))] = (
                        0.0 if np.isnan(value) else value)
    return offsets


def _rows(mask, values, kind, action, source):
    """Report rows of the flagged cells of a (time × (component, station)) table."""
    stacked = values.where(mask).stack([0, 1], future_stack=True).dropna()
    if stacked.empty:
        return pd.DataFrame(columns=["station", "time", "component", "kind", "size_mm",
                                     "action", "source"])
    frame = stacked.rename("size_mm").reset_index()
    frame.columns = ["time", "component", "station", "size_mm"]
    frame["kind"], frame["action"], frame["source"] = kind, action, source
    return frame[["station", "time", "component", "kind", "size_mm", "action", "source"]]


def _rezero(table, first_before):
    """Make components whose first valid epoch went relative to their new first one."""
    first_after = table.apply(pd.Series.first_valid_index)
    moved = [c for c in table.columns
             if not pd.isna(first_after[c]) and first_after[c] != first_before[c]]
    for col in moved:
        table[col] = table[col] - table[col].loc[first_after[col]]
    return table


def _log(report: ScreeningReport) -> None:
    for station, rows in report.flags.groupby("station", sort=False):
        parts = []
        outl = rows[rows["kind"] == "outlier"]
        if len(outl):
            items = ", ".join(f"{np.datetime64(t, 'D')} {c} {s:+.1f} mm"
                              for t, c, s in zip(outl["time"][:5], outl["component"][:5],
                                                 outl["size_mm"][:5], strict=True))
            more = f" and {len(outl) - 5} more" if len(outl) > 5 else ""
            n_epochs = int(report.removed.sel(station=station).sum())
            parts.append(f"{n_epochs} outlier epoch(s) removed ({items}{more})")
        steps = rows[rows["kind"] == "step"]
        if len(steps):
            items = ", ".join(f"{np.datetime64(t, 'D')} {c} {s:+.1f} mm ({src})"
                              for t, c, s, src in zip(steps["time"], steps["component"],
                                                      steps["size_mm"], steps["source"],
                                                      strict=True))
            parts.append(f"{len(steps)} step(s) corrected ({items})")
        logger.warning("GNSS station %s: %s", station, "; ".join(parts))


def screen_gnss(gnss: xr.Dataset, window_days=DEFAULT_WINDOW_DAYS,
                scale_days=DEFAULT_SCALE_DAYS, outlier_threshold=DEFAULT_OUTLIER_THRESHOLD, min_sigma_mm=1.0,
                detect_steps=True, step_dates=None, step_threshold=DEFAULT_STEP_THRESHOLD,
                min_step_mm=DEFAULT_MIN_STEP_MM, min_samples=5):
    """Remove outlier epochs and correct steps of every station's series.

    Parameters
    ----------
    gnss : xarray.Dataset
        GNSS dataset (:func:`insarfusion.dataset.gnss_dataset`): ``east``, ``north``, ``up``
        (station, time) in mm.
    window_days : float
        Length of the moving windows (outliers: centred; steps: before and after), days.
    scale_days : float
        Length of the centred window of the moving MAD, days (longer than ``window_days``: a
        MAD of a dozen weekly positions is too uncertain to set a threshold).
    outlier_threshold : float
        Departure from the moving median that makes an outlier, in robust standard deviations.
    min_sigma_mm : float
        Floor of the robust standard deviation, mm (so that very quiet stretches do not flag
        ordinary noise).
    detect_steps : bool
        Look for steps in the data.
    step_dates : dict of str to dates, optional
        Known step dates per station (antenna changes, earthquakes); corrected whatever their
        size.
    step_threshold : float
        Detected steps exceed this many robust standard deviations of the before/after
        difference.
    min_step_mm : float
        Smallest step detected, mm.
    min_samples : int
        Fewest positions in a window for the outlier test to be made (the step test needs 3
        on each side).

    Returns
    -------
    cleaned : xarray.Dataset
        Same layout, variables and attributes as ``gnss`` (plus attrs ``screened_outliers``
        and ``screened_steps``, counts), outlier epochs NaN and steps corrected.
    report : ScreeningReport
        Every flagged item, per station.
    """
    missing = [c for c in COMPONENTS if c not in gnss]
    if missing:
        raise InputError(f"GNSS dataset has no {', '.join(missing)}")
    window = _window(window_days)
    scale_window = _window(max(scale_days, window_days))
    table = _frame(gnss)
    stations = list(gnss["station"].values.astype(str))
    first_before = table.apply(pd.Series.first_valid_index)

    # outliers first (a step's neighbours may be taken for some), then steps on what is left,
    # then outliers again on the step-corrected series, from which the report is made
    flagged, _ = _outliers(table, window, scale_window, outlier_threshold, min_sigma_mm,
                            min_samples)
    first_pass = table.where(~_whole_epochs(flagged, stations))
    given = _given_steps(_step_differences(first_pass, window, _STEP_SAMPLES), step_dates,
                         stations, gnss["time"].values)
    given = _refine(given, first_pass, window_days, move=False)
    first_pass = first_pass - given.cumsum()
    found = pd.DataFrame(0.0, index=table.index, columns=table.columns)
    if detect_steps:
        found = _detect_steps(_step_differences(first_pass, window, _STEP_SAMPLES), first_pass,
                              window, step_threshold, min_step_mm)
        found = _refine(found, first_pass, window_days)
    table = table - (given + found).cumsum()
    flagged, departure = _outliers(table, window, scale_window, outlier_threshold, min_sigma_mm,
                            min_samples)
    removed = _whole_epochs(flagged, stations)
    table = _rezero(table.where(~removed), first_before)
    bad_epoch = removed["east"]

    flags = pd.concat([
        _rows(flagged, departure, "outlier", "removed", "detected"),
        _rows(given != 0, given, "step", "corrected", "given"),
        _rows(found != 0, found, "step", "corrected", "detected")], ignore_index=True)
    flags = flags.sort_values(["station", "time", "component"], kind="stable",
                              ignore_index=True)
    removed_da = xr.DataArray(bad_epoch.values.T, dims=("station", "time"),
                              coords={"station": gnss["station"].values,
                                      "time": gnss["time"].values})
    report = ScreeningReport(flags=flags, removed=removed_da)

    cleaned = gnss.copy()
    for comp in COMPONENTS:
        values = table[comp].reindex(columns=stations).values.T
        cleaned[comp] = (gnss[comp].transpose("station", "time").dims, values,
                         gnss[comp].attrs)
        sig = f"sigma_{comp}"
        if sig in gnss:
            cleaned[sig] = gnss[sig].transpose("station", "time").where(~removed_da)
    cleaned = cleaned.transpose(*gnss[COMPONENTS[0]].dims, ...)
    cleaned.attrs["screened_outliers"] = int(bad_epoch.values.sum())
    cleaned.attrs["screened_steps"] = int((flags["kind"] == "step").sum())
    _log(report)
    return cleaned, report


def screen_for_run(gnss: xr.Dataset, config) -> tuple[xr.Dataset, dict]:
    """Screen a run's GNSS as its configuration asks (``gnss.screening``).

    Parameters
    ----------
    gnss : xarray.Dataset
        The stations as loaded.
    config : insarfusion.config.GnssScreeningConfig
        The screening keys; known step dates are read from ``steps_file`` when given.

    Returns
    -------
    cleaned : xarray.Dataset
        The screened stations (attributes kept).
    section : dict
        For ``validation.json``: ``enabled``, the totals ``outlier_epochs`` and ``steps``, and
        per station what :meth:`ScreeningReport.summary` lists (only stations with a flag).
    """
    if not config.enabled:
        logger.info("GNSS screening disabled (gnss.screening.enabled: false)")
        return gnss, {"enabled": False}
    steps = None
    if config.steps_file is not None:
        steps = read_ngl_steps(config.steps_file, gnss["station"].values.astype(str))
    cleaned, report = screen_gnss(gnss, step_dates=steps, **config.screen_params())
    stations = {k: v for k, v in report.summary().items() if v["outlier_epochs"] or v["steps"]}
    section = {"enabled": True, "outlier_epochs": int(cleaned.attrs["screened_outliers"]),
               "steps": int(cleaned.attrs["screened_steps"]), "stations": stations}
    logger.info("GNSS screening: %d outlier epoch(s) removed, %d step(s) corrected, at %d of %d "
                "stations", section["outlier_epochs"], section["steps"], len(stations),
                gnss.sizes["station"])
    return cleaned, section


def read_ngl_steps(path, stations=None) -> dict:
    """Step dates per station from a Nevada Geodetic Laboratory ``steps.txt`` file.

    Each line starts with the station, the date as ``YYMMMDD`` (e.g. ``17MAY04``) and a code
    (1: equipment change, 2: earthquake); the rest of the line is ignored.

    Parameters
    ----------
    path : path-like
        The steps file.
    stations : iterable of str, optional
        Keep only these stations.

    Returns
    -------
    dict of str to ndarray of datetime64[D]
        Sorted unique step dates per station.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such steps file", path)
    keep = None if stations is None else {str(s) for s in stations}
    found: dict[str, list] = {}
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        tokens = line.split()
        if len(tokens) < 3 or line.lstrip().startswith("#"):
            continue
        station, date = tokens[0], tokens[1]
        if keep is not None and station not in keep:
            continue
        try:
            day = pd.to_datetime(date, format="%y%b%d").to_datetime64().astype("datetime64[D]")
        except ValueError:
            raise InputError(f"date {date!r} is not YYMMMDD", path, f"line {number}") from None
        found.setdefault(station, []).append(day)
    return {k: np.unique(np.array(v, dtype="datetime64[D]")) for k, v in found.items()}


__all__ = ["COMPONENTS", "DEFAULT_MIN_STEP_MM", "DEFAULT_OUTLIER_THRESHOLD", "DEFAULT_SCALE_DAYS",
           "DEFAULT_STEP_THRESHOLD", "DEFAULT_WINDOW_DAYS", "ScreeningReport",
           "read_ngl_steps", "screen_for_run", "screen_gnss"]
