"""Allow ``python -m tui_backup``."""

import sys

from tui_backup.cli.entry import main

sys.exit(main())
