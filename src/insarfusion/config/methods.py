"""The configuration of the methods.

The temporal resamplers and the spatial fusion, with their estimators' parameters (the LSTM,
the CNN and the classic interpolators).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, field_validator

from .base import _estimator_defaults, _Strict

#: Torch devices a learned method may run on: ``auto`` takes a CUDA GPU when torch sees one.
DEVICE_PATTERN = r"^(auto|cpu|cuda(:[0-9]+)?|mps)$"
DEVICE_HELP = "torch device: auto (a CUDA GPU when present, else the CPU), cpu, cuda, cuda:N"


class LSTMConfig(_Strict):
    """LSTM temporal resampler (paper Table 2)."""

    layers: int = Field(3, ge=1, description="LSTM layers")
    units: int = Field(50, ge=1, description="units per layer")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout between layers")
    recurrent_dropout: float = Field(0.2, ge=0, lt=1, description="dropout on the recurrent state")
    learning_rate: float = Field(0.008, gt=0, description="Adam learning rate")
    batch_size: int = Field(32, ge=1, description="series per training batch")
    epochs: int = Field(86, ge=1, description="training epochs at most")
    patience: int = Field(10, ge=1, description="epochs without improvement before stopping")
    max_train_series: int = Field(2000, ge=1,
        description="series the network is trained on at most")
    series_per_epoch: int | None = Field(256, ge=1,
        description="training series drawn afresh for each epoch (null: all), so an epoch "
        "costs the same on any dataset")
    bidirectional: bool = Field(True, description="bidirectional layers (the paper's are not)")
    keep_observed: bool = Field(False, description="keep observations on their dates and fill "
                                "only the unobserved ones (default: the network's estimate on "
                                "every date of the series, then linear in time)")
    n_threads: int | None = Field(None, ge=1, description="torch CPU threads; default 1 (the "
                                  "LSTM's small steps gain nothing from more)")
    device: str = Field("auto", pattern=DEVICE_PATTERN, description=DEVICE_HELP)


class TemporalConfig(_Strict):
    """Temporal resampling onto the common epochs."""

    method: Literal["lstm", "linear", "pchip", "auto"] = Field(
        "lstm", description="resampler; auto takes the best on held-out epochs")
    lstm: LSTMConfig = Field(default_factory=LSTMConfig, description="the LSTM resampler")
    holdout_fraction: float = Field(0.1, gt=0, lt=0.5,
        description="share of epochs held out to score the resamplers")

    def estimator_params(self, method: str) -> dict:
        """Parameters of ``method``'s resampler, under the estimator's own names."""
        section = getattr(self, method, None)
        return {} if section is None else section.model_dump()


class CNNConfig(_Strict):
    """CNN spatial fusion (paper Table 3)."""

    conv_layers: int = Field(3, ge=1, description="convolutional layers (3 only)")
    filters: int = Field(64, ge=1, description="filters per layer")
    kernel_size: int = Field(5, ge=1, description="kernel side, cells (odd)")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout after each layer")
    learning_rate: float = Field(3e-3, gt=0, description="Adam learning rate (the paper gives "
                                 "none for the CNN)")
    batch_size: int = Field(32, ge=1, description="patches per training batch")
    epochs: int = Field(100, ge=1, description="training epochs at most")
    patience: int = Field(10, ge=1, description="epochs without improvement before stopping")
    patch_size: int = Field(64, ge=8, description="patch side, cells (a multiple of 4)")
    n_patches: int = Field(320, ge=10, description="training patches, split 80/10/10")
    mc_samples: int = Field(0, ge=0, description="MC-dropout passes for the network's own "
                            "std (displacement_std_raw); 0: deterministic passes, no own std")
    n_threads: int | None = Field(None, ge=1, description="torch CPU threads; default: the "
                                  "cores available to the run, at most 4")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="activations' precision: auto is bfloat16 where the CPU or GPU "
        "computes it natively")
    max_train_seconds: float | None = Field(
        None, gt=0, description="wall-clock cap on training; runs that hit it are not "
        "bit-reproducible, so it is off by default")
    device: str = Field("auto", pattern=DEVICE_PATTERN, description=DEVICE_HELP)

    @field_validator("conv_layers")
    @classmethod
    def _three_layers(cls, v):
        if v != 3:
            raise ValueError("the CNN has 3 convolutional layers (paper Table 3); other "
                             "depths are not implemented")
        return v

    @field_validator("kernel_size")
    @classmethod
    def _odd_kernel(cls, v):
        if v % 2 == 0:
            raise ValueError("must be odd (3, 5, 7, ...) so that the output stays centred")
        return v

    @field_validator("patch_size")
    @classmethod
    def _patch_multiple_of_4(cls, v):
        if v < 8 or v % 4:
            raise ValueError("must be a multiple of 4 and at least 8 (the network pools twice)")
        return v


_IDW = _estimator_defaults("idw")
_KRIGING = _estimator_defaults("kriging")


class IDWConfig(_Strict):
    """Inverse-distance interpolation (:class:`insarfusion.spatial.IDWInterpolator`)."""

    k: int = Field(_IDW["k"], ge=1, description="neighbours per cell")
    power: float = Field(_IDW["power"], gt=0, description="distance exponent")
    radius_m: float | None = Field(_IDW["radius_m"], gt=0,
                                   description="neighbours farther than this are ignored, m")


class KrigingConfig(_Strict):
    """Local ordinary kriging (:class:`insarfusion.spatial.KrigingInterpolator`)."""

    variogram_model: Literal["spherical", "exponential", "gaussian"] = Field(
        _KRIGING["variogram_model"], description="PyKrige variogram model")
    k: int = Field(_KRIGING["k"], ge=2, description="neighbours per cell")
    max_fit_points: int = Field(_KRIGING["max_fit_points"], ge=10,
                                description="points the variogram is fitted on")
    nlags: int = Field(_KRIGING["nlags"], ge=3, description="lag classes of the variogram")


class SpatialConfig(_Strict):
    """Spatial fusion onto the grid (cell size in metres) and its baselines."""

    method: Literal["cnn", "nearest", "idw", "kriging", "linear"] = Field(
        "cnn", description="fusion method of the main product")
    cell_size_m: float | Literal["auto"] = Field(
        20.22, description="grid cell, metres; auto chooses it by block cross-validation")
    cnn: CNNConfig = Field(default_factory=CNNConfig, description="the CNN fusion")
    baselines: list[Literal["nearest", "idw", "kriging", "linear"]] = Field(
        default_factory=lambda: ["nearest", "kriging", "idw", "linear"],
        description="classic methods run on the same inputs for comparison (Table 7)")
    idw: IDWConfig = Field(default_factory=IDWConfig, description="the inverse-distance baseline")
    kriging: KrigingConfig = Field(default_factory=KrigingConfig,
        description="the kriging baseline")
    cell_size_candidates_m: list[float] = Field(default_factory=lambda: [10.0, 20.22, 40.0, 60.0],
                                                min_length=1,
                                                description="tried when cell_size_m is auto")
    mask_buffer_m: float = Field(100.0, ge=0,
                                 description="products are NaN this far outside the data hull")

    @field_validator("cell_size_m")
    @classmethod
    def _positive(cls, v):
        if v != "auto" and not (math.isfinite(v) and v > 0):
            raise ValueError("must be a positive number of metres or 'auto'")
        return v

    @field_validator("cell_size_candidates_m")
    @classmethod
    def _positive_candidates(cls, v):
        bad = [c for c in v if not (math.isfinite(c) and c > 0)]
        if bad:
            raise ValueError(f"every candidate must be a positive number of metres, got {bad[0]}")
        return v

    def methods(self) -> list[str]:
        """The fusion method, then every baseline that is not the same method."""
        return [self.method] + [b for b in self.baselines if b != self.method]

    def estimator_params(self, method: str, cell_size_m: float | None = None) -> dict:
        """Parameters of ``method``'s estimator, under the estimator's own names.

        Parameters
        ----------
        method : str
            A spatial method.
        cell_size_m : float, optional
            The run's cell size, metres, for the methods that grid by themselves (the CNN);
            default ``cell_size_m`` of this section unless it is ``auto``.
        """
        section = getattr(self, method, None)
        params = {} if section is None else section.model_dump()
        if method == "cnn":
            cell = self.cell_size_m if cell_size_m is None else cell_size_m
            if cell != "auto":
                params["cell_size_m"] = float(cell)
        return params
