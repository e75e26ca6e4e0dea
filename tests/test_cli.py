"""The `segment` CLI: help for every option, meaningful exit codes, results on stdout and logs on stderr."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from segment.pipeline.cli import app, main
from tests.conftest import REPO

runner = CliRunner()
COMMANDS = ("validate", "features", "train", "score", "runs", "ui")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_of_every_command_is_explained(command):
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    click_command = next(c for c in __import__("typer").main.get_command(app).commands.values() if c.name == command)
    for param in click_command.params:
        if param.name == "help":
            continue
        assert param.help, f"{command} --{param.name} has no help text"
        assert param.opts[0] in result.output


def _segment(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    code = "from segment.pipeline.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_validate_prints_the_report_on_stdout_and_progress_on_stderr():
    proc = _segment("validate", "--config", "configs/default.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "rows in" in proc.stdout and "dropped: duplicate_line" in proc.stdout
    assert "load and clean" in proc.stderr and "rows in" not in proc.stderr
    quiet = _segment("validate", "--config", "configs/default.yaml", "--quiet")
    assert quiet.returncode == 0 and quiet.stderr.strip() == ""


def test_exit_codes_mean_something(tmp_path, monkeypatch):
    bad_date = _segment("score", "--config", "configs/default.yaml", "--date", "2011-13-45")
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr and "Traceback" not in bad_date.stderr
    bad_set = _segment("validate", "--set", "time.horizon_days=soon")
    assert bad_set.returncode == 2 and "horizon_days" in bad_set.stderr
    # an unexpected failure is exit 1 with one line, not a traceback
    import segment.pipeline.engines

    def boom(*_a, **_k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(segment.pipeline.engines, "prepare_for", boom)  # with or without the store
    monkeypatch.setattr(sys, "argv", ["segment", "validate", "--config", str(REPO / "configs/default.yaml"), "-q"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 1
