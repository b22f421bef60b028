"""``python -m multisc.cli``: the ``multisc`` command."""

from multisc.cli import main

raise SystemExit(main())
