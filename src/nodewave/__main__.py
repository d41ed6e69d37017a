import sys

from nodewave.cli.main import main

sys.exit(main())
