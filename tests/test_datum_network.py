"""The network GNSS datum: all reference stations at once, weighted, robust."""

import logging

import numpy as np
from test_datum import EPOCHS, _scenario

from insarfusion import conventions as cv
from insarfusion.datum import (
    network_coefficients,
    network_offset,
    network_reference_dataset,
    station_offset,
)

STATIONS5 = (("A", 400.0, 400.0), ("B", 1700.0, 500.0), ("C", 900.0, 1800.0),
             ("D", 1600.0, 1600.0), ("E", 300.0, 1200.0))


def _tilted(t, x, y):
    """Reference drift varying in space: 2 mm/yr + 1.5 mm/yr/km east - 1 mm/yr/km north."""
    rate = 2.0 + 1.5 * (x - 1000.0) / 1000.0 - 1.0 * (y - 900.0) / 1000.0
    return rate[:, None] * t[None, :]


def test_network_tie_recovers_a_known_plane():
    ds, gnss, truth, true_offset = _scenario(stations=STATIONS5, offset=_tilted)
    names = [s[0] for s in STATIONS5]
    offset, summary = network_offset(ds, gnss, names, model="raw", plane=True)
    np.testing.assert_allclose(offset.values, true_offset, atol=1e-6)
    assert summary["plane"] and summary["down_weighted"] == []
    out, _ = network_reference_dataset(ds, gnss, names, model="linear", plane=True)
    np.testing.assert_allclose(out["displacement"].values, truth, atol=1e-6)
    assert out.attrs["datum_tie"] == "network"
    assert len(summary["sigma_mm"]) == EPOCHS.size


def test_network_tie_down_weights_a_station_with_an_injected_offset(caplog):
    """A 20 mm step at station D from mid-series (its ground moved, or its antenna) is
    down-weighted and named; the plane of the others is still recovered within 1 mm."""
    ds, gnss, _, true_offset = _scenario(stations=STATIONS5, offset=_tilted, noise=True)
    d = int(np.flatnonzero(gnss["station"].values == "D")[0])
    late = gnss["time"].values >= EPOCHS[30]
    up = gnss["up"].values.copy()
    up[d, late] += 20.0 / np.cos(np.radians(41.0))  # 20 mm along the LOS
    gnss["up"] = (gnss["up"].dims, up)
    names = [s[0] for s in STATIONS5]
    with caplog.at_level(logging.WARNING, logger="insarfusion"):
        offset, summary = network_offset(ds, gnss, names, model="linear", plane=True)
    assert summary["down_weighted"] == ["D"]
    assert summary["stations"]["D"]["weight"] < 0.2
    assert "station D down-weighted" in caplog.text
    err = offset.values - true_offset
    assert np.sqrt(np.mean(err**2)) < 1.0
    assert 0.0 < summary["sigma_mm_mean"] < 5.0


def test_one_station_network_is_the_circle_mean():
    ds, gnss, _, _ = _scenario()
    offset, summary = network_offset(ds, gnss, ["REF"], model="linear")
    single = station_offset(ds, gnss, "REF", model="linear")
    np.testing.assert_allclose(offset.values, np.broadcast_to(single.values, offset.shape),
                               atol=1e-9)
    assert not summary["plane"]


def test_network_coefficients_weights_follow_the_variances():
    """Two stations, one far noisier: the offset follows the precise one."""
    years = cv.decimal_years(EPOCHS) - cv.decimal_years(EPOCHS)[0]
    raw = np.vstack([3.0 * years, 3.0 * years + 10.0 * np.sin(7 * years)])
    var = np.vstack([np.full(years.size, 0.1), np.full(years.size, 1000.0)])
    fit = network_coefficients(EPOCHS, raw, var, [0.0, 1000.0], [0.0, 0.0], model="raw",
                               plane=False)
    np.testing.assert_allclose(fit["coef"][0], 3.0 * years, atol=0.1)
