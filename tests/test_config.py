from pathlib import Path

import pytest

from insarfusion.config import apply_overrides, dump_config, load_config
from insarfusion.errors import ConfigError

GOOD = """\
crs: EPSG:32717
datasets:
  - {name: CSK, path: csk.csv, format: csv, band: X, technique: PSI}
  - {name: S1A, path: data/s1a.csv, format: egms, band: C, technique: SBAS}
primary: S1A
gnss: {path: gnss/, format: tenv3, reference: [R01], final_reference: R02, radius_m: 100}
time: {step_days: 12}
temporal: {method: lstm}
spatial: {method: cnn, cell_size_m: 20.22}
seed: 3
"""


def write(tmp_path, text, name="config.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_good_config_resolves_paths(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.primary == "S1A"
    assert cfg.datasets[1].path == (tmp_path / "data" / "s1a.csv").resolve()
    assert cfg.gnss.path == (tmp_path / "gnss").resolve()
    assert cfg.gnss.reference == ["R01"]
    assert cfg.temporal.lstm.units == 50 and cfg.temporal.lstm.layers == 3
    assert cfg.temporal.lstm.learning_rate == 0.008 and cfg.temporal.lstm.epochs == 86
    assert cfg.spatial.cnn.filters == 64 and cfg.spatial.cnn.kernel_size == 5
    assert cfg.seed == 3


def test_apply_overrides_sets_dotted_keys(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    out = apply_overrides(cfg, {"spatial.cnn.epochs": 3, "temporal.method": "linear", "seed": 7})
    assert out is cfg
    assert (cfg.spatial.cnn.epochs, cfg.temporal.method, cfg.seed) == (3, "linear", 7)
    assert cfg.spatial.cnn.filters == 64  # the rest is left as it was


def test_defaults(tmp_path):
    cfg = load_config(write(tmp_path, "datasets:\n  - {name: A, path: a.csv}\n"))
    assert cfg.primary == "A"
    assert cfg.gnss is None
    assert cfg.time.step_days == 12
    assert cfg.spatial.cell_size_m == 20.22
    assert cfg.projection == "paper"


def test_round_trip(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    dump_config(cfg, tmp_path / "resolved.yaml")
    again = load_config(tmp_path / "resolved.yaml")
    assert again == cfg


@pytest.mark.parametrize(
    "text, where, what",
    [
        (GOOD.replace("seed: 3", "sede: 3"), "key 'sede'", "unknown key"),
        (GOOD.replace("seed: 3", "seed: three"), "key 'seed'", "integer"),
        (GOOD.replace("primary: S1A", "primary: ENV"), "key '(top level)'", "not one of"),
        (GOOD.replace("step_days: 12", "step_days: -12"), "key 'time.step_days'", "greater"),
        (GOOD.replace("method: lstm", "method: gru"), "key 'temporal.method'", "lstm"),
        (GOOD.replace("cell_size_m: 20.22", "cell_size_m: -5"), "key 'spatial.cell_size_m'",
         "positive"),
        (GOOD.replace("{name: CSK, path: csk.csv,", "{name: CSK,"), "key 'datasets.0.path'",
         "required key is missing"),
        (GOOD.replace("name: S1A", "name: CSK"), "key '(top level)'", "used twice"),
        (GOOD.replace("format: egms", "format: egsm"), "key 'datasets.1.format'", "egms"),
        (GOOD + "datasets: 7\n", None, None),
        ("datasets: [\n", "line", "not valid YAML"),
        ("", None, "empty"),
        ("- a\n- b\n", None, "mapping"),
        (GOOD.replace("band: X,", "band: X, incidence: 95,"), "key 'datasets.0.incidence'",
         "less than 90"),
        (GOOD.replace("method: cnn,", "method: cnn, cnn: {device: gpu},"),
         "key 'spatial.cnn.device'", "pattern"),
    ],
)
def test_bad_configs(tmp_path, text, where, what):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    msg = str(info.value)
    assert str(p) in msg
    assert "\n" not in msg
    if where:
        assert where in msg
    if what:
        assert what in msg


def test_missing_config(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.yaml")


def test_method_sections_default_to_the_estimators_own_defaults():
    """One place for each default: a config section says what its estimator says."""
    from insarfusion.config import SpatialConfig
    from insarfusion.spatial import make_interpolator

    spatial = SpatialConfig()
    for method in ("idw", "kriging"):
        params = spatial.estimator_params(method)
        estimator = make_interpolator(method).get_params()
        assert params == {k: estimator[k] for k in params}, method


def test_device_reaches_the_learned_estimators(tmp_path):
    """``device`` (default auto: a GPU when torch sees one) is passed to the LSTM and CNN."""
    from insarfusion.spatial import make_interpolator
    from insarfusion.temporal import make_resampler

    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.temporal.lstm.device == "auto" and cfg.spatial.cnn.device == "auto"
    cfg = load_config(write(tmp_path, GOOD.replace(
        "method: lstm}", "method: lstm, lstm: {device: cpu}}").replace(
        "method: cnn,", "method: cnn, cnn: {device: 'cuda:1'},")))
    lstm = make_resampler("lstm", cfg.temporal.estimator_params("lstm"))
    cnn = make_interpolator("cnn", cfg.spatial.estimator_params("cnn"))
    assert (lstm.device, cnn.device) == ("cpu", "cuda:1")


def test_error_model_keys(tmp_path):
    """``atmosphere:`` and ``gnss.tie`` / ``gnss.screening``: defaults, paths, refusals."""
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.atmosphere.method == "spatiotemporal" and cfg.atmosphere.scale_m == 100.0
    assert cfg.atmosphere.filter_params()["window_days"] == 90.0
    assert cfg.gnss.tie == "network" and not cfg.gnss.network_plane
    assert cfg.gnss.screening.enabled and cfg.gnss.screening.steps_file is None
    text = GOOD.replace("radius_m: 100}", "radius_m: 100, tie: station, screening: "
                        "{steps_file: steps.txt, outlier_threshold: 4}}")
    text += "atmosphere: {method: common_mode, window_days: 60}\n"
    cfg = load_config(write(tmp_path, text))
    assert cfg.gnss.tie == "station" and cfg.gnss.screening.outlier_threshold == 4
    assert cfg.gnss.screening.steps_file == (tmp_path / "steps.txt").resolve()
    assert cfg.atmosphere.method == "common_mode" and cfg.atmosphere.window_days == 60
    for bad, where in (("atmosphere: {method: stamps}\n", "key 'atmosphere.method'"),
                       ("atmosphere: {scale_m: 0}\n", "key 'atmosphere.scale_m'")):
        with pytest.raises(ConfigError, match=where):
            load_config(write(tmp_path, GOOD + bad))
    with pytest.raises(ConfigError, match="key 'gnss.tie'"):
        load_config(write(tmp_path, GOOD.replace("radius_m: 100}", "radius_m: 100, tie: x}")))
