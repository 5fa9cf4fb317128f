"""The `jaxbp` console command dispatches to the demos."""
import subprocess
import sys

from jaxbp import cli


def test_help_lists_every_demo(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.DEMOS:
        assert name in out


def test_unknown_demo_is_an_error(capsys):
    assert cli.main(["gatez"]) == 2
    assert "unknown demo 'gatez'" in capsys.readouterr().err


def test_every_demo_has_help():
    for name in cli.DEMOS:
        result = subprocess.run([sys.executable, "-m", "jaxbp", name, "--help"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "usage" in result.stdout.lower()
