"""The documentation builds offline with warnings as errors, its reference pages are complete,
and the Python examples of the README and the tutorial run.

Sphinx is imported unconditionally: without it (the ``docs`` extra) this module fails, as CI
installs it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import sphinx  # noqa: F401 - fails the module when the docs extra is missing

from insarfusion.config import Config
from insarfusion.config_template import key_docs
from insarfusion.io import GNSS_FORMATS, POINT_FORMATS
from insarfusion.products.guide import PRODUCT_GUIDE

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out.parent / "doctrees"), str(DOCS), str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stderr.strip() == "", proc.stderr[-4000:]  # not even a non-fatal warning
    return out


def text(html_file: Path) -> str:
    """The page's text, tags removed."""
    return re.sub(r"<[^>]+>", " ", html_file.read_text(encoding="utf-8"))


def test_config_reference_lists_every_key(html):
    page = text(html / "config.html")
    words = set(page.split())
    for key in Config.model_fields:
        assert key in words, key
    for doc in key_docs():  # every key of every section, in its section's table
        assert doc.key.rsplit(".", 1)[-1] in words, doc.key
    # the sections' headings, and the template that `insarfusion init` writes
    assert 'id="config-spatial-cnn"' in (html / "config.html").read_text()
    assert "max_train_seconds" in page and "insarfusion configuration: every key" in page


def test_api_reference_documents_the_estimators_and_readers(html):
    page = (html / "api.html").read_text(encoding="utf-8")
    for name in ("insarfusion.cnn.CNNFusion", "insarfusion.spatial.KrigingInterpolator",
                 "insarfusion.temporal.LSTMResampler", "insarfusion.estimators.clone",
                 "insarfusion.io.read_points", "insarfusion.io.egms.read_egms",
                 "insarfusion.model_selection.BlockKFold", "insarfusion.metrics.rmse",
                 "insarfusion.datum.reference_dataset", "insarfusion.atmosphere.APSFilter",
                 "insarfusion.validate.StationValidation", "insarfusion.pipeline.run",
                 "insarfusion.products.write_run_products"):
        assert f'id="{name}"' in page, name
    # numpydoc rendered the sections (a parameter list, not raw underlined headings)
    assert re.search(r"Parameters\s*:", text(html / "api.html"))
    assert "----------" not in text(html / "api.html")


def test_formats_page_has_every_format_product_and_convention(html):
    page = text(html / "formats.html")
    for name in [*POINT_FORMATS, *GNSS_FORMATS]:
        assert re.search(rf"\b{name}\b", page), name
    for pattern, _, _ in PRODUCT_GUIDE:
        assert pattern in page, pattern
    assert "positive toward the satellite" in page
    assert 'id="insarfusion.conventions.los_unit_vector"' in (html / "formats.html").read_text()


def test_nothing_is_fetched_at_build_time():
    conf = (DOCS / "conf.py").read_text()
    assert "sphinx.ext.intersphinx" not in conf
    assert "http" not in conf  # no theme, script or inventory from the web


def python_blocks(path: Path) -> list[str]:
    """The Python examples of a Markdown (its "### Python" section) or reStructuredText file."""
    source = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        section = source.split("\n### Python\n", 1)[1].split("\n#", 1)[0]
        return re.findall(r"```python\n(.*?)```", section, flags=re.S)
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", source)
    return ["\n".join(line[3:] for line in block.splitlines()) for block in blocks]


@pytest.fixture(scope="module")
def small_demo_case(tmp_path_factory):
    """A folder holding ``demo_out/case``: the demo's case at a quarter of its size."""
    from insarfusion.simulate import write_case

    root = tmp_path_factory.mktemp("example")
    write_case(root / "demo_out" / "case", seed=0, scale=0.25)
    return root


@pytest.mark.parametrize("document", ["README.md", "docs/tutorial.rst"])
def test_python_examples_run(document, small_demo_case, monkeypatch, capsys):
    blocks = python_blocks(ROOT / document)
    assert blocks, f"no Python example in {document}"
    monkeypatch.chdir(small_demo_case)
    namespace: dict = {}
    for number, code in enumerate(blocks, start=1):
        exec(compile(code, f"{document} example {number}", "exec"), namespace)  # noqa: S102
    printed = capsys.readouterr().out
    if document == "README.md":
        lines = printed.split()
        assert float(lines[0]) < 10.0  # velocity RMSE at the stations, mm/yr
        assert (small_demo_case / "my_run" / "velocity.tif").is_file()
    else:
        assert namespace["fused"].dims == ("time", "y", "x")
        assert namespace["std"].shape == (11,)  # kriging's std at the 11 stations
