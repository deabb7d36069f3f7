"""Held-out scoring through one path: the splitters and cross_val_score."""

import numpy as np
import pytest

from insarfusion.errors import InputError
from insarfusion.model_selection import (
    BlockKFold,
    CVResult,
    EpochHoldout,
    cross_val_score,
    spatial_blocks,
)
from insarfusion.spatial import IDWInterpolator, NearestInterpolator
from insarfusion.temporal import LinearResampler


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(5)
    x, y = rng.uniform(0, 1000, 300), rng.uniform(0, 600, 300)
    data = np.column_stack([np.sin(x / 150.0), np.cos(y / 110.0)]) + 0.1 * rng.normal(
        size=(300, 2))
    data[::11, 0] = np.nan
    return x, y, data


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(6)
    time = np.datetime64("2020-01-01") + 12 * np.arange(30)
    t = np.arange(30) / 30.0
    values = (rng.normal(size=(20, 1)) * t + np.sin(6 * t) + 0.05 * rng.normal(size=(20, 30)))
    values[3, 7] = np.nan
    return time, values


def test_block_kfold_holds_out_whole_blocks_once(points):
    x, y, _ = points
    cv = BlockKFold(200.0, n_splits=4, seed=1)
    splits = list(cv.split((x, y)))
    assert len(splits) == 4
    tested = np.concatenate([test for _, test in splits])
    np.testing.assert_array_equal(np.sort(tested), np.arange(x.size))  # each point once
    block = (np.floor((x - x.min()) / 200.0).astype(int), np.floor((y - y.min()) / 200.0)
             .astype(int))
    for train, test in splits:
        assert np.intersect1d(train, test).size == 0 and train.size + test.size == x.size
        held = set(zip(block[0][test], block[1][test], strict=True))
        kept = set(zip(block[0][train], block[1][train], strict=True))
        assert not held & kept  # no block is split between training and test
    folds = spatial_blocks(x, y, 200.0, n_folds=4, seed=1)
    np.testing.assert_array_equal(splits[0][1], np.flatnonzero(folds == 0))
    with pytest.raises(InputError, match="at least 2 folds"):
        list(BlockKFold(200.0, n_splits=1).split((x, y)))


def test_block_kfold_only_yields_the_folds_asked_for_of_the_same_split(points):
    x, y, _ = points
    every = list(BlockKFold(200.0, n_splits=4, seed=1).split((x, y)))
    some = list(BlockKFold(200.0, n_splits=4, seed=1, only=[0, 2]).split((x, y)))
    assert len(some) == 2
    for (train, test), fold in zip(some, (0, 2), strict=True):
        np.testing.assert_array_equal(test, every[fold][1])
        np.testing.assert_array_equal(train, every[fold][0])


def test_scores_over_some_folds_pool_like_those_folds_alone(points):
    x, y, data = points
    result = cross_val_score(IDWInterpolator(k=5), (x, y), data, BlockKFold(150.0, 5, seed=2))
    assert result.rmse_over(range(5)) == pytest.approx(result.rmse, rel=1e-12)
    alone = cross_val_score(IDWInterpolator(k=5), (x, y), data,
                            BlockKFold(150.0, 5, seed=2, only=[0, 1]))
    assert result.rmse_over([0, 1]) == pytest.approx(alone.rmse, rel=1e-12)
    assert result.fold_n[:2] == alone.fold_n and sum(result.fold_n) == result.n_predicted
    assert np.isnan(result.rmse_over([]))


def test_epoch_holdout_keeps_the_ends(series):
    time, _ = series
    for seed in range(20):
        ((train, test),) = EpochHoldout(fraction=0.2, seed=seed).split(time)
        assert test.size == 6 and 0 not in test and time.size - 1 not in test
        np.testing.assert_array_equal(np.sort(np.r_[train, test]), np.arange(time.size))
    ends = [0 in test or 29 in test for seed in range(40)
            for _, test in EpochHoldout(0.2, seed=seed, keep_ends=False).split(time)]
    assert any(ends)


def test_cross_val_score_of_a_spatial_estimator_equals_the_hand_computed_rmse(points):
    x, y, data = points
    cv = BlockKFold(150.0, n_splits=5, seed=2)
    result = cross_val_score(IDWInterpolator(k=5), (x, y), data, cv)
    squares, n, targets = 0.0, 0, 0
    for train, test in cv.split((x, y)):
        model = IDWInterpolator(k=5).fit((x[train], y[train]), data[train])
        diff = model.predict((x[test], y[test])) - data[test]
        squares += np.nansum(diff**2)
        n += np.isfinite(diff).sum()
        targets += np.isfinite(data[test]).sum()
    assert isinstance(result, CVResult)
    assert result.rmse == pytest.approx(np.sqrt(squares / n), rel=1e-12)
    assert result.n_predicted == n and result.coverage == pytest.approx(n / targets)
    assert len(result.fitted) == 5 and all(m.x_.size < x.size for m in result.fitted)


def test_cross_val_score_of_a_temporal_estimator_equals_the_hand_computed_rmse(series):
    time, values = series
    cv = EpochHoldout(fraction=0.2, seed=4)
    result = cross_val_score(LinearResampler(), time, values, cv)
    ((train, test),) = cv.split(time)
    visible = values.copy()
    visible[:, test] = np.nan
    diff = LinearResampler().fit(time, visible).predict(time[test]) - values[:, test]
    assert result.rmse == pytest.approx(np.sqrt(np.nanmean(diff**2)), rel=1e-12)
    assert result.n_predicted == np.isfinite(diff).sum()
    assert result.fold_scores == [pytest.approx(result.rmse)]


def test_fold_scores_with_a_custom_scoring(points):
    x, y, data = points
    cv = BlockKFold(150.0, n_splits=3, seed=0)

    def worst(observed, predicted):
        return float(np.nanmax(np.abs(predicted - observed)))

    result = cross_val_score(NearestInterpolator(), (x, y), data, cv, scoring=worst)
    expected = []
    for train, test in cv.split((x, y)):
        model = NearestInterpolator().fit((x[train], y[train]), data[train])
        expected.append(worst(data[test], model.predict((x[test], y[test]))))
    assert result.fold_scores == pytest.approx(expected)
    plain = cross_val_score(NearestInterpolator(), (x, y), data, cv)
    assert result.rmse == plain.rmse  # the pooled RMSE whatever the scoring


def test_cross_val_score_passes_groups_and_refuses_other_objects(points):
    x, y, data = points
    labels = np.where(x > 500, "a", "b")
    cv = BlockKFold(150.0, n_splits=3)
    with_groups = cross_val_score(IDWInterpolator(), (x, y), data, cv, groups=labels)
    assert with_groups.rmse == cross_val_score(IDWInterpolator(), (x, y), data, cv).rmse
    with pytest.raises(InputError, match="not an insarfusion estimator"):
        cross_val_score(object(), (x, y), data, cv)


def test_cross_val_score_keeps_held_out_residuals_and_std(points):
    from insarfusion.spatial import KrigingInterpolator

    x, y, data = points
    cv = BlockKFold(block_size=200.0, n_splits=3, seed=0)
    result = cross_val_score(KrigingInterpolator(k=8), (x, y), data, cv, keep_residuals=True)
    res = result.residuals
    assert np.array_equal(np.sort(res.index), np.arange(x.size))  # every point held out once
    assert res.residual.shape == res.std.shape == (x.size, 2)
    assert np.sqrt(np.nanmean(res.residual**2)) == pytest.approx(result.rmse)
    assert (res.std[np.isfinite(res.residual)] > 0).all()
    idw = cross_val_score(IDWInterpolator(), (x, y), data, cv, keep_residuals=True)
    assert idw.residuals.std is None                                # no std of its own
    assert cross_val_score(IDWInterpolator(), (x, y), data, cv).residuals is None


def test_an_all_nan_std_is_no_std(points):
    """A method whose std is NaN everywhere (the CNN without MC passes) gives no residual std."""
    from insarfusion.spatial import KrigingInterpolator

    class NoOwnStd(KrigingInterpolator):
        def predict(self, coordinates, return_std=False):
            values, std = super().predict(coordinates, return_std=True)
            return (values, np.full_like(std, np.nan)) if return_std else values

    x, y, data = points
    cv = BlockKFold(block_size=200.0, n_splits=3, seed=0)
    result = cross_val_score(NoOwnStd(k=8), (x, y), data, cv, keep_residuals=True)
    assert result.residuals.std is None
    assert np.isfinite(result.residuals.residual).any()
