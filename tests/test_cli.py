"""The `jaxbp` console command: dispatch, --version, did-you-mean, one-line errors with
non-zero exit codes, output paths checked before any work, the compilation cache, and help
answered without importing JAX."""
import importlib.util
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from jaxbp import cli
from jaxbp.demos import options

ROOT = Path(cli.__file__).resolve().parent.parent
OWN_OPTIONS = sorted(options.DEMOS)        # demos whose options are declared without JAX


def jaxbp_cmd(*args, env=None, timeout=120):
    """Run `python -m jaxbp ARGS` (the console script's code) in a fresh process."""
    full_env = {**os.environ, "JAXBP_NO_CACHE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "jaxbp", *args], capture_output=True,
                          text=True, timeout=timeout, env=full_env)


def exists(module):
    return importlib.util.find_spec(f"jaxbp.demos.{module}") is not None


# ---- in-process: cheap --------------------------------------------------------------------

def test_help_lists_every_command_and_the_cache_switch(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name, (_, text) in cli.COMMANDS.items():
        assert name in out and text in out
    assert "JAXBP_NO_CACHE=1" in out and "JAXBP_CACHE_DIR" in out


def test_no_arguments_prints_the_help(capsys):
    assert cli.main([]) == 0
    assert "commands:" in capsys.readouterr().out


def test_version_is_the_installed_one(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"jaxbp {metadata.version('jaxbp')}"


@pytest.mark.parametrize("typo, suggestion", [("gatez", "gates"), ("digit", "digits"),
                                              ("swep", "sweep"), ("exlpain", "explain")])
def test_mistyped_command_suggests_the_closest(typo, suggestion, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([typo])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1                                    # one line
    assert err.startswith(f"jaxbp: error: unknown command '{typo}' "
                          f"(did you mean '{suggestion}'?)")


def test_unrelated_command_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["frobnicate"])
    err = capsys.readouterr().err
    assert "did you mean" not in err and all(name in err for name in cli.COMMANDS)


@pytest.mark.parametrize("name", OWN_OPTIONS)
def test_bad_flag_is_one_line_naming_the_command(name, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([name, "--bogus"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err == f"jaxbp {name}: error: unrecognized arguments: --bogus (see 'jaxbp {name} --help')\n"


@pytest.mark.parametrize("argv, message", [
    (["gates", "--plot", "no/such/folder/g.png"],
     "argument --plot: cannot write no/such/folder/g.png: the folder no/such/folder does not exist"),
    (["gates", "--plot", "gates.txt"], "argument --plot: gates.txt: the file name must end in one of"),
    (["gates", "--html", "no/such/folder/g.html"], "argument --html: cannot write no/such/folder"),
    (["xnor", "--plot", "no/such/folder/x.png"], "argument --plot: cannot write no/such/folder"),
    (["digits", "--plot", "no/such/folder/d.png"], "argument --plot: cannot write no/such/folder"),
    (["sweep", "--plot", "no/such/folder/s.png"], "argument --plot: cannot write no/such/folder"),
    (["gates", "--steps", "0"], "argument --steps: must be an int > 0, got 0"),
    (["gates", "--lr", "nan"], "argument --lr: must be a finite number > 0, got nan"),
    (["sweep", "--runs", "-3"], "argument --runs: must be an int > 0, got -3"),
    (["digits", "--seed", "-1"], "argument --seed: must be an int in [0, 2**32), got -1"),
])
def test_bad_values_and_unwritable_paths_fail_before_any_work(argv, message, capsys,
                                                              monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    ran = []
    monkeypatch.setattr(cli, "enable_compilation_cache", lambda path: ran.append(path))
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2 and ran == []                  # nothing was started
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"jaxbp {argv[0]}: error: {message}")


def test_a_folder_is_not_a_plot_file(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["gates", "--plot", str(tmp_path)])
    assert "is a folder; give a file name" in capsys.readouterr().err


def test_plot_without_matplotlib_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)        # import matplotlib fails
    with pytest.raises(SystemExit) as e:
        cli.main(["gates", "--plot", str(tmp_path / "g.png")])
    assert e.value.code == 2
    assert "plotting needs matplotlib: pip install 'jaxbp[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "g.png").exists()


class _Demo:
    """A stand-in demo module whose main raises what a user's input can cause."""
    def __init__(self, error):
        self.error = error

    def main(self, argv):
        raise self.error


@pytest.mark.parametrize("error, line", [
    (ValueError("fit: lr must be > 0,\n got -1"), "jaxbp explain: error: fit: lr must be > 0, got -1\n"),
    (PermissionError(13, "Permission denied", "/root/x.png"),
     "jaxbp explain: error: cannot write or read /root/x.png: Permission denied\n"),
])
def test_a_users_error_is_one_line_and_exit_1(error, line, monkeypatch, capsys):
    monkeypatch.setattr(cli.importlib, "import_module", lambda name: _Demo(error))
    monkeypatch.setattr(cli, "enable_compilation_cache", lambda path: None)
    assert cli.main(["explain"]) == 1
    assert capsys.readouterr().err == line


def test_traceback_on_request(monkeypatch):
    monkeypatch.setattr(cli.importlib, "import_module", lambda name: _Demo(ValueError("x")))
    monkeypatch.setattr(cli, "enable_compilation_cache", lambda path: None)
    monkeypatch.setenv("JAXBP_TRACEBACK", "1")
    with pytest.raises(ValueError):
        cli.main(["explain"])


def test_a_bug_is_not_hidden(monkeypatch):
    monkeypatch.setattr(cli.importlib, "import_module", lambda name: _Demo(KeyError("bug")))
    monkeypatch.setattr(cli, "enable_compilation_cache", lambda path: None)
    with pytest.raises(KeyError):
        cli.main(["explain"])


@pytest.mark.parametrize("env, expected", [
    ({}, os.path.join(os.path.expanduser("~"), ".cache", "jaxbp", "jax")),
    ({"XDG_CACHE_HOME": "/xdg"}, "/xdg/jaxbp/jax"),
    ({"XDG_CACHE_HOME": "/xdg", "JAXBP_CACHE_DIR": "/mine"}, "/mine"),
    ({"JAXBP_NO_CACHE": "1", "JAXBP_CACHE_DIR": "/mine"}, None),
    ({"JAXBP_NO_CACHE": "0"}, os.path.join(os.path.expanduser("~"), ".cache", "jaxbp", "jax")),
])
def test_cache_folder(env, expected):
    assert cli.cache_dir(env) == expected


@pytest.mark.parametrize("name", ["playground", "worksheet", "grade"])
def test_commands_of_other_modules(name, capsys):
    """Registered always; when their module is not installed the command says so in one
    line, otherwise its --help works."""
    if exists(name):
        with pytest.raises(SystemExit) as e:
            cli.main([name, "--help"])
        assert e.value.code == 0 and "usage" in capsys.readouterr().out.lower()
    else:
        assert cli.main([name]) == 2
        assert capsys.readouterr().err == (f"jaxbp {name}: error: this installation of jaxbp "
                                           f"has no '{name}' command yet\n")


# ---- in fresh processes ------------------------------------------------------------------

# Load jaxbp.cli and jaxbp.demos.options as the console script does, but with jaxbp's
# package __init__ replaced by an empty module: what the CLI itself imports is then all
# that is imported.
LIGHT = textwrap.dedent("""
    import sys, types
    for name, path in (("jaxbp", {pkg!r}), ("jaxbp.demos", {demos!r})):
        module = types.ModuleType(name)
        module.__path__ = [path]
        sys.modules[name] = module
    from jaxbp import cli
    try:
        cli.main(sys.argv[1:])
    except SystemExit:
        pass
    print("jax imported:", "jax" in sys.modules, file=sys.stderr)
""")


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["gatez"], ["gates", "--help"],
                                  ["sweep", "--help"], ["digits", "--help"], ["xnor", "--help"],
                                  ["gates", "--plot", "no/such/folder/g.png"]])
def test_help_and_errors_do_not_import_jax(argv):
    code = LIGHT.format(pkg=str(ROOT / "jaxbp"), demos=str(Path(options.__file__).parent))
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                            text=True, timeout=60)
    assert result.stderr.strip().endswith("jax imported: False"), result.stderr


@pytest.mark.parametrize("name", [n for n in cli.COMMANDS if n in OWN_OPTIONS or exists(n)])
def test_every_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([name, "--help"])
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: jaxbp {name}")


def test_bad_plot_path_in_a_process_is_one_line_exit_2():
    result = jaxbp_cmd("gates", "--plot", "no/such/folder/g.png")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("jaxbp gates: error: argument --plot: cannot write")


@pytest.mark.slow
def test_the_compilation_cache_is_written(tmp_path):
    """enable_compilation_cache makes even a fast-compiling program land in the folder."""
    code = ("import sys; from jaxbp import cli; cli.enable_compilation_cache(sys.argv[1]); "
            "import jax; jax.jit(lambda x: x * 3 + 1)(2.0).block_until_ready()")
    folder = tmp_path / "cache"
    result = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert any(folder.iterdir())
