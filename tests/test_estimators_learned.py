"""The estimator protocol, checked on the learned estimators and the resamplers.

For the CNN and each temporal resampler: ``clone`` round-trips the parameters, ``fit`` returns
``self``, predicting before ``fit`` raises ``NotFittedError``, the parameters are exactly the
``__init__`` arguments and every other public attribute ends in ``_``, outputs have the
documented shapes, and two fits with one seed predict the same. The LSTM and the CNN report
their training under the same names.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

from test_cnn import interleaved_points  # noqa: E402
from test_temporal import dates, small_dataset  # noqa: E402

from insarfusion.cnn import CNNFusion  # noqa: E402
from insarfusion.estimators import NotFittedError, clone  # noqa: E402
from insarfusion.temporal import LinearResampler, LSTMResampler, PchipResampler  # noqa: E402

TINY_CNN = dict(cell_size_m=20.0, filters=4, patch_size=8, n_patches=20, epochs=2,
                batch_size=8, mc_samples=2, device="cpu", progress=False, seed=1)
TINY_LSTM = dict(layers=1, units=4, epochs=2, batch_size=8, max_train_series=30,
                 progress=False, n_threads=1, seed=1)

RESAMPLERS = {"linear": lambda: LinearResampler(), "pchip": lambda: PchipResampler(),
              "lstm": lambda: LSTMResampler(**TINY_LSTM)}
QUERY = dates(np.arange(0, 600, 30))


@pytest.fixture(scope="module")
def series():
    ds, _, _ = small_dataset(n_point=30)
    return ds["time"].values, ds["displacement"].values


@pytest.fixture(scope="module")
def points():
    x, y, data, _, groups = interleaved_points(side_cells=14, n_time=3, noise=0.3)
    return x, y, data, groups


@pytest.fixture(scope="module")
def cnn_pair(points):
    x, y, data, groups = points
    return [CNNFusion(**TINY_CNN).fit((x, y), data, groups) for _ in range(2)]


@pytest.fixture(scope="module")
def lstm_fitted(series):
    return LSTMResampler(**TINY_LSTM).fit(*series)


def check_attributes(estimator):
    """Parameters are the __init__ arguments; every other public attribute ends in '_'."""
    params = set(estimator.get_params())
    assert params == set(inspect.signature(type(estimator)).parameters)
    learned = {k for k in vars(estimator) if k not in params and not k.startswith("_")}
    assert learned and all(k.endswith("_") for k in learned), learned
    return learned


def check_clone(estimator):
    copy = clone(estimator)
    assert type(copy) is type(estimator) and copy is not estimator
    assert copy.get_params() == estimator.get_params()
    assert not [k for k in vars(copy) if k.endswith("_")]


# -- temporal resamplers ---------------------------------------------------------------------


@pytest.mark.parametrize("name", RESAMPLERS)
def test_resampler_protocol(name, series):
    time, values = series
    resampler = RESAMPLERS[name]()
    check_clone(resampler)
    with pytest.raises(NotFittedError):
        resampler.predict(QUERY)
    assert resampler.fit(time, values) is resampler
    check_attributes(resampler)
    check_clone(resampler)  # a fitted estimator clones to an unfitted one
    first = resampler.predict(QUERY)
    assert first.shape == (values.shape[0], QUERY.size)
    second = RESAMPLERS[name]().fit(time, values).predict(QUERY)
    np.testing.assert_array_equal(first, second)


# -- CNN -------------------------------------------------------------------------------------


def test_cnn_protocol(points, cnn_pair):
    x, y, data, groups = points
    model, again = cnn_pair
    check_clone(CNNFusion(**TINY_CNN))
    with pytest.raises(NotFittedError):
        CNNFusion(**TINY_CNN).predict((x, y))
    learned = check_attributes(model)
    assert {"grid_", "fused_", "fused_std_", "network_", "history_", "best_epoch_",
            "test_rmse_mm_", "datasets_"} <= learned
    check_clone(model)
    values, std = model.predict((x[:7], y[:7]), return_std=True)
    assert values.shape == std.shape == (7, data.shape[1])
    assert model.predict((x[:7], y[:7])).shape == (7, data.shape[1])
    np.testing.assert_array_equal(values, again.predict((x[:7], y[:7])))
    np.testing.assert_array_equal(model.fused_std_.values, again.fused_std_.values)


def test_cnn_fit_returns_self_and_1d_shapes(points):
    x, y, data, groups = points
    model = CNNFusion(**dict(TINY_CNN, epochs=1))
    assert model.fit((x, y), data[:, 0], groups) is model
    values, std = model.predict((x[:5], y[:5]), return_std=True)
    assert values.shape == std.shape == (5,)


# -- the two learned estimators report alike -------------------------------------------------


def test_lstm_and_cnn_share_names(lstm_fitted, cnn_pair):
    lstm, cnn = lstm_fitted, cnn_pair[0]
    assert set(cnn.history_) - set(lstm.history_) == {"predict_seconds"}
    assert set(lstm.history_) == {"train_loss", "val_loss", "best_epoch", "train_seconds"}
    for model in (lstm, cnn):
        assert model.best_epoch_ == model.history_["best_epoch"]
        assert 0 <= model.best_epoch_ < len(model.history_["val_loss"])
        assert len(model.history_["train_loss"]) == len(model.history_["val_loss"]) <= 2
        assert isinstance(model.test_rmse_mm_, float)
        assert isinstance(model.network_, torch.nn.Module)
    assert LSTMResampler().device == CNNFusion().device == "auto"
    assert LSTMResampler().progress is None and CNNFusion().progress is None
