"""Run the 'gates' demo: same as `jaxbp gates`. See `python demos/gates.py --help`."""
import sys

from jaxbp.cli import main

if __name__ == "__main__":
    sys.exit(main(["gates", *sys.argv[1:]]))
