"""Allow ``python -m tui_backup``."""

import sys

from tui_backup.cli.main import main

sys.exit(main())
