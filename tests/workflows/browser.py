"""A real headless Chromium driven over the DevTools protocol (a pipe, no extra package): open a page, run
JavaScript in it, read the answer. Enough to click through the Snakemake report the way a reader would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The first Chromium-family browser on PATH (Debian: apt-get install chromium), or None."""
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


def _onto_3_and_4(read_end: int, write_end: int) -> None:
    """In the child: the pipe ends as fds 3 and 4, inheritable (copied aside first: they may be 3 or 4 already)."""
    r, w = os.dup(read_end), os.dup(write_end)
    os.dup2(r, 3)
    os.dup2(w, 4)


class Browser:
    """``with Browser(exe) as b: b.open(url); b.eval("document.title")``: one tab, JavaScript in and JSON out."""

    def __init__(self, exe: str, user_dir: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # --remote-debugging-pipe reads commands on fd 3 and writes answers on fd 4 (NUL-terminated JSON)
        self.proc = subprocess.Popen(
            [
                exe,
                "--headless",
                "--no-sandbox",  # CI runs as root
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                f"--user-data-dir={user_dir}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,  # the pipes' own fds close on exec; their copies on 3 and 4 stay open
            preexec_fn=lambda: _onto_3_and_4(to_chrome_r, from_chrome_w),
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf, self._id, self.session = b"", 0, None

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        os.close(self._to_chrome)
        os.close(self._from_chrome)

    def send(self, method: str, params: dict | None = None, session: bool = True, timeout: float = 60.0) -> dict:
        """One DevTools command; returns its result (raises on a protocol error or after ``timeout`` s)."""
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError(f"{method}: the browser closed the pipe")
            self._buf += chunk
        raise TimeoutError(f"{method}: no answer in {timeout} s")

    def open(self, url: str) -> None:
        """A new tab at ``url``, attached; later commands go to it."""
        target = self.send("Target.createTarget", {"url": url}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)[
            "sessionId"
        ]

    def eval(self, expression: str):
        """The JSON value of a JavaScript expression in the page (promises awaited)."""
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression[:80]}: {res['exceptionDetails'].get('text')}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0):
        """Poll ``expression`` until it is truthy; returns its value (raises TimeoutError)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError(f"not true after {timeout} s: {expression}")

    def frame_text(self, index: int = 0) -> str:
        """The visible text of the page's ``index``-th child frame (an iframe; cross-origin ones included)."""
        frames = self.send("Page.getFrameTree")["frameTree"].get("childFrames", [])
        if len(frames) <= index:
            raise LookupError(f"the page has {len(frames)} child frames, not {index + 1}")
        ctx = self.send("Page.createIsolatedWorld", {"frameId": frames[index]["frame"]["id"]})["executionContextId"]
        res = self.send(
            "Runtime.evaluate", {"expression": "document.body.innerText", "contextId": ctx, "returnByValue": True}
        )
        return res["result"]["value"]
