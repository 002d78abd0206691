"""``python -m symbp`` is the ``symbp`` command."""

from .cli import main

raise SystemExit(main())
