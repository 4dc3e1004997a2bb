import sys

from fishgate.cli import main

sys.exit(main())
