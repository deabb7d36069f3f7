"""insarfusion: fuse multi-sensor MT-InSAR and GNSS into one LOS displacement time series.

Implements Khalili et al. (2024), *Geomatics, Natural Hazards and Risk* 15:1, 2383270, with
honest baselines and validation. Conventions (units, signs, angles) live in
:mod:`insarfusion.conventions`.
"""

__version__ = "0.1.0.dev0"
