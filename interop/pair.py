#!/usr/bin/env python3
"""Run one interop cell: an offerer program against an answerer program.

    pair.py --offerer 'CMD ...' --answerer 'CMD ...' [--timeout 90] [--logs DIR] [--result FILE]

Both programs speak the harness protocol (interop/README.md): the offerer
writes one JSON line ``{"type":"offer",...}`` on stdout, which is passed to the
answerer's stdin; the answerer writes ``{"type":"answer",...}``, which is passed
back to the offerer's stdin. Every stderr line goes to ``DIR/offerer.log`` and
``DIR/answerer.log`` (and to our stderr with ``--verbose``). Anything else either
program writes on stdout is a protocol violation and fails the cell.

With ``--relay all`` every JSON-object line either program writes goes to the other's
stdin, both ways, for as long as they run (the perfect-negotiation cells).

Exit status 0 when both programs exit 0 before the timeout; otherwise 1, and
the reason (which side, exit code, its last stderr line) is printed on stdout
and stored as JSON in ``--result``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import signal
import sys
import time
from collections import deque
from pathlib import Path

MAX_LINE = 8 * 1024 * 1024  # an SDP line this long is already nonsense


class Side:
    """One of the two programs, with what we saw of it."""

    def __init__(self, role: str, argv: list[str], log_path: Path | None, verbose: bool):
        self.role = role
        self.argv = argv
        self.log = open(log_path, "w", encoding="utf-8") if log_path else None
        self.verbose = verbose
        self.tail: deque[str] = deque(maxlen=20)
        self.proc: asyncio.subprocess.Process | None = None
        self.code: int | None = None
        self.protocol_error: str | None = None
        self.stopped = False  # we stopped it because the other side had already failed

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=MAX_LINE,
            start_new_session=True,
        )

    async def pump_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        while True:
            raw = await self.proc.stderr.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.strip():
                self.tail.append(line)
            if self.log:
                self.log.write(line + "\n")
                self.log.flush()
            if self.verbose:
                sys.stderr.write(f"{self.role[:3]}| {line}\n")

    def last_words(self) -> str:
        """The most telling stderr line: the verdict, else the last error line, else the last line."""
        for line in reversed(self.tail):
            if " PASS " in line or " FAIL " in line:
                return line.strip()
        for line in reversed(self.tail):
            low = line.lower()
            if "fail" in low or "error" in low or "timed out" in low or "panic" in low:
                return line.strip()
        return self.tail[-1].strip() if self.tail else "(no stderr)"

    def kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.stopped = True
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


async def stdout_objects(src: Side):
    """Yield ``(raw, msg)`` for each non-blank line of src's stdout until it ends; ``msg`` is the line
    parsed as a JSON object. A line too long or not a JSON object is a protocol error: src is killed
    and nothing more is yielded."""
    assert src.proc and src.proc.stdout
    while True:
        try:
            raw = await src.proc.stdout.readline()
        except ValueError:
            src.protocol_error = f"stdout line longer than {MAX_LINE} bytes"
            src.kill()
            return
        if not raw:
            return
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            continue
        try:
            msg = json.loads(text)
        except json.JSONDecodeError:
            msg = None
        if not isinstance(msg, dict):
            src.protocol_error = f"stdout line is not a JSON object: {text[:80]!r}"
            src.kill()
            return
        yield raw, msg


async def forward(raw: bytes, dst: Side) -> bool:
    """Write one line to dst's stdin; False once dst has ended (its exit code tells why)."""
    assert dst.proc and dst.proc.stdin
    try:
        dst.proc.stdin.write(raw if raw.endswith(b"\n") else raw + b"\n")
        await dst.proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


async def relay_line(src: Side, dst: Side, want: str) -> None:
    """Pass the one signaling line of type `want` from src's stdout to dst's stdin.

    After that, src's stdout must stay silent: anything more is a protocol error."""
    passed = False
    async for raw, msg in stdout_objects(src):
        if passed or msg.get("type") != want or not isinstance(msg.get("sdp"), str):
            text = raw.decode("utf-8", "replace").strip()
            src.protocol_error = f"unexpected stdout line (wanted one {want} line): {text[:80]!r}"
            src.kill()
            return
        passed = True
        if not await forward(raw, dst):
            return
    if not passed and not src.stopped:
        src.protocol_error = src.protocol_error or f"exited without writing its {want} line"


async def relay_all(src: Side, dst: Side) -> None:
    """Pass every line of src's stdout to dst's stdin (``--relay all``): each must be a JSON object.

    The perfect-negotiation cells signal both ways all along (descriptions, candidates and the
    harness's own round/bye/ack lines), so no line has a fixed place."""
    async for raw, _ in stdout_objects(src):
        if not await forward(raw, dst):
            return


async def run(args: argparse.Namespace) -> dict:
    logs = Path(args.logs) if args.logs else None
    if logs:
        logs.mkdir(parents=True, exist_ok=True)
    off = Side("offerer", shlex.split(args.offerer), logs / "offerer.log" if logs else None, args.verbose)
    ans = Side("answerer", shlex.split(args.answerer), logs / "answerer.log" if logs else None, args.verbose)
    started = time.monotonic()
    # Start the answerer first so it is ready (browsers take a moment) when the offer arrives.
    await ans.start()
    await off.start()
    tasks = [
        asyncio.create_task(off.pump_stderr()),
        asyncio.create_task(ans.pump_stderr()),
    ]
    if args.relay == "all":
        tasks += [asyncio.create_task(relay_all(off, ans)), asyncio.create_task(relay_all(ans, off))]
    else:
        tasks += [
            asyncio.create_task(relay_line(off, ans, "offer")),
            asyncio.create_task(relay_line(ans, off, "answer")),
        ]

    async def wait(side: Side) -> None:
        assert side.proc
        side.code = await side.proc.wait()
        # One side failing dooms the other: give it a moment to say why, then stop it.
        if side.code != 0:
            other = ans if side is off else off
            try:
                await asyncio.wait_for(asyncio.shield(other.proc.wait()), 5)  # type: ignore[union-attr]
            except asyncio.TimeoutError:
                other.kill()

    timed_out = False
    try:
        await asyncio.wait_for(asyncio.gather(wait(off), wait(ans)), args.timeout)
    except asyncio.TimeoutError:
        timed_out = True
        off.kill()
        ans.kill()
        for side in (off, ans):
            try:
                await asyncio.wait_for(side.proc.wait(), 5)  # type: ignore[union-attr]
            except asyncio.TimeoutError:
                os.killpg(side.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
            side.code = side.proc.returncode  # type: ignore[union-attr]
    for t in tasks:
        try:
            await asyncio.wait_for(t, 2)
        except (asyncio.TimeoutError, Exception):
            t.cancel()
    for side in (off, ans):
        if side.proc and side.proc.stdin:
            side.proc.stdin.close()
        if side.log:
            side.log.close()

    elapsed = time.monotonic() - started
    result = {"ok": True, "seconds": round(elapsed, 2), "offerer": off.code, "answerer": ans.code, "reason": ""}
    reasons = []
    if timed_out:
        reasons.append(f"pair timed out after {args.timeout} s")
    # Report the side that failed by itself; a side we stopped only because of it
    # is mentioned last (or alone, on a timeout).
    for side in sorted((off, ans), key=lambda s: s.stopped and not s.protocol_error):
        if side.protocol_error:
            exit_note = f" (exit {side.code}: {side.last_words()})" if side.code else ""
            reasons.append(f"{side.role}: {side.protocol_error}{exit_note}")
        elif side.code != 0 and not (side.stopped and not timed_out and reasons):
            reasons.append(f"{side.role} exit {side.code}: {side.last_words()}")
    if reasons:
        result["ok"] = False
        result["reason"] = "; ".join(reasons)
    else:
        result["reason"] = f"offerer: {off.last_words()} | answerer: {ans.last_words()}"
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--offerer", required=True, help="offerer command line (shell words)")
    p.add_argument("--answerer", required=True, help="answerer command line (shell words)")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds for the whole pair (default 90)")
    p.add_argument("--logs", help="directory for offerer.log / answerer.log")
    p.add_argument("--result", help="write the result as JSON to this file")
    p.add_argument("--verbose", action="store_true", help="copy both programs' stderr to ours")
    p.add_argument(
        "--relay",
        choices=("one", "all"),
        default="one",
        help="one: the offer line and the answer line (default); all: every JSON line, both ways",
    )
    args = p.parse_args()
    result = asyncio.run(run(args))
    if args.result:
        Path(args.result).write_text(json.dumps(result) + "\n", encoding="utf-8")
    status = "PASS" if result["ok"] else "FAIL"
    print(f"{status} ({result['seconds']} s): {result['reason']}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
