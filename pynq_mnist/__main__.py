"""``python -m pynq_mnist``: the pynq-mnist command line."""

from .apps.cli import main

raise SystemExit(main())
