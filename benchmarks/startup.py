"""Start-up time of the command-line tool (against ``python -c pass``) and of the window.

**CLI:** ``tzbackup --version``, ``--help`` and the offline commands (``status``, ``search``, ``show``,
``history``, ``verify``) against a demo backup, each run ``--runs`` times (at least 5): the median in ms and
its ratio to ``python -c pass`` (target: at most 5×), and whether the run imported httpx or asyncio (it
should not: those are for the commands that use the network). ``--cli-only`` stops there.

**Window:** process start → main window shown → personality list filled from the local backups.

The window should list what is already backed up *before* the service answers. To see whether it does,
the demo's sandbox is given a ``slow`` fault on every request (``--slow`` seconds, default 3): when the rows
appear sooner than that, they came from local metadata; when they appear only after it, the list waited for
the network.

Two ways to run the app:
- **installed package** (``.venv``): a child process runs ``tzbackup_gui.__main__.main`` with a QTimer probe
  that records when the MainWindow becomes visible and when its table gets rows (offscreen, no X needed);
- **PyInstaller build** (``dist/tzbackup/tzbackup-gui``, when built) and, for comparison, the installed
  ``tzbackup-gui`` script: time until the window is *mapped* on an X server (Xvfb started here when needed),
  found with ``xdotool search --onlyvisible --pid``. The frozen binary cannot be probed from inside, so this
  figure is "window shown", not "rows shown".

    .venv/bin/python benchmarks/startup.py [--runs 3] [--slow 3] [--cli-only]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
T0_ENV = "TZBACKUP_BENCH_T0"


# ----------------------------------------------------------------------------------------------------
# child: the real app with a probe
# ----------------------------------------------------------------------------------------------------
def child(data_dir: str, slow: float, timeout: float) -> None:
    """Run the GUI (--demo) with a slow sandbox; print one JSON line with the times, then exit at once."""
    t0 = float(os.environ[T0_ENV])
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QTableView

    import tzbackup_gui.sandbox as sandbox_pkg
    from tzbackup_gui import __main__ as gui_main

    base = sandbox_pkg.SandboxServer

    class SlowSandbox(base):  # type: ignore[misc,valid-type]
        """The demo sandbox with every response delayed by ``slow`` seconds."""

        def start(self):  # type: ignore[no-untyped-def]
            started = super().start()
            if slow > 0:
                self.state.set_fault("slow", count=None, seconds=slow)
            return started

    sandbox_pkg.SandboxServer = SlowSandbox  # type: ignore[misc]
    app = QApplication(sys.argv[:1])
    times: dict[str, float] = {"imports_done": time.time() - t0}

    def probe() -> None:
        for widget in app.topLevelWidgets():
            if widget.objectName() != "mainWindow" or not widget.isVisible():
                continue
            times.setdefault("window_shown", time.time() - t0)
            table = widget.findChild(QTableView, "personalitiesTable")
            if table is not None and table.model() is not None and table.model().rowCount() > 0:
                times["rows_shown"] = time.time() - t0
                finish()
        if time.time() - t0 > timeout:
            finish()

    def finish() -> None:
        print(json.dumps(times), flush=True)
        os._exit(0)

    timer = QTimer()
    timer.timeout.connect(probe)
    timer.start(5)
    gui_main.main(["--demo", "--data-dir", data_dir])
    finish()


def run_probe(data_dir: Path, slow: float, timeout: float) -> dict[str, float]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env[T0_ENV] = repr(time.time())
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(data_dir), "--slow", str(slow), "--timeout", str(timeout)],
        env=env, capture_output=True, text=True, timeout=timeout + 30, check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"probe child failed:\n{out.stdout}\n{out.stderr}")
    result: dict[str, float] = json.loads(lines[-1])
    return result


# ----------------------------------------------------------------------------------------------------
# window mapped on X (works for the frozen build too)
# ----------------------------------------------------------------------------------------------------
def time_to_mapped(exe: list[str], data_dir: Path, display: str, timeout: float = 30.0) -> float:
    env = dict(os.environ, DISPLAY=display)
    env.pop("QT_QPA_PLATFORM", None)
    start = time.time()
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed below, after the process ends)
    proc = subprocess.Popen([*exe, "--demo", "--data-dir", str(data_dir)], env=env,
                            stdout=log, stderr=log)
    try:
        while time.time() - start < timeout:
            found = subprocess.run(["xdotool", "search", "--onlyvisible", "--pid", str(proc.pid)],
                                   env=env, capture_output=True, text=True, check=False)
            if found.stdout.strip():
                return time.time() - start
            time.sleep(0.01)
        log.seek(0)
        output = log.read().decode(errors="replace")[-3000:]
        raise SystemExit(f"{exe[0]}: no window within {timeout} s; its output:\n{output}")
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def start_xvfb() -> tuple[str, subprocess.Popen[bytes] | None]:
    if os.environ.get("DISPLAY"):
        return os.environ["DISPLAY"], None
    number = 70 + os.getpid() % 100
    xvfb = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    socket = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.time() + 10
    while not socket.exists() and time.time() < deadline and xvfb.poll() is None:
        time.sleep(0.05)
    time.sleep(0.2)
    return f":{number}", xvfb


# ----------------------------------------------------------------------------------------------------
def prepare(data_dir: Path) -> None:
    """A demo backup of every personality, so the window has local metadata to show."""
    subprocess.run([str(ROOT / ".venv/bin/tzbackup"), "--demo", "--data-dir", str(data_dir), "--quiet",
                    "backup", "--all", "--delay", "0.01"], check=True, capture_output=True)


# ----------------------------------------------------------------------------------------------------
# the command-line tool
# ----------------------------------------------------------------------------------------------------
CLI_TARGET_RATIO = 5.0  # for start-up alone (--version, --help); the other commands also read the backup
CLI_CASES: list[tuple[str, list[str]]] = [
    ("--version", ["--version"]),
    ("--help", ["--help"]),
    ("status", ["status"]),
    ("search", ["search", "the", "--limit", "5"]),
    ("show", ["show", "lilith"]),
    ("history", ["history", "lilith"]),
    ("verify", ["verify", "captain-nemo"]),
]
# What a run imported (sys.modules at exit), so the benchmark also tells *why* a command is slow.
_CLI_PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('\\nLOADED ' + ' '.join(m for m in"
    " ('httpx', 'asyncio', 'PySide6') if m in sys.modules) + '\\n'))\n"
    "sys.argv = ['tzbackup', *sys.argv[1:]]\n"
    "from tzbackup_gui.cli import main\n"
    "raise SystemExit(main())\n"
)


# An installed app has its bytecode compiled (pip does it at install, PyInstaller ships it); a shell with
# PYTHONDONTWRITEBYTECODE set would make every run compile the package from source instead.
_BENCH_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _time_ms(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False, env=_BENCH_ENV)
        times.append((time.perf_counter() - start) * 1000)
    return times


def cli_startup(data_dir: Path, runs: int) -> int:
    """Print the CLI start-up table; 1 when an offline command loaded httpx/asyncio or ``--version`` /
    ``--help`` missed the target ratio (so a person or a script can use it as a check), else 0."""
    runs = max(runs, 5)
    python = [sys.executable, "-c", "pass"]
    _time_ms(python, 2)  # warm the page cache
    script = Path(sys.executable).with_name("tzbackup")  # the installed console script, as a user runs it
    print(f"CLI start-up ({script}), median of {runs} runs, each beside a run of python -c pass "
          f"(target ≤ {CLI_TARGET_RATIO:g}×):")
    status = 0
    for label, args in CLI_CASES:
        timed = [str(script)] if script.exists() else [sys.executable, "-m", "tzbackup_gui.cli"]
        timed += ["--data-dir", str(data_dir), *args]
        _time_ms(timed, 1)  # writes the bytecode caches if they are missing
        pairs = [(_time_ms(python, 1)[0], _time_ms(timed, 1)[0]) for _ in range(runs)]  # interleaved: a
        base = statistics.median(b for b, _ in pairs)  # busy machine slows both alike
        ms = statistics.median(t for _, t in pairs)
        probe = [sys.executable, "-c", _CLI_PROBE, "--data-dir", str(data_dir), *args]
        # cwd away from a source checkout: ``python -c`` would import the package from the current folder
        err = subprocess.run(probe, capture_output=True, text=True, check=False, cwd=data_dir.parent).stderr
        loaded = next((line[7:].split() for line in err.splitlines() if line.startswith("LOADED")), [])
        heavy = [m for m in loaded if m in ("httpx", "asyncio")]
        ratio = ms / base
        startup_only = label.startswith("--")
        verdict = ("ok" if ratio <= CLI_TARGET_RATIO else "over target") if startup_only else "(+ reading)"
        print(f"  tzbackup {label:10} {ms:6.0f} ms  {ratio:4.1f}× of {base:3.0f} ms  {verdict:11}  "
              f"imports: {', '.join(loaded) or 'neither httpx nor asyncio'}")
        if heavy or (startup_only and ratio > CLI_TARGET_RATIO):
            status = 1
    return status


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s" if values else "—"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slow", type=float, default=3.0, help="seconds every sandbox response is delayed")
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--cli-only", action="store_true", help="time the command-line tool only")
    parser.add_argument("--child", metavar="DATA_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.slow, args.timeout)
        return 0

    with tempfile.TemporaryDirectory(prefix="tzbackup-startup-") as tmp:
        data_dir = Path(tmp) / "data"
        prepare(data_dir)
        os.environ.update(HOME=tmp, XDG_CONFIG_HOME=f"{tmp}/.config", XDG_CACHE_HOME=f"{tmp}/.cache")
        cli_status = cli_startup(data_dir, args.runs)
        if args.cli_only:
            return cli_status
        print(f"installed package, offscreen, sandbox responses delayed {args.slow:g} s, {args.runs} runs:")
        for slow in (0.0, args.slow):
            runs = [run_probe(data_dir, slow, args.timeout) for _ in range(args.runs)]
            window = [r["window_shown"] for r in runs if "window_shown" in r]
            rows = [r["rows_shown"] for r in runs if "rows_shown" in r]
            verdict = ""
            if slow > 0 and rows:
                verdict = ("  → local rows shown BEFORE the network answered" if max(rows) < slow
                           else "  → rows waited for the network (local metadata not shown first)")
            print(f"  slow={slow:<4g} window shown {median(window)}, rows shown {median(rows)}"
                  f" (imports {median([r['imports_done'] for r in runs])}){verdict}")

        if not (shutil.which("xdotool") and (os.environ.get("DISPLAY") or shutil.which("Xvfb"))):
            print("window-mapped timings skipped: needs xdotool and an X server (or Xvfb)")
            return 0
        display, xvfb = start_xvfb()
        try:
            print(f"window mapped on X ({display}), {args.runs} runs, median:")
            targets = [("installed (.venv/bin/tzbackup-gui)", [str(ROOT / ".venv/bin/tzbackup-gui")])]
            frozen = ROOT / "dist/tzbackup/tzbackup-gui"
            if frozen.exists():
                targets.append(("PyInstaller (dist/tzbackup/tzbackup-gui)", [str(frozen)]))
            else:
                print("  (no PyInstaller build: run packaging/build to include it)")
            for label, exe in targets:
                times = [time_to_mapped(exe, data_dir, display) for _ in range(args.runs)]
                print(f"  {label:42} {median(times)}  (min {min(times):.2f} s)")
        finally:
            if xvfb is not None:
                xvfb.terminate()
                xvfb.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
