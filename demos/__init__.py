"""The demo programs behind ``jaxbp <demo>``, installed as ``jaxbp.demos``.

Each module has ``main(argv) -> int`` and runs on its own too: ``python demos/gates.py``.
"""
