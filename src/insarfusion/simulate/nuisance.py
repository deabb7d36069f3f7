"""The errors of the simulated inputs: atmosphere, orbital ramps and point noise.

Atmospheric delay is a per-epoch stationary Gaussian random field with an exponential
covariance (:func:`gaussian_random_fields`, correlation length :data:`ATMOSPHERE_CORRELATION_M`)
drawn on a coarse grid and interpolated to the points (:func:`atmosphere_at_points`); orbital
errors are per-epoch planar ramps (:func:`orbital_ramps`); white point noise has a log-normal
spread of standard deviations (:func:`point_noise_std`). All delays are LOS mm, positive toward
the satellite. Every random number comes from the ``rng`` passed in, in a fixed order.
"""

from __future__ import annotations

import numpy as np

from .scene import SceneGeometry

#: Atmosphere: correlation length (m), median per-epoch standard deviation (mm), FFT cell (m).
ATMOSPHERE_CORRELATION_M = 700.0
ATMOSPHERE_STD_MM = 2.5
ATMOSPHERE_CELL_M = 60.0
#: Orbital ramp: RMS gradient per axis, mm/km.
RAMP_MM_PER_KM = 0.5


def gaussian_random_fields(rng, n_fields, shape, cell, correlation, std):
    """Stationary Gaussian random fields by FFT filtering of white noise.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_fields : int
    shape : (ny, nx)
        Grid size (cells); the FFT domain is periodic, so pad beyond the area of interest.
    cell : float
        Cell size, m.
    correlation : float
        Correlation length of the exponential covariance ``exp(-r / correlation)``, m.
    std : array_like, shape (n_fields,)
        Standard deviation of each field (its units are the fields' units).

    Returns
    -------
    ndarray, shape (n_fields, ny, nx)
    """
    ny, nx = shape
    ky = np.fft.fftfreq(ny, d=cell) * 2 * np.pi
    kx = np.fft.rfftfreq(nx, d=cell) * 2 * np.pi
    k2 = ky[:, None] ** 2 + kx[None, :] ** 2
    # 2-D spectrum of the exponential covariance, normalised to unit variance on this grid
    spectrum = (1.0 + k2 * correlation**2) ** -1.5
    weight = np.full(kx.size, 2.0)
    weight[0] = 1.0
    if nx % 2 == 0:
        weight[-1] = 1.0
    spectrum *= ny * nx / (spectrum * weight[None, :]).sum()
    white = rng.standard_normal((n_fields, ny, nx))
    filtered = np.fft.irfft2(np.fft.rfft2(white, norm="ortho") * np.sqrt(spectrum),
                             s=(ny, nx), norm="ortho")
    return filtered * np.asarray(std, float)[:, None, None]


def atmosphere_at_points(rng, scene: SceneGeometry, x, y, n_epochs):
    """Per-epoch atmospheric delay at the points.

    Fields are drawn on a coarse grid (:data:`ATMOSPHERE_CELL_M`) padded by three correlation
    lengths and interpolated bilinearly to the points. Per-epoch standard deviations are
    log-normal around :data:`ATMOSPHERE_STD_MM` (a few stormy dates are worse).

    Parameters
    ----------
    rng : numpy.random.Generator
    scene : SceneGeometry
    x, y : array_like, shape (n,)
        Working-CRS metres.
    n_epochs : int

    Returns
    -------
    ndarray, shape (n, n_epochs)
        Delay, LOS mm.
    """
    xmin, _, ymin, _ = scene.extent
    pad = 3 * ATMOSPHERE_CORRELATION_M
    n = int(np.ceil((scene.side + 2 * pad) / ATMOSPHERE_CELL_M)) + 2
    std = ATMOSPHERE_STD_MM * np.exp(0.4 * rng.standard_normal(n_epochs))
    fields = gaussian_random_fields(rng, n_epochs, (n, n), ATMOSPHERE_CELL_M,
                                    ATMOSPHERE_CORRELATION_M, std)
    fc = (np.asarray(x) - (xmin - pad)) / ATMOSPHERE_CELL_M
    fr = (np.asarray(y) - (ymin - pad)) / ATMOSPHERE_CELL_M
    c0 = np.clip(np.floor(fc).astype(np.int64), 0, n - 2)
    r0 = np.clip(np.floor(fr).astype(np.int64), 0, n - 2)
    tc, tr = fc - c0, fr - r0
    flat = fields.reshape(n_epochs, -1)
    out = (flat[:, r0 * n + c0] * ((1 - tr) * (1 - tc)) + flat[:, r0 * n + c0 + 1] * ((1 - tr) * tc)
           + flat[:, (r0 + 1) * n + c0] * (tr * (1 - tc)) + flat[:, (r0 + 1) * n + c0 + 1] * (tr * tc))
    return out.T


def orbital_ramps(rng, scene: SceneGeometry, x, y, n_epochs):
    """Per-epoch planar ramps (mm) at the points, zero at the scene centre, shape (n, m)."""
    gradients = rng.normal(0.0, RAMP_MM_PER_KM / 1000.0, size=(2, n_epochs))
    dx = np.asarray(x) - scene.centre_x
    dy = np.asarray(y) - scene.centre_y
    return dx[:, None] * gradients[0] + dy[:, None] * gradients[1]


def point_noise_std(rng, noise_mm, n):
    """Per-point noise standard deviation (mm), log-normal with RMS exactly ``noise_mm``."""
    spread = 0.3
    return noise_mm * np.exp(spread * rng.standard_normal(n) - spread**2)


def coherence_from_noise(noise_std_mm, wavelength_mm):
    """Temporal coherence implied by a LOS noise level: ``exp(-σφ²/2)``, σφ = 4πσ/λ (rad)."""
    sigma_phase = 4 * np.pi * np.asarray(noise_std_mm) / wavelength_mm
    return np.exp(-(sigma_phase**2) / 2)
