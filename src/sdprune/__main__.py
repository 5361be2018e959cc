import sys

from sdprune.cli import main

sys.exit(main())
