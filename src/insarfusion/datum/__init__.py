"""Tie InSAR displacements to the GNSS datum (paper §4.2.2 and §4.2.4).

Each InSAR dataset is relative to its own reference point, which may itself move. A GNSS
station on stable ground gives the datum: its east/north/up positions are projected on the LOS
(paper eq. 2, :func:`gnss_los`), averaged onto the common epochs (:func:`gnss_on_epochs`) and
compared with the mean LOS series of the InSAR points (or grid cells) within ``radius_m`` of it.
The difference is the *offset series* of the dataset's reference; it is removed from every point
(:func:`station_offset`, :func:`apply_offset`, :func:`reference_dataset`) and, at the end, from
every cell of the fused cube (:func:`reference_grid`, the paper's re-referencing with M01).

Zero at the first epoch
-----------------------
Every series on the common epochs is relative to the first common epoch: it is zero there
(the temporal resamplers deliver the InSAR series that way). The GNSS LOS series is put on the
same footing, but not by subtracting its value on one day: the offset series
``insar_mean(t) - gnss(t)`` is first fitted with the chosen model, and the fitted value at the
first epoch is then subtracted from it. This is the same as zeroing the GNSS series with its
*smoothed* value at the first epoch, so the arbitrary origin of the GNSS positions is estimated
from all epochs and one noisy GNSS day does not shift the whole series. The offset is therefore
zero at the first epoch and the referenced series stay zero there.

Offset models
-------------
The raw offsets are noisy; they are fitted with a smooth model before they are removed:
``"constant"``, ``"linear"`` (default), ``"lowpass"`` or ``"raw"`` (:data:`OFFSET_MODELS`,
described in :mod:`insarfusion.datum.offsets`).

Several reference stations
--------------------------
:func:`offset_plane` fits a plane through the offsets at several stations
(:mod:`insarfusion.datum.plane`; :func:`plane_coefficients`, :func:`evaluate_plane`), which the
leave-one-station-out validation also uses with the mean series near each station
(:func:`area_means`).

Reference stations (``gnss.reference`` and ``gnss.final_reference``) are never used to validate
(:func:`validation_stations`). :func:`stations_los_on_epochs` gives the stations' LOS series in
the primary geometry on the common epochs, for validation.

Without GNSS
------------
The datasets are put in one common datum instead (:func:`reference_without_gnss`,
:mod:`.no_gnss`): by default the primary dataset keeps its own reference and every other
dataset is tied to it over their whole overlap (:func:`tie_to_primary`); or all are referred
to a stable area (:func:`stable_area`) or to the block of best overlap
(:func:`common_reference_area`, :func:`reference_to_area`). A moving reference is warned
(:func:`reference_motion`).

Modules, each depending only on those before it: :mod:`.gnss` (stations on the LOS),
:mod:`.offsets` (offset models), :mod:`.areas` (series near stations), :mod:`.tie` (the tie at
one station), :mod:`.plane` (several stations), :mod:`.reference` (datasets and the fused cube
in the datum), :mod:`.network` (all reference stations at once, weighted and robust, with
the tie's own uncertainty; ``gnss.tie: network``), :mod:`.area_tie` (a common area) and
:mod:`.no_gnss` (the choice without GNSS).
"""

from .area_tie import OVERLAP_BLOCK_M, common_reference_area, reference_to_area
from .areas import area_means, cube_area_means
from .gnss import (
    gnss_los,
    gnss_on_epochs,
    station_geometry,
    stations_los_on_epochs,
    validation_stations,
)
from .network import (
    network_coefficients,
    network_offset,
    network_reference_dataset,
    network_reference_grid,
    network_tie_all,
)
from .no_gnss import (
    NO_GNSS_REFERENCES,
    area_statistics,
    overlap_offset,
    reference_motion,
    reference_without_gnss,
    stable_area,
    tie_to_primary,
)
from .offsets import LOWPASS_WINDOW_EPOCHS, OFFSET_MODELS, fit_offset_model
from .plane import evaluate_plane, offset_plane, plane_coefficients
from .reference import reference_dataset, reference_grid
from .tie import apply_offset, station_offset

__all__ = [
    "LOWPASS_WINDOW_EPOCHS", "NO_GNSS_REFERENCES", "OFFSET_MODELS", "OVERLAP_BLOCK_M", "apply_offset", "area_means", "area_statistics",
    "common_reference_area", "cube_area_means", "evaluate_plane", "fit_offset_model",
    "gnss_los", "gnss_on_epochs", "network_coefficients", "network_offset",
    "network_reference_dataset", "network_reference_grid", "network_tie_all",
    "offset_plane", "overlap_offset", "plane_coefficients", "reference_dataset",
    "reference_grid", "reference_motion", "reference_to_area", "reference_without_gnss",
    "stable_area", "station_geometry", "station_offset", "stations_los_on_epochs",
    "tie_to_primary", "validation_stations",
]
