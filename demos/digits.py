"""Run the 'digits' demo: same as `jaxbp digits`. See `python demos/digits.py --help`."""
import sys

from jaxbp.cli import main

if __name__ == "__main__":
    sys.exit(main(["digits", *sys.argv[1:]]))
