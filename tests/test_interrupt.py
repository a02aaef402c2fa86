"""Ctrl-C is handled by Python, so a command says "interrupted" (exit 130) or finishes what
it committed: Polars replaces Python's SIGINT handler when it is imported, and then one
Ctrl-C during a streaming query arrives twice (a KeyboardInterrupt from the query, then
another from the chained handler while the first is being handled), which escaped every
handler and ended the process with no message."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from jtrack.cli import _keep_python_sigint
    _keep_python_sigint()
    import polars as pl
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    lf = pl.LazyFrame({"x": range(1_000_000)})
    end = time.monotonic() + 30
    try:
        while time.monotonic() < end:
            lf.select(pl.col("x").sort(descending=True).cum_sum().sum()).collect(
                engine="streaming"
            )
        print("not interrupted")
    except KeyboardInterrupt:
        time.sleep(0.2)  # (a second interrupt would land here)
        print("interrupted once")
    """
)


def test_one_ctrl_c_during_a_streaming_query_is_one_keyboard_interrupt() -> None:
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (res.returncode, res.stdout.strip()) == (0, "interrupted once"), res.stderr[-2000:]


def test_a_process_started_ignoring_ctrl_c_keeps_ignoring_it() -> None:
    """A job a shell put in the background starts with SIGINT ignored (Ctrl-C at the
    terminal is not for it): jtrack keeps that, and takes Python's handler only otherwise."""
    import signal

    code = (
        "import signal; from jtrack.cli import _keep_python_sigint; _keep_python_sigint(); "
        "print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)"
    )
    ignored = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert ignored.stdout.strip() == "True", ignored.stderr
    plain = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert plain.stdout.strip() == "False", plain.stderr


def test_ctrl_c_while_the_modules_load_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C in the first half second (Polars being imported) printed a traceback of 25 to
    60 lines: it is the one line every other interrupt gives, exit 130."""
    import jtrack.cli as cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_keep_python_sigint", interrupted)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["card", "abc"])
    assert exit_.value.code == 130
    assert capsys.readouterr().err == "error: interrupted (hint: run it again)\n"


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_after_the_command_finished_is_ignored_while_python_shuts_down(
    sig: str, tmp_path: Path
) -> None:
    """Ctrl-C (or SIGTERM) just after a run committed and printed its summary, while Python
    shut down, ended the process by the signal (130 and no word) or with a traceback: the
    command is over, its output whole, so it ends as it finished."""
    code = textwrap.dedent(
        f"""
        import atexit, os, signal, sys
        from jtrack.cli import main
        atexit.register(lambda: os.kill(os.getpid(), signal.{sig}))  # (while shutting down)
        sys.argv = ["jtrack", "sessionize", {str(ROOT / "sample_data" / "events.jsonl")!r},
                    "--store", {str(tmp_path / "store")!r}, "-q"]
        main()
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stderr == "" and res.stdout == ""
    assert (tmp_path / "store" / "current").exists()


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_while_the_command_line_loads_is_one_line_and_130(
    sig: str, tmp_path: Path
) -> None:
    """A Ctrl-C in the 0.1-0.25 s the console script takes to load the command line (Typer,
    every command) was a traceback of the imports, a SIGTERM (`timeout`, a shutdown) a silent
    exit 143: the console script's entry takes them before it loads anything. (The signal is
    sent as Typer is imported, where a cron `timeout` or a Ctrl-C can land.)"""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'jtrack = "jtrack._entry:main"' in pyproject  # (the console script)
    code = textwrap.dedent(
        f"""
        import os, signal, sys

        class Stop:
            def find_spec(self, name, path=None, target=None):
                if name == "typer":
                    sys.meta_path.remove(self)
                    os.kill(os.getpid(), signal.{sig})
                return None

        sys.meta_path.insert(0, Stop())
        sys.argv = ["jtrack", "sessions", "--store", {str(tmp_path / "store")!r}]
        from jtrack._entry import main
        main()
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (res.returncode, res.stderr) == (130, "error: interrupted (hint: run it again)\n")
    assert res.stdout == ""


def test_an_interrupt_inside_a_polars_callback_is_an_interrupt_not_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM landing while Polars ran a Python callback became Polars' PanicException (its
    Rust code unwrapped the KeyboardInterrupt): `internal error`, exit 1, which alerting took
    for bad data (about one run in 90 killed by `timeout`). It is exit 130, "interrupted";
    another panic is still an internal error."""
    from polars.exceptions import PanicException
    from typer.testing import CliRunner

    import jtrack.usecases.sessions as sessions_module
    from jtrack.cli import app

    runner = CliRunner()
    sample = ROOT / "sample_data" / "events.jsonl"
    store = str(tmp_path / "store")
    assert runner.invoke(app, ["sessionize", str(sample), "--store", store, "-q"]).exit_code == 0
    text = (
        "called `Result::unwrap()` on an `Err` value: PyErr { type: <class "
        "'KeyboardInterrupt'>, value: KeyboardInterrupt(), traceback: None }"
    )
    for message, code, said in (
        (text, 130, "interrupted; the store and any -o file are as they were"),
        ("index out of bounds", 1, "internal error: PanicException: index out of bounds"),
    ):

        def panics(*args: object, message: str = message, **kwargs: object) -> None:
            raise PanicException(message)

        monkeypatch.setattr(sessions_module, "session_listing", panics)
        res = runner.invoke(app, ["sessions", "--store", store])
        assert res.exit_code == code, res.stderr
        assert res.stderr.startswith("error: " + said) and res.stderr.count("\n") == 1


def _jtrack(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    code = f"import sys; sys.argv = ['jtrack', *{args!r}]; from jtrack._entry import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        cwd=ROOT,
    )


def test_an_interrupt_after_the_commit_says_the_store_changed(tmp_path: Path) -> None:
    """SIGTERM after `sessionize` had committed (while it printed its listing) said
    "nothing partial was written ... the store and any -o file are as they were": the store
    was at its new version, and standard output held half a listing (the scripting
    audit). It says what is so: the store changed, and what was printed may be cut short."""
    src = str(ROOT / "sample_data" / "events.parquet")
    store = str(tmp_path / "s")
    kill = {"JTRACK_TEST_KILL_AT": "after_current:INT"}
    res = _jtrack(["sessionize", src, "--store", store, "-f", "jsonl"], kill)
    assert res.returncode == 130
    assert res.stderr == (
        f"error: interrupted after the run was committed (the store {store} is at v000001); "
        "what it printed on standard output may be cut short (hint: `jtrack store --store "
        f"{store}` shows what it holds; a run again takes in only what is new)\n"
    )
    assert (tmp_path / "s" / "CURRENT").read_text() == "v000001\n"
    # a quiet run printed nothing: nothing said of standard output
    res = _jtrack(["sessionize", src, "--store", str(tmp_path / "q"), "-q"], kill)
    assert res.returncode == 130 and "standard output" not in res.stderr
    assert "is at v000001" in res.stderr
    # interrupted before its commit: the store as it was, what it printed maybe cut short
    early = {"JTRACK_TEST_KILL_AT": "after_segments:INT"}
    res = _jtrack(["sessionize", src, "--store", str(tmp_path / "e"), "-f", "json"], early)
    assert res.returncode == 130
    assert res.stderr.startswith("error: interrupted; the store and any -o file are as they were")
    assert not (tmp_path / "e" / "CURRENT").exists()
    res = _jtrack(["sessionize", src, "--store", str(tmp_path / "e"), "-q"], early)
    assert res.returncode == 130 and res.stderr == (
        "error: interrupted; nothing partial was written (hint: run it again: the store and "
        "any -o file are as they were)\n"
    )
