"""Sphinx configuration of the insarfusion documentation.

Built offline: no intersphinx, no theme or extension that fetches anything. Build with
``make docs`` (``sphinx-build -W --keep-going -b html docs docs/_build/html``).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

from insarfusion import __version__  # noqa: E402

project = "insarfusion"
author = "insarfusion developers"
copyright = "insarfusion developers, BSD-3-Clause"
release = __version__
version = __version__

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "insarfusion_docs",
]

exclude_patterns = ["_build"]
templates_path = []
nitpicky = False

# the API reference: numpydoc renders the docstrings' sections; members are listed by
# autodoc (in source order), so numpydoc's own member tables are off
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_theme_options = {"description": "InSAR PSI + SBAS + GNSS fusion", "fixed_sidebar": True}
html_static_path = []
html_title = f"insarfusion {release}"
