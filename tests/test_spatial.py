import numpy as np
import pytest
from pykrige.ok import OrdinaryKriging
from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

from insarfusion.errors import InputError
from insarfusion.estimators import NotFittedError
from insarfusion.model_selection import BlockKFold, cross_val_score
from insarfusion.spatial import (
    METHODS,
    IDWInterpolator,
    KrigingInterpolator,
    LinearInterpolator,
    NearestInterpolator,
    fit_variogram,
    make_interpolator,
    product_name,
)


def _field(x, y):
    return 3.0 * np.sin(x / 180.0) + 2.0 * np.cos(y / 130.0)


@pytest.fixture
def scattered():
    rng = np.random.default_rng(7)
    n = 250
    x = rng.uniform(0, 1000, n)
    y = rng.uniform(0, 800, n)
    z = _field(x, y) + 0.2 * rng.normal(size=n)
    xt = rng.uniform(50, 950, 60)
    yt = rng.uniform(50, 750, 60)
    return x, y, z, xt, yt


@pytest.mark.parametrize("model", ["spherical", "exponential", "gaussian"])
def test_local_kriging_equals_pykrige_moving_window(scattered, model):
    x, y, z, xt, yt = scattered
    # the variogram is fitted on the last epoch; the first epoch is kriged with the same one
    data = np.column_stack([-0.5 * z + x / 300.0, z])
    ours = KrigingInterpolator(variogram_model=model, k=10, max_fit_points=10_000, nlags=12,
                               max_lag=None, fit_field="last").fit((x, y), data)
    ref = OrdinaryKriging(x, y, z, variogram_model=model, nlags=12)
    assert np.allclose(ours.variogram_parameters_, ref.variogram_model_parameters, rtol=1e-6)
    values, std = ours.predict((xt, yt), return_std=True)
    expected, sigmasq = ref.execute("points", xt, yt, n_closest_points=10, backend="loop")
    # a Gaussian variogram without nugget gives ill-conditioned systems (condition ~1e8 here)
    atol = 1e-6 if model == "gaussian" else 1e-10
    assert np.allclose(values[:, 1], expected, rtol=0, atol=atol)
    assert np.allclose(std[:, 1] ** 2, sigmasq, rtol=1e-9, atol=1e-12)
    psill, range_, nugget = ours.variogram_parameters_
    fixed = OrdinaryKriging(x, y, data[:, 0], variogram_model=model,
                            variogram_parameters={"psill": psill, "range": range_,
                                                  "nugget": nugget})
    expected0, _ = fixed.execute("points", xt, yt, n_closest_points=10, backend="loop")
    assert np.allclose(values[:, 0], expected0, rtol=0, atol=atol)


def test_kriging_with_given_variogram_and_nugget_matches_pykrige(scattered):
    x, y, z, xt, yt = scattered
    params = {"sill": 2.8, "range": 400.0, "nugget": 0.3}
    ours = KrigingInterpolator(k=6, variogram_parameters=params).fit((x, y), z)
    assert np.allclose(ours.variogram_parameters_, [2.5, 400.0, 0.3])
    ref = OrdinaryKriging(x, y, z, variogram_model="spherical", variogram_parameters=params)
    # include targets exactly on data points (exact-value rule)
    tx, ty = np.r_[xt, x[:5]], np.r_[yt, y[:5]]
    expected, sigmasq = ref.execute("points", tx, ty, n_closest_points=6, backend="loop")
    values, std = ours.predict((tx, ty), return_std=True)
    assert np.allclose(values, expected, atol=1e-10)
    assert np.allclose(std**2, sigmasq, atol=1e-10)
    assert np.allclose(values[-5:], z[:5])


def test_fit_variogram_recovers_the_noise_as_nugget():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 2000, 1500)
    y = rng.uniform(0, 2000, 1500)
    noise = rng.normal(scale=1.5, size=x.size)
    # pure noise: all nugget, whatever the model
    psill, _, nugget = fit_variogram(x, y, noise, "spherical")
    assert nugget == pytest.approx(2.25, rel=0.15) and psill < 0.3
    # a smooth field plus noise: a Gaussian model separates the two
    smooth = 4.0 * np.sin(x / 300.0) * np.cos(y / 350.0)
    psill, range_, nugget = fit_variogram(x, y, smooth + noise, "gaussian")
    assert nugget == pytest.approx(2.25, rel=0.3)
    assert psill > 2.0 and 200 < range_ < 2000


def test_kriging_std_scales_with_epoch_variance(scattered):
    x, y, z, xt, yt = scattered
    data = np.column_stack([z, 2.0 * z])
    model = KrigingInterpolator(k=8, fit_field="mean").fit((x, y), data)
    values, std = model.predict((xt, yt), return_std=True)
    assert np.allclose(values[:, 1], 2.0 * values[:, 0])
    assert np.allclose(std[:, 1], 2.0 * std[:, 0])
    assert (std > 0).all()


def test_kriging_batches_give_the_same_answer(scattered):
    x, y, z, xt, yt = scattered
    one = KrigingInterpolator(k=8, batch_size=7).fit((x, y), z).predict((xt, yt))
    many = KrigingInterpolator(k=8, batch_size=10_000).fit((x, y), z).predict((xt, yt))
    assert np.allclose(one, many)


def test_linear_equals_scipy_and_is_nan_outside_hull(scattered):
    x, y, z, xt, yt = scattered
    data = np.column_stack([z, 2 * z + 1, -z])
    ours = LinearInterpolator().fit((x, y), data).predict((np.r_[xt, -500.0], np.r_[yt, 0.0]))
    ref = LinearNDInterpolator(np.column_stack([x, y]), data)(np.r_[xt, -500.0], np.r_[yt, 0.0])
    assert np.array_equal(np.isnan(ours), np.isnan(ref))
    assert np.allclose(ours[:-1], ref[:-1], atol=1e-12)
    assert np.isnan(ours[-1]).all()


def test_linear_reproduces_a_plane(scattered):
    x, y, _, xt, yt = scattered
    plane = 0.01 * x - 0.02 * y + 4.0
    got = LinearInterpolator().fit((x, y), plane).predict((xt, yt))
    inside = np.isfinite(got)
    assert inside.sum() > 50
    assert np.allclose(got[inside], 0.01 * xt[inside] - 0.02 * yt[inside] + 4.0)


def test_nearest_equals_scipy_and_skips_missing_values(scattered):
    x, y, z, xt, yt = scattered
    data = np.column_stack([z, z + 10.0])
    got = NearestInterpolator().fit((x, y), data).predict((xt, yt))
    ref = NearestNDInterpolator(np.column_stack([x, y]), data)(xt, yt)
    assert np.allclose(got, ref)
    # hide the nearest point's second epoch: the next nearest point's value is used there
    first = np.argmin(np.hypot(x - xt[0], y - yt[0]))
    data[first, 1] = np.nan
    got = NearestInterpolator().fit((x, y), data).predict((xt[:1], yt[:1]))
    order = np.argsort(np.hypot(x - xt[0], y - yt[0]))
    assert got[0, 0] == data[first, 0]
    assert got[0, 1] == data[order[1], 1]


def test_idw_known_weights_radius_and_exact_points():
    x = np.array([0.0, 3.0, 100.0])
    y = np.zeros(3)
    values = np.array([1.0, 5.0, 1000.0])
    model = IDWInterpolator(k=2, power=2.0).fit((x, y), values)
    # distances 1 and 2: weights 1 and 1/4
    assert model.predict(([1.0], [0.0]))[0] == pytest.approx((1.0 + 5.0 / 4) / 1.25)
    assert model.predict(([3.0], [0.0]))[0] == pytest.approx(5.0)
    far = IDWInterpolator(k=2, radius_m=10.0).fit((x, y), values).predict(([50.0], [0.0]))
    assert np.isnan(far[0])
    w = model.weights(([1.0, 2.0], [0.0, 0.0]))
    assert w.shape == (2, 3)
    assert np.allclose(np.asarray(w.sum(axis=1)).ravel(), 1.0)


def test_idw_leaves_out_missing_values_per_epoch(scattered):
    x, y, z, xt, yt = scattered
    data = np.column_stack([z, z * 3])
    data[::4, 1] = np.nan
    got = IDWInterpolator(k=5).fit((x, y), data).predict((xt, yt))
    keep = np.isfinite(data[:, 1])
    ref0 = IDWInterpolator(k=5).fit((x, y), data[:, 0]).predict((xt, yt))
    assert np.allclose(got[:, 0], ref0)
    # each target renormalises over its finite neighbours among its 5 nearest points
    assert np.isfinite(got[:, 1]).mean() > 0.9
    only = IDWInterpolator(k=1).fit((x[keep], y[keep]), data[keep, 1]).predict((x[keep], y[keep]))
    assert np.allclose(only, data[keep, 1])


def _block_rmse(estimator, x, y, data, block_size):
    return cross_val_score(estimator, (x, y), data, BlockKFold(block_size)).rmse


def test_held_out_block_scores_known_answers(scattered):
    x, y, _, _, _ = scattered
    plane = 0.01 * x - 0.02 * y
    assert _block_rmse(LinearInterpolator(), x, y, plane, 150) == pytest.approx(0.0, abs=1e-9)
    assert _block_rmse(NearestInterpolator(), x, y, np.full(x.size, 4.0), 150) == 0.0
    assert _block_rmse(NearestInterpolator(), x, y, plane, 150) > 0.1
    # linear leaves targets outside the hull of the training points unpredicted
    scored = cross_val_score(LinearInterpolator(), (x, y), plane, BlockKFold(150))
    assert 0.5 < scored.coverage < 1.0 and scored.n_predicted == round(scored.coverage * x.size)


def test_held_out_block_scores_rank_methods_on_a_smooth_field(scattered):
    x, y, _, _, _ = scattered
    smooth = _field(x, y)
    scores = {name: _block_rmse(make_interpolator(name), x, y, smooth, 120)
              for name in ("nearest", "idw", "kriging")}
    assert scores["kriging"] < scores["idw"] < scores["nearest"]


def test_make_interpolator_takes_the_estimators_own_parameters():
    kr = make_interpolator("kriging", {"k": 5, "variogram_model": "exponential"}, seed=3)
    assert isinstance(kr, KrigingInterpolator)
    assert (kr.k, kr.variogram_model, kr.seed) == (5, "exponential", 3)
    idw = make_interpolator("idw", {"k": 3, "power": 1.0, "radius_m": 50.0}, seed=3)
    assert (idw.k, idw.power, idw.radius_m) == (3, 1.0, 50.0)  # no seed: none set
    assert isinstance(make_interpolator("linear"), LinearInterpolator)
    assert set(METHODS) == {"nearest", "idw", "linear", "kriging", "cnn"}
    with pytest.raises(InputError, match="unknown spatial method"):
        make_interpolator("spline")
    with pytest.raises(InputError, match="no parameter 'radius'"):
        make_interpolator("idw", {"radius": 50.0})


def test_the_fusion_method_makes_the_synergic_product_the_others_their_own():
    assert product_name("cnn", "cnn") == product_name("kriging", "kriging") == "synergic"
    assert product_name("kriging", "cnn") == "kriging"


def test_make_interpolator_imports_the_cnn_when_asked():
    pytest.importorskip("torch")
    cnn = make_interpolator("cnn", {"cell_size_m": 40.0, "filters": 8}, seed=5)
    assert (cnn.cell_size_m, cnn.filters, cnn.seed) == (40.0, 8, 5)


def test_bad_inputs_are_reported():
    with pytest.raises(InputError, match="does not match"):
        IDWInterpolator().fit(([0.0, 1.0], [0.0, 1.0]), [1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="variogram model"):
        KrigingInterpolator(variogram_model="cubic").fit(([0, 1, 2], [0, 1, 0]), [1, 2, 3])
    with pytest.raises(NotFittedError, match="not fitted"):
        NearestInterpolator().predict(([0.0], [0.0]))
    with pytest.raises(InputError, match="groups"):
        IDWInterpolator().fit(([0.0, 1.0], [0.0, 1.0]), [1.0, 2.0], groups=["a"])
