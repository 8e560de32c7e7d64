"""``python -m pynq_mnist``: the pynq-mnist command line."""

from .cli import main

raise SystemExit(main())
