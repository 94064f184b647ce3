"""What the tests of the views in real front ends share (test_frontends, test_jupyterlab, test_marimo).

* a local server (Notebook 7, JupyterLab, marimo) started on a free port, waited for, and stopped;
* a browser context with the network closed, recording each request it blocked;
* the notebook those tests run, and the page helpers of JupyterLab's application object
  (Notebook 7 is built on it): run a command, wait for the kernel, print from the kernel.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(module: str, args: Sequence[str], *, cwd: Path, env: dict[str, str], ready: str,
           log: Path) -> Iterator[subprocess.Popen]:
    """``python -m module args`` in ``cwd``, its output in ``log``; yields once ``ready`` (a URL) answers
    (a RuntimeError with the log when it exits or does not answer within 60 s); stopped on exit."""
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", module, *args], cwd=cwd, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
        try:
            for _ in range(120):
                try:
                    urllib.request.urlopen(ready, timeout=1)
                    break
                except OSError:
                    if process.poll() is not None:
                        raise RuntimeError(log.read_text()) from None
                    time.sleep(0.5)
            else:
                raise RuntimeError(f"{module} did not start:\n" + log.read_text())
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def jupyter(module: str, home: Path, args: Sequence[str] = (), **env: str) -> Iterator[tuple[str, str]]:
    """A Jupyter server (``notebook`` or ``jupyterlab``) on localhost serving ``home/work``, with its
    config, data, runtime and IPython folders under ``home`` and this checkout on PYTHONPATH; yields
    (url, token)."""
    import secrets

    port, token = free_port(), secrets.token_hex(16)
    work = home / "work"
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), JUPYTER_CONFIG_DIR=str(home / "config"),
                    JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
                    IPYTHONDIR=str(home / "ipython"), **env)
    url = f"http://127.0.0.1:{port}"
    with server(module, ["--no-browser", f"--port={port}", "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
                         f"--ServerApp.root_dir={work}", *args] + (["--allow-root"] if os.geteuid() == 0 else []),
                cwd=work, env=full_env, ready=f"{url}/api/status?token={token}", log=home / "server.log"):
        yield url, token


def new_notebook(cells: Sequence[str]):
    """A notebook (nbformat's node) of these code cells with the python3 kernel, not run."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def write_notebook(path: Path, cells: Sequence[str]) -> Path:
    """:func:`new_notebook` written to ``path`` (its folder made)."""
    import nbformat

    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells), path)
    return path


def offline(context, *allowed: str) -> list[str]:
    """Abort every request of the browser context outside the ``allowed`` URL prefixes (and about:, data:,
    blob:, which reach no network); returns the list the blocked URLs are appended to."""
    outside: list[str] = []

    def route(r):
        if r.request.url.startswith(allowed) or r.request.url.startswith(("about:", "data:", "blob:")):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return outside


def command(page, name: str, args: dict | None = None):
    """Run a JupyterLab command in the page."""
    return page.evaluate("([n, a]) => window.jupyterapp.commands.execute(n, a)", [name, args or {}])


def wait_idle(page, timeout: int = 90_000) -> None:
    """Wait until the current notebook's kernel has started and is idle."""
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget;"
        " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
        " return k && k.status === 'idle'; }", timeout=timeout)


def kernel_print(page, code: str) -> str:
    """Run code in the notebook's kernel and return what it printed."""
    return page.evaluate(
        "async (code) => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;"
        " const f = k.requestExecute({code}); let out = '';"
        " f.onIOPub = (m) => { if (m.header.msg_type === 'stream') { out += m.content.text; } };"
        " await f.done; return out; }", code)


def kernel_words(page, code: str, expected: Sequence[str], tries: int = 50) -> list[str]:
    """What ``code`` prints in the kernel, split in words, once it prints ``expected`` (a change made in the
    page reaches the kernel a moment later) or after ``tries`` tries 0.1 s apart."""
    for _ in range(tries):
        words = kernel_print(page, code).split()
        if words == list(expected):
            break
        time.sleep(0.1)
    return words
