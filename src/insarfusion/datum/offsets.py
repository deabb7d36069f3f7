"""Offset models: the smooth series fitted to raw datum offsets before they are removed.

The raw offsets carry the GNSS noise (weekly or daily positions, vertical sigma of several mm)
and the noise of the few InSAR points near the station. Removing them epoch by epoch, as the
paper's literal difference does, injects that noise into every point. The offset is therefore
fitted with a smooth model (:func:`fit_offset_model`) before it is removed:

``"constant"``
    The dataset's reference is stable relative to the GNSS: only the GNSS origin is estimated,
    and with series that are zero at the first epoch the offset is zero throughout. Use it when
    the InSAR reference is known to be stable and only the GNSS datum label is wanted.
``"linear"`` (default)
    Constant plus rate, least squares over the epochs: the reference point drifts at a constant
    LOS rate. This is the time-series form of the paper's final step, which removes the mean
    difference of LOS *rates* between the product and the station.
``"lowpass"``
    Local linear regression over a running window of :data:`LOWPASS_WINDOW_EPOCHS` epochs (a
    first-order Savitzky-Golay filter that skips missing epochs; at the ends the window is
    shifted, not shortened, and stays unbiased for a trend). With 12-day epochs the 11-epoch
    window spans about four months: it follows a seasonal motion of the reference while
    averaging weekly GNSS noise. On the synthetic case of ``tests/test_datum.py`` (weekly GNSS,
    sigma 1.5/1.5/4 mm, reference drifting 5 mm/yr plus a 3 mm annual term) 11 epochs gave a
    lower error than 5, 7, 9 or 15; 5 epochs removed only a third of the noise.
``"raw"``
    The paper's per-epoch offsets, gaps bridged by linear interpolation (held constant before
    the first and after the last epoch with GNSS).

The fitted offset is then pinned to zero at the first epoch (see :mod:`insarfusion.datum`,
"Zero at the first epoch"). Offsets are mm.
"""

from __future__ import annotations

import numpy as np

from ..conventions import decimal_years
from ..errors import InputError

#: Names of the offset models (see the module docstring).
OFFSET_MODELS = ("constant", "linear", "lowpass", "raw")

#: Length in epochs of the running window of the ``"lowpass"`` model.
LOWPASS_WINDOW_EPOCHS = 11


def _check_model(model: str) -> None:
    if model not in OFFSET_MODELS:
        raise InputError(f"unknown GNSS offset model {model!r}; expected one of "
                         f"{', '.join(OFFSET_MODELS)}")


def _fill_gaps(tau: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN along the last axis (constant beyond the ends)."""
    flat = values.reshape(-1, values.shape[-1]).copy()
    for row in flat:  # a handful of series (one per station or plane coefficient)
        ok = np.isfinite(row)
        if ok.any() and not ok.all():
            row[~ok] = np.interp(tau[~ok], tau[ok], row[ok])
    return flat.reshape(values.shape)


def _window_sums(a: np.ndarray, window: int) -> np.ndarray:
    """Sums of ``a`` over a running window of ``window`` samples along the last axis.

    The window is centred where it fits and shifted (not shortened) at the ends, as
    Savitzky-Golay filters do, so the first and last values rest on as many samples as the
    others.
    """
    n = a.shape[-1]
    window = min(int(window), n)
    csum = np.concatenate([np.zeros(a.shape[:-1] + (1,)), np.cumsum(a, axis=-1)], axis=-1)
    lo = np.clip(np.arange(n) - window // 2, 0, n - window)
    return csum[..., lo + window] - csum[..., lo]


def fit_offset_model(epochs, values, model: str = "linear",
                     window: int = LOWPASS_WINDOW_EPOCHS) -> np.ndarray:
    """Fit one of :data:`OFFSET_MODELS` to offset series.

    Parameters
    ----------
    epochs : array_like of dates, shape (n_epoch,)
    values : array_like, shape (..., n_epoch)
        Raw offsets (mm), NaN where unknown.
    model : {"constant", "linear", "lowpass", "raw"}
        See the module docstring.
    window : int
        Running-window length in epochs for ``"lowpass"``.

    Returns
    -------
    numpy.ndarray, shape (..., n_epoch)
        The fitted series (mm), defined at every epoch where the series has any finite value.
    """
    _check_model(model)
    tau = decimal_years(epochs)
    v = np.asarray(values, dtype=float)
    w = np.isfinite(v)
    n = w.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(w, v, 0.0).sum(-1, keepdims=True) / n
    if model == "constant":
        return np.broadcast_to(level, v.shape).copy()
    if model == "raw":
        return _fill_gaps(tau, v)
    # centring on the mean level keeps the sums small when the GNSS origin is far from zero
    vc = np.where(w, v - level, 0.0)
    wf = w.astype(float)
    if model == "linear":
        s0, s1, s2 = n[..., 0], (wf * tau).sum(-1), (wf * tau**2).sum(-1)
        t0, t1 = vc.sum(-1), (vc * tau).sum(-1)
        sums = [x[..., None] for x in (s0, s1, s2, t0, t1)]
    else:
        sums = [_window_sums(x, max(int(window), 2)) for x in (wf, wf * tau, wf * tau**2, vc,
                                                                vc * tau)]
    s0, s1, s2, t0, t1 = sums
    with np.errstate(invalid="ignore", divide="ignore"):
        tbar = s1 / s0
        vbar = t0 / s0
        var = s2 / s0 - tbar**2
        slope = np.where(var > 1e-12, (t1 / s0 - tbar * vbar) / var, 0.0)
        fitted = vbar + slope * (tau - tbar) + level
    if model == "lowpass":
        fitted = _fill_gaps(tau, np.where(s0 > 0, fitted, np.nan))
    return np.broadcast_to(fitted, v.shape).copy()


def _pinned(epochs, raw, model) -> tuple[np.ndarray, np.ndarray]:
    """(offset zero at the first epoch, fitted offset before pinning)."""
    fitted = fit_offset_model(epochs, raw, model)
    return fitted - fitted[..., :1], fitted
