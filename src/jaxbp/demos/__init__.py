"""The demos behind ``jaxbp <demo>``; each module has ``main(argv) -> int``."""
