"""``python -m insarfusion``: the command line, as the ``insarfusion`` script."""

from .cli import main

main()
