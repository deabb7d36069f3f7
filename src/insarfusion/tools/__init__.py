"""Side tools beside the fusion pipeline, each run in the same frame as a run.

* :mod:`~insarfusion.tools.decompose` — ``insarfusion decompose``: two or more lines of sight
  decomposed into east and up per cell, compared with independent products (EGMS L3).
* :mod:`~insarfusion.tools.gnss_compare` — ``insarfusion compare-gnss``: every dataset's LOS
  series against a GNSS station, in every candidate geometry.
"""
