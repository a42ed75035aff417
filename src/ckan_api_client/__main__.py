"""``python -m ckan_api_client`` runs the command-line tool."""

import sys

from .cli import run

sys.exit(run())
