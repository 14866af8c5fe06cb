"""`python -m srsish` is the srsish command."""
import sys

from srsish.main import main

sys.exit(main())
