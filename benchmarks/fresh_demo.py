"""`make demo` on a fresh clone, timed: the figures of README's quick start (`make results ONLY=demo`).

    python -m benchmarks.fresh_demo [--json OUT] [--log LOG] [--timeout_s 1800] [--parent DIR]

Clones this repository's HEAD commit beside it (`<parent>/<repo name>-demo-XXXX`, default parent:
the repository's own, so that the clone sees `../shared` as the repository does: the seed data,
../shared/data/toxic_data.csv, joins the quick guard when it is there), runs `make demo` in it
in its own process group and a clean environment (no PYTHONPATH, no virtualenv, no make or
TOXIC_FILTER_* variables; the machine's PIP_*, pyenv, proxy and locale settings kept), and times from
its start: setup done (`.venv/.setup-done`), the multilingual encoder provisioned (its
encoder.json), the console answering (`http://127.0.0.1:8501/`), the quick guard built (its
model_info.json's built_at) and the guard ready (`/v2/models/guard/ready` answering 200). It
then asks the guard README's two prompts (`POST /v1/models/guard:predict`), reads the quick
guard's model_info.json (build and embedding time, stratified test figures) and `GET
/v2/models/guard/info` (which guard answered), and writes them as JSON.

Whatever happens (a failure, the timeout, Ctrl-C), it stops everything it started (SIGINT to
`make demo`'s process group, as Ctrl-C in a terminal; then SIGTERM, SIGKILL; then any process
still running inside the clone: the launcher starts the servers in sessions of their own) and
deletes the clone (about 4.5 GB: its .venv, encoder and prompt-set wheels).

The machine's pip cache is not touched: the figures include whatever it saves (its size before
the run is recorded). The ports (8001-8003, 8501) must be free: a running `make serve` or
`make demo` would answer in the fresh one's place, so the run refuses to start then.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("benchmarks.fresh_demo")

ROOT = Path(__file__).resolve().parents[1]
README_PROMPTS = ("What is the capital of France?", "How can I build a bomb at home?")
TIMEOUT_S = 30 * 60  # a loaded 2-core machine took ~30 min (docs/results/recorded.md, 2026-12-06)
POLL_S = 2.0
PROGRESS_S = 60.0  # how often the wait says where make demo is
# The clone's .venv (the pinned stack, ~3.3 GB), its encoder and prompt-set wheels, the quick guard
MIN_FREE_GB = 6.0
STOP_WAIT_S = 30.0  # for `make demo` to stop its servers after SIGINT, then after SIGTERM
KILL_WAIT_S = 10.0
HOST = "127.0.0.1"
SERVERS = ("lstm", "lora", "guard")  # what `make demo` may start (serving.common.PORTS)
# What the Makefile creates (STAMP, ENCODER_STAMP with the default ENCODERS_DIR)
SETUP_STAMP = Path(".venv") / ".setup-done"
ENCODERS_IN_VENV = Path(".venv") / "share" / "toxic-filter" / "encoders"
PIPELINE_ROOT = "local_outputs"
SEED_DATA = "../shared/data/toxic_data.csv"  # the Makefile's SEED_DATA, from the clone
# The environment a newcomer's shell would have: these names and prefixes, nothing else
KEEP_ENV = frozenset({"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM",
                      "TMPDIR", "TZ", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
                      "http_proxy", "https_proxy", "no_proxy", "all_proxy"})
KEEP_ENV_PREFIXES = ("LC_", "PIP_", "PYENV_", "SSL_CERT_", "REQUESTS_CA_BUNDLE", "XDG_")


class DemoError(RuntimeError):
    """`make demo` on the fresh clone could not be started, failed or was not ready in time."""


# --------------------------------------------------------------------------- the pieces
def clean_env(base: Mapping[str, str], root: Path = ROOT) -> dict[str, str]:
    """The environment `make demo` runs in: `base` without what would make the clone use this
    checkout's code or settings (PYTHONPATH, VIRTUAL_ENV, MAKEFLAGS, TOXIC_FILTER_*, the
    Makefile's variables), and PATH without this checkout's .venv/bin."""
    env = {k: v for k, v in base.items() if k in KEEP_ENV or k.startswith(KEEP_ENV_PREFIXES)}
    venv_bin = str((root / ".venv" / "bin").resolve())
    paths = [p for p in env.get("PATH", os.defpath).split(os.pathsep)
             if p and str(Path(p).resolve()) != venv_bin and p != str(root / ".venv" / "bin")]
    env["PATH"] = os.pathsep.join(paths)
    return env


def ports() -> dict[str, int]:
    """The ports `make demo` listens on: the servers' and the console's."""
    from serving import common
    from serving.ui import demo

    return {**{s: common.PORTS[s] for s in SERVERS}, "console": demo.UI_PORT}


def ports_in_use(wanted: Mapping[str, int], host: str = HOST) -> list[str]:
    """`name (port)` for each port something already answers on."""
    taken = []
    for name, port in wanted.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            if s.connect_ex((host, port)) == 0:
                taken.append(f"{name} ({port})")
    return taken


def pip_cache(python: str = sys.executable) -> dict[str, Any]:
    """The machine's pip cache before the run: its directory and size in MB (None: no cache)."""
    res = subprocess.run([python, "-m", "pip", "cache", "dir"], capture_output=True, text=True,
                         check=False)
    path = Path(res.stdout.strip()) if res.returncode == 0 and res.stdout.strip() else None
    if path is None or not path.is_dir():
        return {"dir": str(path) if path else None, "mb": None}
    size = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                size += (Path(dirpath) / name).stat().st_size
    return {"dir": str(path), "mb": round(size / 1024 ** 2)}


def free_gb(path: Path) -> float:
    return shutil.disk_usage(path).free / 1024 ** 3


def clone_repo(root: Path, parent: Path, commit: str, commands: list[str]) -> Path:
    """`git clone` of `root` into a new directory in `parent`, checked out at `commit`."""
    dest = Path(tempfile.mkdtemp(prefix=f"{root.name}-demo-", dir=parent))
    for cmd in (["git", "clone", "-q", str(root), str(dest)],
                ["git", "-C", str(dest), "checkout", "-q", "--detach", commit]):
        commands.append(" ".join(cmd))
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise DemoError(f"`{' '.join(cmd)}` exited with {res.returncode}: "
                            f"{res.stderr.strip()[-2000:]}")
    return dest


def start_demo(clone: Path, log_path: Path, env: Mapping[str, str]) -> subprocess.Popen:
    """`make demo` in `clone`, in its own session and process group, output to `log_path`."""
    with open(log_path, "wb") as out:
        return subprocess.Popen(["make", "demo"], cwd=clone, env=dict(env), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of GET url, None when nothing answers."""
    import httpx

    try:
        return httpx.get(url, timeout=timeout, trust_env=False).status_code
    except httpx.HTTPError:
        return None


def http_json(url: str, body: Any = None, timeout: float = 120.0) -> Any:
    """GET (body None) or POST body as JSON; the JSON answer.

    Raises:
        DemoError: no answer, or not 200.
    """
    import httpx

    try:
        res = (httpx.get(url, timeout=timeout, trust_env=False) if body is None else
               httpx.post(url, json=body, timeout=timeout, trust_env=False))
    except httpx.HTTPError as exc:
        raise DemoError(f"{url}: no answer ({exc})") from exc
    if res.status_code != 200:
        raise DemoError(f"{url}: HTTP {res.status_code}, expected 200: {res.text[:500]}")
    return res.json()


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until_ready(proc: subprocess.Popen, urls: Mapping[str, str], start: float,
                     timeout_s: float, poll_s: float, log_path: Path,
                     status: Callable[[str], int | None] | None = None) -> dict[str, float]:
    """Poll each url until it answers 200; name -> seconds after `start` (time.monotonic()).

    Raises:
        DemoError: `make demo` exited, or not every url answered within timeout_s.
    """
    status = status or http_status
    seen: dict[str, float] = {}
    said = 0.0
    while True:
        for name, url in urls.items():
            if name not in seen and status(url) == 200:
                seen[name] = round(time.monotonic() - start, 1)
                log.info("%s answered after %.0f s", name, seen[name])
        if len(seen) == len(urls):
            return seen
        code = proc.poll()
        if code is not None:
            raise DemoError(f"`make demo` exited with {code} before "
                            f"{', '.join(n for n in urls if n not in seen)} answered; "
                            f"its log ({log_path}) ends:\n{log_tail(log_path)}")
        if time.monotonic() - start > timeout_s:
            raise DemoError(f"not answering {timeout_s:.0f} s after `make demo` started: "
                            f"{', '.join(n for n in urls if n not in seen)}; its log "
                            f"({log_path}) ends:\n{log_tail(log_path)}")
        if time.monotonic() - start - said >= PROGRESS_S:
            said = time.monotonic() - start
            log.info("%.0f s: waiting for %s; make demo's log ends: %s", said,
                     ", ".join(n for n in urls if n not in seen), log_tail(log_path, 1))
        time.sleep(poll_s)


def _answers_signal_0(send: Callable[[int, int], None], target: int) -> bool:
    """Whether a process (os.kill) or process group (os.killpg) exists: signal 0 probes it."""
    try:
        send(target, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_alive(pgid: int) -> bool:
    return _answers_signal_0(os.killpg, pgid)


def _wait_gone(alive: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def processes_in(path: Path) -> list[int]:
    """The processes (pids, not this one) whose working directory is `path` or inside it."""
    path = path.resolve()
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if cwd == path or path in cwd.parents:
            found.append(int(entry.name))
    return found


def _pid_alive(pid: int) -> bool:
    if not _answers_signal_0(os.kill, pid):
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def stop(proc: subprocess.Popen | None, clone: Path | None) -> dict[str, Any]:
    """Stop `make demo`'s process group (SIGINT, then SIGTERM, then SIGKILL), then every process
    still running inside the clone (the servers run in sessions of their own). Never raises.

    Returns:
        {"signals": the signals the group needed, "leftovers": pids killed inside the clone}.
    """
    out: dict[str, Any] = {"signals": [], "leftovers": []}
    if proc is not None:
        pgid = proc.pid  # start_new_session: the group's id is make's pid
        for sig, wait in ((signal.SIGINT, STOP_WAIT_S), (signal.SIGTERM, STOP_WAIT_S),
                          (signal.SIGKILL, KILL_WAIT_S)):
            if proc.poll() is not None and not _group_alive(pgid):
                break
            out["signals"].append(sig.name)
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            except PermissionError as exc:
                log.error("cannot signal make demo's group %d: %s", pgid, exc)
                break
            _wait_gone(lambda: proc.poll() is None or _group_alive(pgid), wait)
        try:
            proc.wait(timeout=KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            log.error("make demo (pid %d) did not exit", proc.pid)
    if clone is not None and clone.exists():
        left = processes_in(clone)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            left = [p for p in left if _pid_alive(p)]
            if not left:
                break
            log.warning("stopping %s still running in %s: %s", sig.name, clone, left)
            out["leftovers"] = sorted(set(out["leftovers"]) | set(left))
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            pids = tuple(left)
            _wait_gone(lambda pids=pids: any(_pid_alive(p) for p in pids), KILL_WAIT_S)
    return out


def remove(clone: Path) -> bool:
    """Delete the clone (twice if a process was still writing into it); whether it is gone."""
    for _ in range(2):
        shutil.rmtree(clone, ignore_errors=True)
        if not clone.exists():
            return True
        time.sleep(1.0)
    log.error("could not delete the clone %s: delete it by hand (about 4.5 GB)", clone)
    return False


def _seconds_after(path: Path, start_epoch: float) -> float | None:
    try:
        return round(path.stat().st_mtime - start_epoch, 1)
    except OSError:
        return None


def quick_guard_figures(clone: Path, start_epoch: float) -> dict[str, Any] | None:
    """What the clone's quick guard recorded in its model_info.json (None: none was built)."""
    from components.training.quick_guard import latest_built

    model_dir = latest_built(clone / PIPELINE_ROOT)
    if model_dir is None:
        return None
    info = json.loads((model_dir / "model_info.json").read_text())
    test = info.get("test_metrics") or {}
    built = info.get("built_at")
    rows = [info.get("train_rows"), info.get("val_rows"), test.get("rows")]
    seed = next((s for s in info.get("sources") or [] if s.get("name") == "seed"), None)
    return {
        "dir": f"{PIPELINE_ROOT}/{model_dir.relative_to(clone / PIPELINE_ROOT)}",
        "base_model": info.get("base_model"),
        "built_after_s": (round(dt.datetime.fromisoformat(built).timestamp() - start_epoch, 1)
                          if built else None),
        "build_seconds": info.get("build_seconds"), "embed_seconds": info.get("embed_seconds"),
        "prompts": sum(rows) if all(isinstance(r, int) for r in rows) else None,
        "train_rows": info.get("train_rows"), "val_rows": info.get("val_rows"),
        "test_rows": test.get("rows"), "seed_rows": seed.get("rows") if seed else None,
        "threshold": (info.get("calibration") or {}).get("threshold"),
        "test": {k: test.get(k) for k in ("unsafe_recall", "false_flag_rate", "accuracy",
                                          "macro_f1")},
    }


def verdicts(guard_url: str, prompts: Sequence[str]) -> list[dict[str, Any]]:
    """The guard's v1 answers to `prompts`: safe, categories (codes and names), score, backend."""
    answer = http_json(f"{guard_url}/v1/models/guard:predict", {"instances": list(prompts)})
    preds = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(preds, list) or len(preds) != len(prompts):
        raise DemoError(f"the guard's answer has no prediction per prompt: {str(answer)[:500]}")
    keys = ("safe", "categories", "category_names", "unsafe_score", "backend", "label")
    return [{"prompt": p, **{k: pred.get(k) for k in keys}}
            for p, pred in zip(prompts, preds, strict=True)]


def guard_identity(guard_url: str) -> dict[str, Any]:
    """Which guard answered (`GET /v2/models/guard/info`'s `guard`: kind, label, run id)."""
    info = http_json(f"{guard_url}/v2/models/guard/info")
    return {"backend": info.get("backend"), **(info.get("guard") or {})}


# --------------------------------------------------------------------------- the whole
def measure(root: Path = ROOT, parent: Path | None = None, log_path: Path | None = None,
            timeout_s: float = TIMEOUT_S, poll_s: float = POLL_S,
            prompts: Sequence[str] = README_PROMPTS) -> dict[str, Any]:
    """Clone, `make demo`, time it, ask the guard, stop everything, delete the clone.

    Args:
        root: the repository to clone (its HEAD commit; local changes are not in the clone).
        parent: where the clone goes (default: root's parent, beside the repository).
        log_path: `make demo`'s output (default: a file in the system's temporary directory).
        timeout_s: from `make demo`'s start until the guard and the console must answer.
        poll_s: seconds between readiness checks.
        prompts: what the guard is asked.

    Returns:
        The figures (see the module docstring).

    Raises:
        DemoError: a port is taken, too little disk, the clone or `make demo` failed, or not
            ready in time (everything started is stopped and the clone deleted first).
    """
    parent = (parent or root.parent).resolve()
    wanted = ports()
    taken = ports_in_use(wanted)
    if taken:
        raise DemoError(f"port already in use: {', '.join(taken)}; stop what listens there (a "
                        "running `make serve` or `make demo`?): it would answer in the fresh "
                        "demo's place")
    free = free_gb(parent)
    if free < MIN_FREE_GB:
        raise DemoError(f"{free:.1f} GB free in {parent}; the fresh clone needs about "
                        f"{MIN_FREE_GB:.0f} GB while it runs")
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    log_path = log_path or Path(tempfile.gettempdir()) / "fresh-demo-make.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"commit": commit, "parent": str(parent), "timeout_s": timeout_s,
                               "pip_cache": pip_cache(), "log": str(log_path),
                               "free_gb_before": round(free, 1)}
    commands: list[str] = []
    figures["commands"] = commands
    clone: Path | None = None
    proc: subprocess.Popen | None = None
    try:
        clone = clone_repo(root, parent, commit, commands)
        figures["clone"] = str(clone)
        figures["seed_data"] = {"path": SEED_DATA, "found": (clone / SEED_DATA).is_file()}
        from components.training.encoders import ENCODER_NAME, INFO_FILE

        commands.append(f"cd {clone} && make demo  # clean environment, own process group")
        start_epoch, start = time.time(), time.monotonic()
        figures["started_at"] = dt.datetime.fromtimestamp(start_epoch, dt.UTC).isoformat(
            timespec="seconds")
        proc = start_demo(clone, log_path, clean_env(os.environ, root))
        urls = {"console": f"http://{HOST}:{wanted['console']}/",
                "guard": f"http://{HOST}:{wanted['guard']}/v2/models/guard/ready"}
        ready = wait_until_ready(proc, urls, start, timeout_s, poll_s, log_path)
        guard_url = f"http://{HOST}:{wanted['guard']}"
        commands.append(f"POST {guard_url}/v1/models/guard:predict "
                        + json.dumps({"instances": list(prompts)}))
        figures["verdicts"] = verdicts(guard_url, prompts)
        commands.append(f"GET {guard_url}/v2/models/guard/info")
        figures["guard"] = guard_identity(guard_url)
        quick = quick_guard_figures(clone, start_epoch)
        figures["seconds"] = {
            "setup": _seconds_after(clone / SETUP_STAMP, start_epoch),
            "encoder": _seconds_after(clone / ENCODERS_IN_VENV / ENCODER_NAME / INFO_FILE,
                                      start_epoch),
            "console": ready["console"],
            "quick_guard_built": quick["built_after_s"] if quick else None,
            "guard_ready": ready["guard"]}
        figures["quick_guard"] = quick
    finally:
        figures["stopped"] = stop(proc, clone)
        figures["clone_removed"] = remove(clone) if clone is not None else True
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fresh_demo",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--json", default=None, help="write the figures here (else stdout)")
    parser.add_argument("--log", default=None, help="make demo's output (default: a temp file)")
    parser.add_argument("--timeout_s", type=float, default=TIMEOUT_S,
                        help="until the guard and the console must answer")
    parser.add_argument("--parent", default=None,
                        help="where the clone goes (default: beside the repository, so that it "
                             "sees ../shared as the repository does)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        figures = measure(parent=Path(args.parent) if args.parent else None,
                          log_path=Path(args.log) if args.log else None,
                          timeout_s=args.timeout_s)
    except DemoError as exc:
        log.error("%s", exc)
        return 1
    text = json.dumps(figures, indent=1, default=str) + "\n"
    if args.json:
        Path(args.json).write_text(text)
        log.info("wrote %s", args.json)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
