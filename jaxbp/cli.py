"""The ``jaxbp`` console command: ``jaxbp COMMAND [options]``, ``jaxbp COMMAND --help``.

Each command is a program in ``jaxbp.demos.<module>`` with ``main(argv) -> int``; the
scripts in the repository's ``demos/`` folder call the same functions. This module imports
no JAX: ``jaxbp --help``, ``jaxbp --version`` and the help and argument errors of the
demos declared in :mod:`jaxbp.demos.options` are answered without it, and a command's
module is imported only to run it.

Before running a command it turns on JAX's persistent compilation cache in the user's
cache folder, so that a second run loads its compiled programs instead of compiling them
again: ``$JAXBP_CACHE_DIR``, else ``$XDG_CACHE_HOME/jaxbp/jax``, else
``~/.cache/jaxbp/jax``; the demos' main programs are also kept there whole, in
``programs/``, so that a second run skips tracing them (:mod:`jaxbp.demos.programs`).
``JAXBP_NO_CACHE=1`` turns both off; a cache folder the user gave JAX itself
(``JAX_COMPILATION_CACHE_DIR``) is used as it is.

A user's error (a bad argument, a file that cannot be written, a learning rate that makes
training diverge) ends in one line, ``jaxbp gates: error: ...``, and a non-zero exit code,
never a traceback (``JAXBP_TRACEBACK=1`` shows it).
"""
import argparse
import difflib
import importlib
import os
import sys
from typing import Dict, List, Optional, Sequence

# command -> (module in jaxbp.demos, one-line description)
COMMANDS: Dict[str, tuple] = {
    "gates": ("gates", "perceptron vs hidden-layer nets on the six logic gates (the main demo)"),
    "xnor": ("xnor", "XNOR = OR(AND, NOR) by hand, then learned from random weights"),
    "explain": ("explain", "step-by-step backprop walkthrough: 'jaxbp explain mazur'"),
    "sweep": ("sweep", "how often does training solve XOR? success rates over many seeds"),
    "digits": ("digits", "Nielsen's chapter-1 experiment on scikit-learn's 8x8 digits"),
    "playground": ("playground", "an interactive page: train a small net and watch it learn"),
    "worksheet": ("worksheet", "a printable backprop worksheet with its own numbers"),
    "grade": ("grade", "check a filled-in worksheet and say which line is wrong"),
}

ENVIRONMENT = """\
environment:
  JAXBP_NO_CACHE=1     do not keep compiled programs between runs (the cache is on by
                       default, in $XDG_CACHE_HOME/jaxbp/jax or ~/.cache/jaxbp/jax)
  JAXBP_CACHE_DIR=DIR  keep them in DIR instead
  JAXBP_TRACEBACK=1    show the Python traceback of an error instead of one line"""

USER_ERRORS = (ValueError, OSError)  # what a command's wrong input or a full disk raises


def version() -> str:
    """The installed jaxbp's version (from its metadata: importing jaxbp is not needed)."""
    from importlib import metadata
    try:
        return metadata.version("jaxbp")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    from jaxbp.demos.options import Parser
    width = max(len(name) for name in COMMANDS)
    commands = "\n".join(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items())
    p = Parser(prog="jaxbp", usage="jaxbp [--version] [--help] COMMAND [options]",
               description="Backpropagation written out by hand (Nielsen's BP1-BP4) in JAX: "
                           "the demos.",
               epilog=f"commands:\n{commands}\n\n'jaxbp COMMAND --help' shows a command's "
                      f"options.\n\n{ENVIRONMENT}",
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"jaxbp {version()}")
    return p


def cache_dir(environ: Optional[Dict[str, str]] = None) -> Optional[str]:
    """Where the compilation cache goes, or None when ``JAXBP_NO_CACHE`` turns it off."""
    env = os.environ if environ is None else environ
    if env.get("JAXBP_NO_CACHE", "") not in ("", "0"):
        return None
    if env.get("JAXBP_CACHE_DIR"):
        return env["JAXBP_CACHE_DIR"]
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jaxbp", "jax")


def enable_compilation_cache(path: Optional[str]) -> Optional[str]:
    """Turn on JAX's persistent compilation cache in ``path`` for every program, however
    fast it compiled (JAX's default keeps only those over one second); returns the folder
    in use, or None. A folder that cannot be made leaves the cache off, silently: the
    cache only saves time."""
    import jax
    if jax.config.jax_compilation_cache_dir:   # the user's own JAX setting wins
        return jax.config.jax_compilation_cache_dir
    if path is None:
        return None
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def _light_parse(name: str, rest: List[str]) -> None:
    """Answer --help and argument errors of a demo whose options are declared in
    jaxbp.demos.options, before the demo (and JAX) is imported."""
    from jaxbp.demos import options
    if name in options.DEMOS:
        options.parse(name, rest)   # exits on --help and on bad arguments


def run(name: str, rest: List[str]) -> int:
    """Run command ``name`` with its arguments ``rest``: one-line errors, exit code."""
    prog = f"jaxbp {name}"
    _light_parse(name, rest)
    module_name = COMMANDS[name][0]
    try:
        module = importlib.import_module(f"jaxbp.demos.{module_name}")
    except ModuleNotFoundError as e:
        if e.name != f"jaxbp.demos.{module_name}":
            raise
        print(f"{prog}: error: this installation of jaxbp has no '{name}' command yet",
              file=sys.stderr)
        return 2
    if not {"-h", "--help"} & set(rest):  # a demo's own --help needs no JAX
        from jaxbp.demos import programs
        programs.use(enable_compilation_cache(cache_dir()))
    try:
        return int(module.main(rest) or 0)
    except BrokenPipeError:        # the reader went away ('jaxbp sweep | head'): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as e:
        if os.environ.get("JAXBP_TRACEBACK", "") not in ("", "0"):
            raise
        print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
        return 1


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, OSError) and error.filename and error.strerror:
        text = f"cannot write or read {error.filename}: {error.strerror}"
    return text


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``jaxbp COMMAND [options]``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if not argv:
        parser.print_help()
        return 0
    if argv[0] == "help":          # 'jaxbp help' and 'jaxbp help gates'
        argv = argv[1:2] + ["--help"] if len(argv) > 1 else ["--help"]
    if argv[0].startswith("-"):     # --help, --version, or a mistake argparse reports
        parser.parse_args(argv)
        parser.error(f"give a command first, e.g. 'jaxbp gates {' '.join(argv)}'")
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"one of {', '.join(COMMANDS)}"
        parser.error(f"unknown command '{name}' ({hint})")
    return run(name, rest)


if __name__ == "__main__":
    sys.exit(main())
