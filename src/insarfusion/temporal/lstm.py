"""The LSTM temporal resampler of Khalili et al. (2024), trained self-supervised.

Its inputs and network are in :mod:`insarfusion.temporal.lstm_network`; the training loop
(early stopping, best weights kept) is the one shared with the CNN,
:func:`insarfusion.torchutil.train_early_stopping`.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..estimators import TemporalResampler
from ..log import logger, progress_bar
from ..metrics import rmse
from ..torchutil import (
    import_torch,
    optimiser_step,
    resolve_device,
    seeded,
    threads,
    train_early_stopping,
)
from .interpolators import LinearResampler, _check_values, _days
from .lstm_network import (
    LSTM_FEATURES,
    build_network,
    hide_random,
    lstm_features,
    query_features,
    series_trend,
)

#: Torch threads of the LSTM by default. Its steps multiply matrices of 50 units, too small
#: to share among threads: on two cores one thread trains as fast as two spinning ones and
#: four times faster than two sleeping ones (OpenMP threads sleep while they wait, see
#: :func:`insarfusion.torchutil.import_torch`), and it leaves the other cores free.
LSTM_THREADS = 1


class LSTMResampler(TemporalResampler):
    """LSTM temporal resampler of Khalili et al. (2024), trained self-supervised.

    Table 2 of the paper: 3 layers of 50 units, dropout 0.2, recurrent dropout 0.2, Adam with
    learning rate 0.008, batch 32, 86 epochs. The paper gives no input layout or loss; this
    implementation makes the following choices.

    * **Input.** Each series is one sequence on the dates of the fit, so irregular sampling
      is seen as it is. Per step: the displacement (0 where hidden or not observed), an
      ``observed`` flag, the days since the previous step and the normalised time
      (:data:`LSTM_FEATURES`).
    * **Queries.** The value at a date comes from a small head on the forward state of the
      last step *before* it, the backward state of the first step *after* it, and the days to
      each; the step at the date itself is never read. In training the queries are the hidden
      observed dates (their own step is blank).
    * **Prediction on the series' own dates, then in time.** The network estimates each
      series on the dates of the fit, every date from the steps around it (a leave-one-out
      estimate: the observation at the date does not enter it), exactly as it was trained;
      the requested dates (e.g. the common 12-day epochs) are then interpolated linearly
      between those estimates. Querying the network directly between two steps would ask it
      for a date at a fraction of a gap, which training never shows it: on the simulated demo
      case that gave a per-epoch bias that grew with training (S1A truth RMSE 5.3 mm after 5
      epochs, 6.9 after 40), against 4.6–4.7 this way. The recurrence runs over the observed
      dates only (57 steps rather than the 170 of the union with a 12-day grid: 3× faster).
      With ``keep_observed=True`` the observations are kept where they exist and the network
      fills only the dates a series did not observe.
    * **Per-series normalisation.** The least-squares line through the visible values is
      removed and the residual divided by its RMS (at least 1 mm), so one network serves slow
      and fast points; the network predicts the normalised residual.
    * **Self-supervision.** In every training epoch each series gets a fresh random mask
      hiding 10–50 % of its valid epochs (``hide_fraction``); the loss is the mean squared
      error on the hidden observed epochs only.
    * **Split.** A seeded sample of at most ``max_train_series`` series with at least three
      valid epochs is split 80/10/10 into training, validation (early stopping with
      ``patience``; best weights kept) and test series (``test_rmse_mm_``).
    * **Bidirectional layers** (``bidirectional=True``, a deviation from the paper's plain
      LSTM): interpolating needs the epochs after a gap as much as those before it. Each
      direction has ``units`` units. With ``bidirectional=False`` the head sees the
      forward state only, as the paper's "feed the LSTM with actual data up to the time".
    * **Dropout.** ``dropout`` acts between stacked layers (PyTorch's placement).
      :class:`torch.nn.LSTM` has no recurrent dropout; ``recurrent_dropout`` is applied as a
      column mask on the hidden-to-hidden weights, held over all time steps: variational
      dropout of hidden units in the recurrence, one mask per batch instead of per sequence
      (a substitute that keeps the fused LSTM, several times faster than a step-by-step cell).
    * **Outside the dates of the fit** a requested date continues from the nearest estimate
      along the series' fitted line. Series with fewer than two valid observations give NaN.

    Parameters
    ----------
    layers, units : int
        Stacked LSTM layers and units per layer (per direction).
    dropout, recurrent_dropout : float
        Dropout rates, 0..1.
    learning_rate : float
        Adam learning rate.
    batch_size : int
        Training batch size (series).
    epochs, patience : int
        Maximum training epochs; epochs without validation improvement before stopping.
    max_train_series : int
        Cap on the series used for training (seeded sample), so large datasets stay feasible.
    series_per_epoch : int or None
        Training series drawn afresh (with fresh hidden epochs) for each training epoch; None:
        all of them. A fixed number makes an epoch cost the same on any dataset, so the
        training time no longer grows with the number of points.
    bidirectional : bool
        Bidirectional layers (see above).
    keep_observed : bool
        Keep each observation on its date and fill only the unobserved dates with the network
        (False: the network's estimate on every date, which averages out part of the noise of
        single epochs; see above).
    hide_fraction : tuple of float
        Range of the share of valid epochs hidden per series and epoch in training.
    validation_fraction, test_fraction : float
        Shares of the training sample held out for early stopping and for the test score.
    predict_batch_size : int, optional
        Series per batch at prediction; default 8192 on a GPU and 1024 on the CPU, where
        larger batches fall out of cache and run slower.
    device : {"auto", "cpu", "cuda"} or str
        Torch device; ``"auto"``: CUDA when available, else the CPU.
    n_threads : int, optional
        CPU threads for torch during ``fit``/``predict`` (restored afterwards); default
        :data:`LSTM_THREADS`.
    progress : bool, optional
        Progress: a tqdm bar (True), none (False), or None: a bar when stderr is a terminal,
        else a log line with the share done and the ETA every few seconds.
    seed : int
        Seeds sampling, masks, weight initialisation and dropout (reproducible on CPU).

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained network (on CPU).
    history_ : dict
        ``train_loss`` and ``val_loss``: per epoch run (normalised units, MSE);
        ``best_epoch``: the 0-based epoch whose weights were kept; ``train_seconds``.
    best_epoch_ : int
        ``history_["best_epoch"]``.
    test_rmse_mm_ : float
        RMSE (mm) on hidden epochs of the test series (NaN when the sample is too small).
    days_ : ndarray (n_time,)
        Dates of the fit, days since 1970.
    values_ : ndarray (n_series, n_time)
        The series resampled by :meth:`predict` (mm): those of the fit, or of
        :meth:`set_series`.
    estimate_ : ndarray (n_series, n_time)
        The network's estimates of ``values_`` on the dates of the fit (mm; NaN for series
        with fewer than two valid observations), which :meth:`predict` interpolates: one
        pass of the network per set of series, however many times they are predicted.
    """

    learned = True

    def __init__(self, layers=3, units=50, dropout=0.2, recurrent_dropout=0.2,
                 learning_rate=0.008, batch_size=32, epochs=86, patience=10,
                 max_train_series=2000, series_per_epoch=256, bidirectional=True,
                 keep_observed=False, hide_fraction=(0.1, 0.5),
                 validation_fraction=0.1, test_fraction=0.1, predict_batch_size=None,
                 device="auto", n_threads=None, progress=None, seed=0):
        self.layers = layers
        self.units = units
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.max_train_series = max_train_series
        self.series_per_epoch = series_per_epoch
        self.bidirectional = bidirectional
        self.keep_observed = keep_observed
        self.hide_fraction = hide_fraction
        self.validation_fraction = validation_fraction
        self.test_fraction = test_fraction
        self.predict_batch_size = predict_batch_size
        self.device = device
        self.n_threads = n_threads
        self.progress = progress
        self.seed = seed

    # -- helpers -----------------------------------------------------------------------------

    def _split(self, values, rng):
        """Seeded sample of trainable series split into train / validation / test rows."""
        eligible = np.flatnonzero(np.isfinite(values).sum(axis=1) >= 3)
        if eligible.size < 2:
            raise InputError("the LSTM needs at least two series with three or more valid "
                             f"epochs; got {eligible.size}")
        n_sample = min(self.max_train_series, eligible.size)
        sample = rng.permutation(rng.choice(eligible, size=n_sample, replace=False))
        n_val = max(1, int(round(self.validation_fraction * n_sample)))
        n_test = int(round(self.test_fraction * n_sample)) if n_sample - n_val >= 3 else 0
        n_test = min(n_test, n_sample - n_val - 1)
        val, test = sample[:n_val], sample[n_val:n_val + n_test]
        train = sample[n_val + n_test:]
        return train, val, test

    def _batch_tensors(self, values, hidden):
        """Features, targets (normalised) and loss mask for series with ``hidden`` epochs."""
        torch = import_torch()
        visible = np.where(hidden, np.nan, values)
        features, intercept, slope, scale = lstm_features(self.days_, visible)
        time = features[0, :, 3].astype(float)
        target = np.where(hidden, (values - intercept - slope * time) / scale, 0.0)
        return (torch.from_numpy(features), torch.from_numpy(target.astype(np.float32)),
                torch.from_numpy(hidden))

    def _query_tensors(self, query_days, device):
        """Neighbour indices and features of query dates on the fitted dates, as tensors."""
        torch = import_torch()
        left, right, features = query_features(self.days_, query_days)
        return (torch.from_numpy(left).to(device), torch.from_numpy(right).to(device),
                torch.from_numpy(features).to(device))

    def _loss(self, network, tensors, query, device, batch_size=8192):
        """Mean squared error (normalised units) on the hidden epochs, no gradient."""
        torch = import_torch()
        features, target, mask = tensors
        total, count = 0.0, 0
        with torch.inference_mode():
            for start in range(0, features.shape[0], batch_size):
                sl = slice(start, start + batch_size)
                pred = network(features[sl].to(device), *query)
                m = mask[sl].to(device)
                total += float(((pred - target[sl].to(device)) ** 2)[m].sum())
                count += int(m.sum())
        return total / max(count, 1)

    def _epoch(self, network, optimiser, rows_values, rows_valid, rng, at_steps, device):
        """One epoch: a fresh random draw of training series with fresh hidden epochs.

        Returns the mean batch loss.
        """
        draw = rng.permutation(rows_values.shape[0])[:self.series_per_epoch or None]
        rows_values, rows_valid = rows_values[draw], rows_valid[draw]
        features, target, mask = self._batch_tensors(
            rows_values, hide_random(rows_valid, rng, self.hide_fraction))
        running, n_batches = 0.0, 0
        for start in range(0, rows_values.shape[0], self.batch_size):
            rows = slice(start, start + self.batch_size)
            m = mask[rows].to(device)
            if not m.any():
                continue
            pred = network(features[rows].to(device), *at_steps)
            loss = ((pred - target[rows].to(device)) ** 2)[m].mean()
            running += optimiser_step(optimiser, loss)
            n_batches += 1
        return running / max(n_batches, 1)

    def _train(self, train, val, valid, rng, fixed_rng, device):
        """Build and train the network (early stopping on ``val``); the network and history."""
        torch = import_torch()
        network = build_network(len(LSTM_FEATURES), self.units, self.layers, self.dropout,
                                self.recurrent_dropout, self.bidirectional).to(device)
        optimiser = torch.optim.Adam(network.parameters(), lr=self.learning_rate)
        val_tensors = self._batch_tensors(self.values_[val],
                                          hide_random(valid[val], fixed_rng, self.hide_fraction))
        train_values, train_valid = self.values_[train], valid[train]
        # queries at every fitted date; the loss keeps the hidden ones
        at_steps = self._query_tensors(self.days_, device)
        history = train_early_stopping(
            network,
            lambda out_of_time: self._epoch(network, optimiser, train_values, train_valid, rng,
                                            at_steps, device),
            lambda: self._loss(network, val_tensors, at_steps, device),
            epochs=self.epochs, patience=self.patience, progress=self.progress,
            desc="LSTM training")
        return network, history

    def _test_rmse(self, test, valid, fixed_rng):
        """RMSE (mm) at hidden epochs of the test series; NaN without test series."""
        if not test.size:
            return np.nan
        test_hidden = hide_random(valid[test], fixed_rng, self.hide_fraction)
        predicted = self._predict_queries(np.where(test_hidden, np.nan, self.values_[test]),
                                          self.days_)
        return rmse((predicted - self.values_[test])[test_hidden])

    # -- estimator API -----------------------------------------------------------------------

    def fit(self, time, values):
        """Train the network on a capped, seeded sample of the series.

        ``time``: dates (n_time,), strictly increasing; ``values``: displacements (n_series,
        n_time), mm, NaN where not observed (:meth:`TemporalResampler.fit
        <insarfusion.estimators.TemporalResampler.fit>`). Returns ``self``.
        """
        self.days_ = _days(time)
        self.values_ = _check_values(values, self.days_.size)
        rng = np.random.default_rng(self.seed)
        train, val, test = self._split(self.values_, rng)
        valid = np.isfinite(self.values_)
        device = resolve_device(self.device)
        fixed_rng = np.random.default_rng([self.seed, 1])
        with seeded(self.seed, device), threads(self.n_threads or LSTM_THREADS):
            network, self.history_ = self._train(train, val, valid, rng, fixed_rng, device)
            self.network_ = network.cpu()
        self.best_epoch_ = self.history_["best_epoch"]
        self.test_rmse_mm_ = self._test_rmse(test, valid, fixed_rng)
        best_loss = (self.history_["val_loss"][self.best_epoch_] if self.best_epoch_ >= 0
                     else np.nan)
        logger.info("LSTM trained on %d series (%d validation, %d test): %d epochs, best %d, "
                    "validation MSE %.3f (normalised), test RMSE %.2f mm", len(train), len(val),
                    len(test), len(self.history_["train_loss"]), self.best_epoch_ + 1, best_loss,
                    self.test_rmse_mm_)
        self.estimate_ = self._on_own_dates()
        return self

    def _predict_queries(self, values, query_days, progress=False):
        """Network estimate (mm) at ``query_days`` of series ``values`` on the fitted dates."""
        torch = import_torch()
        device = resolve_device(self.device)
        network = self.network_.to(device)
        out = np.empty((values.shape[0], query_days.size))
        query = self._query_tensors(query_days, device)
        query_time = query[2][:, 2].cpu().numpy().astype(float)
        batch = self.predict_batch_size or (8192 if device.type == "cuda" else 1024)
        starts = range(0, values.shape[0], batch)
        with threads(self.n_threads or LSTM_THREADS), torch.inference_mode():
            for start in progress_bar(starts, "LSTM prediction", total=len(starts),
                                      unit="batch", progress=progress):
                block = values[start:start + batch]
                features, intercept, slope, scale = lstm_features(self.days_, block)
                residual = network(torch.from_numpy(features).to(device), *query).cpu().numpy()
                out[start:start + block.shape[0]] = (intercept + slope * query_time
                                                     + scale * residual)
        self.network_ = network.cpu()
        return out

    def set_series(self, time, values):
        """Keep the trained network and resample ``values`` (same dates as the fit) instead.

        Parameters
        ----------
        time : array_like (n_time,)
            The dates of the fit.
        values : array_like (n_series, n_time)
            Displacements, mm; NaN where not observed.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If ``time`` differs from the dates the network was fitted on.
        """
        self._check_fitted("network_")
        days = _days(time)
        if days.shape != self.days_.shape or (days != self.days_).any():
            raise ValueError("set_series needs the dates the LSTM was fitted on")
        self.values_ = _check_values(values, self.days_.size)
        self.estimate_ = self._on_own_dates()
        return self

    def _on_own_dates(self):
        """Estimates (n_series, n_time), mm, on the dates of the fit (see the class notes)."""
        estimate = self._predict_queries(self.values_, self.days_, progress=self.progress)
        if self.keep_observed:
            estimate = np.where(np.isfinite(self.values_), self.values_, estimate)
        enough = np.isfinite(self.values_).sum(axis=1) >= 2
        return np.where(enough[:, None], estimate, np.nan)

    def predict(self, time) -> np.ndarray:
        """Displacements (n_series, n_new), mm, at ``time``.

        The network's estimates on the dates of the fit, interpolated linearly in time; beyond
        those dates, continued along each series' fitted line.
        """
        self._check_fitted("estimate_")
        query = _days(time)
        dates = self.days_.astype("int64").astype("datetime64[D]")
        inside = LinearResampler(outside="hold").fit(dates, self.estimate_).predict(time)
        beyond = query - np.clip(query, self.days_[0], self.days_[-1])
        if not beyond.any():
            return inside
        _, _, slope, _, _ = series_trend(self.days_, self.values_)
        span = max(self.days_[-1] - self.days_[0], 1.0)
        return inside + slope / span * beyond[None, :]
