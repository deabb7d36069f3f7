"""The run configuration (YAML), validated with pydantic.

Paths are relative to the configuration file. Unknown keys are errors, so that a misspelled
option is never silently ignored. See ``DESIGN.md`` §3 and the README for every key.

The sections of the methods (temporal resampling, spatial fusion) are in
:mod:`insarfusion.config.methods`, what every section shares in :mod:`insarfusion.config.base`;
all are importable from here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError
from .base import _Strict
from .methods import (  # noqa: F401 - the schema's sections, importable from here
    CNNConfig,
    IDWConfig,
    KrigingConfig,
    LSTMConfig,
    SpatialConfig,
    TemporalConfig,
)


class DatasetConfig(_Strict):
    """One InSAR point dataset."""

    name: str = Field(description="name used in tables, figures and file names")
    path: Path = Field(description="the file (or folder) of points, relative to the config")
    format: Literal["auto", "csv", "egms", "stamps", "mintpy", "multidefusion"] = Field(
        "auto", description="reader; auto guesses it from the file")
    band: str | None = Field(None, description="radar band (C, X, L), for the wavelength")
    technique: str | None = Field(None, description="PSI or SBAS, for the tables")
    incidence: float | None = Field(None, gt=0, lt=90, description="degrees, if the file has none")
    heading: float | None = Field(None, ge=-360, le=360, description="degrees clockwise from north")
    options: dict = Field(default_factory=dict, description="reader-specific options")


class GnssScreeningConfig(_Strict):
    """Screening of the GNSS series at load (:func:`insarfusion.gnss_screening.screen_gnss`).

    Outlier epochs (median and MAD over moving windows) are removed and steps corrected before
    any tie or score; what was flagged is logged and listed in ``validation.json``
    (``gnss_screening``).
    """

    enabled: bool = Field(True, description="screen the GNSS before the tie and the validation")
    outlier_threshold: float = Field(5.0, gt=0, description="robust standard deviations")
    window_days: float = Field(90.0, gt=0, description="moving window of both tests, days")
    scale_days: float = Field(365.0, gt=0, description="window of the moving MAD, days")
    detect_steps: bool = Field(True, description="detect and correct steps in the positions")
    step_threshold: float = Field(6.0, gt=0, description="robust standard deviations")
    min_step_mm: float = Field(5.0, ge=0, description="smallest step detected, mm")
    steps_file: Path | None = Field(None, description="NGL steps.txt: known step dates")

    def screen_params(self) -> dict:
        """Keyword arguments of :func:`~insarfusion.gnss_screening.screen_gnss` (no steps)."""
        return {"window_days": self.window_days, "scale_days": self.scale_days,
                "outlier_threshold": self.outlier_threshold,
                "detect_steps": self.detect_steps, "step_threshold": self.step_threshold,
                "min_step_mm": self.min_step_mm}


class GnssConfig(_Strict):
    """GNSS stations: where they are, which ones reference the datasets.

    ``tie``: ``"station"`` is the paper's tie (one station: the mean of the points within
    ``radius_m``; several: a least-squares plane through their offsets); ``"network"`` ties
    each dataset through all reference stations at once per epoch, weighted by the GNSS
    formal errors and the points near each station, robustly (a bad station is down-weighted
    and named), with the tie's own uncertainty per epoch (:mod:`insarfusion.datum.network`).
    ``network_plane`` adds a plane to the network's offset where three or more stations
    allow it (off by default: on the simulated cases a plane through a handful of stations
    adds more tilt noise than it removes; ``benchmarks/README.md``). With one reference
    station the network tie is the paper's circle mean. Under ``network`` the datasets and
    the fused product are both tied through the reference stations and ``final_reference``
    together.
    """

    path: Path = Field(description="a GNSS file or a folder of them, relative to the config")
    format: Literal["auto", "tenv3", "tenv", "pos", "ecef", "csv"] = Field(
        "auto", description="reader; auto guesses it from the files")
    reference: list[str] = Field(default_factory=list,
                                 description="stations that tie each dataset to the GNSS datum")
    final_reference: str | None = Field(None,
        description="station the fused products are tied to at the end")
    radius_m: float = Field(100.0, gt=0,
        description="points within this distance of a station stand for it, metres")
    stations: list[str] | None = Field(None, description="stations to read; default every one")
    offset_model: Literal["constant", "linear", "lowpass", "raw"] = Field(
        "linear", description="how the dataset-GNSS offset is smoothed in time")
    tie: Literal["station", "network"] = Field(
        "network", description="tie each dataset through one station or all references at once")
    network_plane: bool = Field(False, description="the network tie fits an offset plane too")
    screening: GnssScreeningConfig = Field(default_factory=GnssScreeningConfig,
                                           description="outlier and step screening of the GNSS")

    @field_validator("reference", mode="before")
    @classmethod
    def _one_or_many(cls, v):
        return [v] if isinstance(v, str) else v

    @field_validator("reference")
    @classmethod
    def _not_empty(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("the list names no station: give at least one reference station, "
                             "or leave the key out to tie the datasets at a common reference "
                             "area without GNSS")
        return v


class AtmosphereConfig(_Strict):
    """Atmospheric phase screen filtering of each point dataset (:mod:`insarfusion.atmosphere`).

    ``method``: ``none``, ``common_mode`` (the per-epoch median residual of each dataset) or
    ``spatiotemporal`` (temporal high-pass per point, robust spatial Gaussian per epoch). The
    other keys are the filter's parameters; the defaults are those measured in
    ``benchmarks/README.md``.
    """

    method: Literal["none", "common_mode", "spatiotemporal"] = Field(
        "spatiotemporal", description="APS filter: none, per-epoch common mode, or the full filter")
    temporal: Literal["trend_gaussian", "gaussian", "polynomial"] = Field(
        "trend_gaussian", description="smooth temporal model the residuals are taken from")
    window_days: float = Field(90.0, gt=0, description="temporal Gaussian's std, days")
    degree: int = Field(2, ge=0, le=5, description="degree of the polynomial trend")
    annual: bool = Field(True, description="the temporal model has an annual term")
    scale_m: float = Field(100.0, gt=0, description="spatial Gaussian's std, metres")
    iterations: int = Field(1, ge=0, le=10, description="robust reweighting passes")
    ramp: bool = Field(False, description="a robust plane per epoch (orbital ramp) too")
    cell_m: float | None = Field(None, gt=0, description="binning cell; default scale_m / 2")

    def filter_params(self) -> dict:
        """Keyword arguments of :class:`~insarfusion.atmosphere.APSFilter`."""
        return self.model_dump()


class DatumConfig(_Strict):
    """The common datum of the datasets when no GNSS station ties them (:mod:`insarfusion.datum.no_gnss`).

    ``no_gnss_reference``: ``primary`` keeps the primary dataset's own reference and ties
    every other dataset to it over their whole overlap (per epoch the median difference of
    co-located cells, smoothed in time with ``offset_model``); ``stable_area`` refers every
    dataset to the block of ``area_block_m`` that moves least relative to the field, scatters
    least and is least noisy, among those with ``min_area_points`` points of every dataset;
    ``best_overlap`` to the block holding the most points of the sparsest dataset. A
    ``reference_point`` overrides them. A warning is logged when the reference moves relative
    to the field by more than ``moving_threshold`` velocity spreads.
    """

    no_gnss_reference: Literal["primary", "stable_area", "best_overlap"] = Field(
        "primary", description="without reference GNSS: the primary's own reference, a stable "
                               "area, or the block of best overlap")
    offset_model: Literal["constant", "linear", "lowpass", "raw"] = Field(
        "lowpass", description="how the offset of each dataset to the primary is smoothed in time")
    overlap_cell_m: float = Field(50.0, gt=0,
        description="cells in which co-located points of two datasets are compared, metres")
    area_block_m: float = Field(200.0, gt=0,
        description="side of the blocks searched for a stable reference area, metres")
    min_area_points: int = Field(5, ge=1,
        description="points of every dataset a stable reference area must hold")
    moving_threshold: float = Field(0.5, gt=0,
        description="warn when the reference moves by more than this many velocity spreads")

    def reference_params(self) -> dict:
        """Keyword arguments of :func:`~insarfusion.datum.reference_without_gnss`."""
        return {"mode": self.no_gnss_reference, "model": self.offset_model,
                "cell_m": self.overlap_cell_m, "block_m": self.area_block_m,
                "min_points": self.min_area_points, "moving_threshold": self.moving_threshold}


class ReferencePointConfig(_Strict):
    """Common reference area when there is no GNSS (overrides ``datum.no_gnss_reference``)."""

    lon: float = Field(ge=-180, le=180, description="longitude of the reference area, degrees")
    lat: float = Field(ge=-90, le=90, description="latitude of the reference area, degrees")
    radius_m: float = Field(100.0, gt=0, description="radius of the reference area, metres")


class TimeConfig(_Strict):
    """The common epochs: spacing (days) and optional first and last date."""

    step_days: int = Field(12, gt=0, description="spacing of the common epochs, days")
    start: dt.date | None = Field(None,
        description="first epoch; default the datasets' common start")
    end: dt.date | None = Field(None, description="last epoch; default the datasets' common end")

    @field_validator("end")
    @classmethod
    def _after_start(cls, v, info):
        """``end`` after ``start``, with room for two epochs at ``step_days``."""
        start, step = info.data.get("start"), info.data.get("step_days")
        if v is None or start is None:
            return v
        if v < start:
            raise ValueError(f"time.end {v} is before time.start {start}")
        if step and (v - start).days < step:
            raise ValueError(f"time.start {start} .. time.end {v} spans {(v - start).days} "
                             f"days: fewer than 2 epochs at step_days={step}")
        return v


class ValidationConfig(_Strict):
    """Checks beyond the GNSS stations."""

    holdout_folds: int = Field(5, ge=0, description="folds of spatial blocks of input points "
                               "held out per method; 0 turns it off")
    holdout_block_m: float | None = Field(None, gt=0, description="block side, metres; "
                                          "default an eighth of the data extent")
    holdout_methods: list[Literal["cnn", "nearest", "idw", "kriging", "linear"]] | None = Field(
        None, description="methods scored on held-out blocks; default the main method and "
        "the baselines")
    learned_folds: int = Field(1, ge=0, description="folds of the same split on which the "
                               "CNN is retrained and scored (each a whole training; the "
                               "others' scores on these folds are reported beside its own); "
                               "0 leaves it out, holdout_folds scores it on all")

    @field_validator("holdout_folds")
    @classmethod
    def _not_one(cls, v):
        if v == 1:
            raise ValueError("needs at least 2 folds (or 0 to turn it off)")
        return v

    def methods_for(self, spatial: SpatialConfig) -> list[str]:
        """The spatial methods scored on held-out blocks.

        ``holdout_methods`` when given, else the fusion method and the baselines; the CNN
        only with ``learned_folds`` above 0 (it is scored on that many folds).
        """
        methods = (list(self.holdout_methods) if self.holdout_methods is not None
                   else [spatial.method, *spatial.baselines])
        return [m for m in dict.fromkeys(methods) if m != "cnn" or self.learned_folds > 0]


def _projected_crs(v):
    """``v`` unchanged if pyproj reads it as a projected CRS; ValueError otherwise."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(v)
    except CRSError:
        raise ValueError(f"not a coordinate reference system pyproj knows: {v!r}") from None
    if not crs.is_projected:
        raise ValueError(f"{v!r} is not a projected CRS (metres are needed for the grid)")
    return v


class DecompositionCompareConfig(_Strict):
    """Independent east and up products to compare the decomposition with (e.g. EGMS L3)."""

    east: Path | None = Field(None, description="east product to compare with")
    up: Path | None = Field(None, description="up product to compare with")
    format: Literal["auto", "csv", "egms"] = Field("auto", description="reader of the two products")


class DecompositionConfig(_Strict):
    """East-up decomposition of two or more lines of sight (``insarfusion decompose``)."""

    cell_size_m: float = Field(100.0, gt=0, description="grid cell, metres")
    crs: str | None = Field(None, description="grid CRS; default the run's crs (or UTM)")
    step_days: int | None = Field(None, gt=0, description="epoch spacing; default time.step_days")
    resampler: Literal["linear", "pchip"] = Field("linear", description="temporal resampler")
    min_points: int = Field(1, ge=1, description="points of each geometry a cell needs")
    compare: DecompositionCompareConfig | None = Field(
        None, description="independent east/up products to compare with")

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, v):
        return v if v is None else _projected_crs(v)

    def resolve_paths(self, base: Path) -> None:
        """Make the comparison paths absolute, relative to ``base``."""
        if self.compare is None:
            return
        for key in ("east", "up"):
            path = getattr(self.compare, key)
            if path is not None and not path.is_absolute():
                setattr(self.compare, key, (base / path).resolve())


class Config(_Strict):
    """A whole run."""

    crs: str | None = Field(None,
        description="working projected CRS; default the UTM zone of the data")
    datasets: list[DatasetConfig] = Field(min_length=1, description="the InSAR point datasets")
    primary: str | None = Field(None,
        description="dataset whose LOS the products are in; default the first")
    projection: Literal["vector", "paper", "calibrated"] = Field(
        "paper", description="how datasets are projected onto the primary LOS")
    gnss: GnssConfig | None = Field(None,
        description="GNSS stations; without them a common reference area")
    reference_point: ReferencePointConfig | None = Field(
        None, description="reference area without GNSS; default: as datum.no_gnss_reference says")
    datum: DatumConfig = Field(default_factory=DatumConfig,
        description="the common datum of the datasets without reference GNSS")
    time: TimeConfig = Field(default_factory=TimeConfig, description="the common epochs")
    temporal: TemporalConfig = Field(default_factory=TemporalConfig,
        description="temporal resampling")
    spatial: SpatialConfig = Field(default_factory=SpatialConfig, description="spatial fusion")
    validation: ValidationConfig = Field(default_factory=ValidationConfig,
        description="checks beyond the stations")
    atmosphere: AtmosphereConfig = Field(default_factory=AtmosphereConfig,
        description="atmospheric phase screen filtering of each dataset")
    seed: int = Field(0, description="random seed (same seed, same products on CPU)")
    truth: Path | None = Field(None,
        description="NetCDF of the true displacement (simulated cases)")
    decomposition: DecompositionConfig | None = Field(None, description="east-up "
                                                      "decomposition (insarfusion decompose)")

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, v):
        return v if v is None else _projected_crs(v)

    @model_validator(mode="after")
    def _check_names(self):
        names = [d.name for d in self.datasets]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"dataset name {sorted(dup)[0]!r} is used twice")
        if self.primary is None:
            self.primary = names[0]
        elif self.primary not in names:
            raise ValueError(f"primary {self.primary!r} is not one of the datasets ({', '.join(names)})")
        return self

    def resolve_paths(self, base: Path) -> Config:
        """Make every relative path absolute, relative to ``base``."""
        for d in self.datasets:
            d.path = (base / d.path).resolve() if not d.path.is_absolute() else d.path
        if self.gnss is not None and not self.gnss.path.is_absolute():
            self.gnss.path = (base / self.gnss.path).resolve()
        steps = self.gnss.screening.steps_file if self.gnss is not None else None
        if steps is not None and not steps.is_absolute():
            self.gnss.screening.steps_file = (base / steps).resolve()
        if self.truth is not None and not self.truth.is_absolute():
            self.truth = (base / self.truth).resolve()
        if self.decomposition is not None:
            self.decomposition.resolve_paths(base)
        return self


def _location(loc) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


class _DatesAsText(yaml.SafeLoader):
    """The safe YAML loader, leaving dates as text.

    Used when the safe loader fails on a date that does not exist (``2015-02-30``): pydantic
    then reads the dates and names the key of the bad one.
    """


_DatesAsText.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _config_text(path: Path) -> str:
    """The text of a configuration file; an error for binary content or text not UTF-8."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:65536]:
        raise ConfigError("file is not UTF-8 text (binary data, or UTF-16); a configuration is "
                          "a YAML text file", path)
    try:
        return data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start}); save it as UTF-8", path, f"line {line}") from None


def load_config(path) -> Config:
    """Read, validate and resolve a YAML configuration.

    Raises
    ------
    ConfigError
        Naming the file, the key and what is expected.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("no such configuration file", path)
    try:
        text = _config_text(path)
        try:
            raw = yaml.safe_load(text)
        except ValueError:  # a date that does not exist: let pydantic name its key
            raw = yaml.load(text, Loader=_DatesAsText)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"not valid YAML: {problem}", path, where) from None
    if raw is None:
        raise ConfigError("configuration is empty", path)
    if not isinstance(raw, dict):
        raise ConfigError("expected a mapping of keys at the top level", path)
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = _location(err["loc"])
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"]
            if "input" in err and not isinstance(err["input"], dict | list):
                msg += f" (got {err['input']!r})"
        raise ConfigError(msg, path, f"key '{loc}'") from None
    return cfg.resolve_paths(path.parent.resolve())


def apply_overrides(cfg: Config, overrides: dict) -> Config:
    """Set dotted keys of a configuration in place and return it.

    ``overrides`` maps dotted keys to values, e.g. ``{"spatial.cnn.epochs": 3}``.
    """
    for key, value in overrides.items():
        *path, name = key.split(".")
        target = cfg
        for part in path:
            target = getattr(target, part)
        setattr(target, name, value)
    return cfg


def dump_config(cfg: Config, path) -> None:
    """Write the resolved configuration (absolute paths, every default spelled out)."""
    data = cfg.model_dump(mode="json")
    if data.get("gnss") and not data["gnss"].get("reference"):
        del data["gnss"]["reference"]  # an empty list is refused on reading: no key, no station
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
