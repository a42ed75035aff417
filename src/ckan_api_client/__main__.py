"""``python -m ckan_api_client`` runs the command-line tool."""

import sys

from .cli import run

if __name__ == "__main__":  # not when a documentation tool imports every module of the package
    sys.exit(run())
