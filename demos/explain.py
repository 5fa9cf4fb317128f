"""Run the 'explain' demo: same as `jaxbp explain`. See `python demos/explain.py --help`."""
import sys

from jaxbp.cli import main

if __name__ == "__main__":
    sys.exit(main(["explain", *sys.argv[1:]]))
