"""Every spatial estimator keeps the protocol of insarfusion.estimators.

Adding an estimator to these checks is one line in ``SPATIAL``: a name and a small, quick
instance of it.
"""

import inspect

import numpy as np
import pytest

from insarfusion.estimators import NotFittedError, SpatialInterpolator, clone
from insarfusion.spatial import (
    GriddedInterpolator,
    IDWInterpolator,
    KrigingInterpolator,
    LinearInterpolator,
    NearestInterpolator,
)

#: name -> a fresh, unfitted instance
SPATIAL = {
    "nearest": lambda: NearestInterpolator(),
    "idw": lambda: IDWInterpolator(k=6),
    "linear": lambda: LinearInterpolator(),
    "kriging": lambda: KrigingInterpolator(k=8, max_fit_points=100, seed=3),
    "gridded": lambda: GriddedInterpolator(40.0),
}


@pytest.fixture(params=sorted(SPATIAL))
def estimator(request):
    return SPATIAL[request.param]()


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(11)
    x, y = rng.uniform(0, 500, 150), rng.uniform(0, 400, 150)
    field = np.sin(x / 120.0) + np.cos(y / 90.0)
    data = field[:, None] * np.array([1.0, 2.0, -1.0]) + 0.1 * rng.normal(size=(x.size, 3))
    data[::9, 1] = np.nan
    targets = (rng.uniform(50, 450, 40), rng.uniform(50, 350, 40))
    return (x, y), data, targets


def test_is_a_spatial_interpolator_with_its_parameters_in_init(estimator):
    assert isinstance(estimator, SpatialInterpolator)
    assert set(estimator.get_params()) == set(inspect.signature(type(estimator)).parameters)


def test_clone_round_trip(estimator):
    copy = clone(estimator)
    assert type(copy) is type(estimator) and copy is not estimator
    assert copy.get_params() == estimator.get_params()


def test_fit_returns_self_and_keeps_learned_state_apart(estimator, points):
    coordinates, data, _ = points
    params = estimator.get_params()
    assert estimator.fit(coordinates, data) is estimator
    assert estimator.get_params() == params  # fit changes no parameter
    learned = [k for k in vars(estimator) if k not in params and not k.startswith("_")]
    assert learned and all(k.endswith("_") for k in learned)


def test_predict_before_fit_raises(estimator, points):
    _, _, targets = points
    with pytest.raises(NotFittedError):
        estimator.predict(targets)


def test_output_shapes_of_one_and_many_epochs(estimator, points):
    coordinates, data, targets = points
    m = targets[0].size
    assert estimator.fit(coordinates, data).predict(targets).shape == (m, 3)
    assert clone(estimator).fit(coordinates, data[:, 0]).predict(targets).shape == (m,)


@pytest.mark.parametrize("epochs", [slice(None), 0])
def test_return_std(estimator, points, epochs):
    coordinates, data, targets = points
    estimator.fit(coordinates, data[:, epochs])
    values, std = estimator.predict(targets, return_std=True)
    assert std.shape == values.shape
    np.testing.assert_array_equal(values, estimator.predict(targets), strict=True)
    if estimator.provides_std:
        assert (std[np.isfinite(values)] >= 0).all()
    else:
        assert np.isnan(std).all()


def test_same_seed_same_predictions(estimator, points):
    coordinates, data, targets = points
    first = clone(estimator).fit(coordinates, data).predict(targets)
    second = clone(estimator).fit(coordinates, data).predict(targets)
    np.testing.assert_array_equal(first, second)
