"""`python -m bot` runs the nongbot command line."""

from bot.cli import main

raise SystemExit(main())
