import sys

from sdprune.rehearsal.run import main

sys.exit(main())
