"""The jaxbp benchmark: ``python -m bench [--quick] [--out FILE]``; see bench/run.py."""
