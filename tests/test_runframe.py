"""The frame of every command that writes an output folder."""

import pytest

from insarfusion.config import Config
from insarfusion.log import logger
from insarfusion.runframe import run_frame


def _config(tmp_path):
    return Config(datasets=[{"name": "A", "path": tmp_path / "a.csv"}])


def test_frame_writes_log_and_resolved_config(tmp_path):
    out = tmp_path / "out"
    with run_frame(_config(tmp_path), out) as staging:
        assert not out.exists()
        logger.info("inside the frame")
        (staging / "product.txt").write_text("x")
    assert (out / "product.txt").read_text() == "x"
    assert "inside the frame" in (out / "run.log").read_text()
    assert "datasets" in (out / "config.resolved.yaml").read_text()


def test_a_failed_run_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), run_frame(_config(tmp_path), out) as staging:
        (staging / "half.txt").write_text("x")
        raise RuntimeError("stage failed")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []
