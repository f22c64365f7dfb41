import sys

from breakeven.cli import main

sys.exit(main())
