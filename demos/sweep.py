"""Run the 'sweep' demo: same as `jaxbp sweep`. See `python demos/sweep.py --help`."""
import sys

from jaxbp.cli import main

if __name__ == "__main__":
    sys.exit(main(["sweep", *sys.argv[1:]]))
