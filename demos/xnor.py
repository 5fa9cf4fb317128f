"""Run the 'xnor' demo: same as `jaxbp xnor`. See `python demos/xnor.py --help`."""
import sys

from jaxbp.cli import main

if __name__ == "__main__":
    sys.exit(main(["xnor", *sys.argv[1:]]))
