#!/usr/bin/env python3
"""Run the interop matrix: every cell is one pair.py run in its own network namespace.

Normally called by run.sh (which installs the peers first). Two modes:

* default: rtcpeer (``$RTCPEER_BIN``, default ``target/release/rtcpeer``) against
  each third-party peer, for every scenario, with rtcpeer as offerer and as
  answerer, and for browsers with their mDNS host-address hiding on and off;
* ``--self-check``: the third-party peers against each other, which proves the
  drivers right, so that a failing rtcpeer cell is rtcpeer's fault.

The default mode also holds the ``serve-page`` and ``serve-whip`` cells: each
browser against ``rtcpeer serve`` (rtcpeer answers), through its demo page or
through WHIP, run by ``serve_check.mjs`` instead of ``pair.py``; and the media
cells ``media-record``, ``media-play``, ``media-reflect`` (VP8; their ``-h264``
variants with Chromium only), run by ``media_check.mjs``; aiortc's ``media-record``
and ``media-play`` cells (VP8 and H.264) are run by ``peers/aiortc_media.py``; the
``simulcast-receive`` cells (VP8, H.264; Chromium sends three rid layers to ``serve --record``)
are run by ``simulcast_check.mjs``.

The ``perfect-negotiation`` cells (Chromium and Firefox ESR, rtcpeer impolite and polite) run the W3C perfect-negotiation
pattern on both sides while both change the connection at once, round after round, through ``pair.py
--relay all``; the offerer column is the impolite peer.

The ``relay`` cell (Chromium offers, rtcpeer answers) is the ``reliable`` exchange with both
sides relay-only through a coturn that ``turn_cell.sh`` starts in the cell's namespace; Chromium
must report a relayed local candidate on its selected pair and coturn must have granted two
allocations.

Prints a pass/fail matrix (reason = the failing side's last stderr line) and
exits 1 if any cell failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS = ("chromium", "firefox", "aiortc")
BROWSERS = ("chromium", "firefox")
PAIR_SCENARIOS = ("reliable", "unordered", "negotiated", "close")
# Browser against `rtcpeer serve` (serve_check.mjs --mode page|whip); rtcpeer answers.
SERVE_SCENARIOS = ("serve-page", "serve-whip")
# Media between a browser and `rtcpeer serve --record|--play|--reflect` (media_check.mjs); rtcpeer answers.
MEDIA_SCENARIOS = (
    "media-record",
    "media-play",
    "media-reflect",
    "media-record-h264",
    "media-play-h264",
    "media-reflect-h264",
)
# Chromium sends rid simulcast (three layers) to `rtcpeer serve --record` (simulcast_check.mjs); rtcpeer answers.
SIMULCAST_SCENARIOS = ("simulcast-receive", "simulcast-receive-h264")
# The browsers that take part in the simulcast cells (Firefox ESR's simulcast is not checked here).
SIMULCAST_BROWSERS = ("chromium",)
# Firefox ESR has no H.264 here: it downloads Cisco's OpenH264 plugin at run time, which is impossible offline.
H264_BROWSERS = ("chromium",)
# The media cells aiortc takes part in (peers/aiortc_media.py, through `POST /offer`); it has no reflect check.
AIORTC_MEDIA_SCENARIOS = ("media-record", "media-play", "media-record-h264", "media-play-h264")
# Both sides relay-only through coturn (turn_cell.sh), the `reliable` exchange; Chromium offers, rtcpeer answers.
RELAY_SCENARIOS = ("relay",)
RELAY_PEERS = ("chromium",)
# The TURN server turn_cell.sh starts, as both peers are told.
TURN_URL = "turn:127.0.0.1:3478"
TURN_USER, TURN_PASS = "test", "test"
# Both sides run the W3C perfect-negotiation pattern and change the connection at the same moment,
# round after round (`rtcpeer negotiate`, peers/web/perfect.js); pair.py relays every line both ways.
# The offerer column is the impolite peer (it leads the rounds), the answerer column the polite one.
PN_SCENARIOS = ("perfect-negotiation",)
PN_PEERS = ("chromium", "firefox")
PN_ROUNDS = 5
SCENARIOS = PAIR_SCENARIOS + SERVE_SCENARIOS + MEDIA_SCENARIOS + SIMULCAST_SCENARIOS + RELAY_SCENARIOS + PN_SCENARIOS
# Third-party pairs of the self-check, as (offerer, answerer).
SELF_PAIRS = (
    ("aiortc", "chromium"),
    ("chromium", "aiortc"),
    ("firefox", "aiortc"),
    ("aiortc", "firefox"),
    ("chromium", "firefox"),
    ("firefox", "chromium"),
)


# Cells that fail at times for a reason we know and track, so that the rest of the
# matrix still gates CI. Such a cell still runs; a pass shows as pass, a failure as
# "known" with this reason, and it is counted apart from the failures.
KNOWN_FAILURES: dict[tuple[str, str], str] = {
    # (peer, scenario): why. Empty since (aiortc, unordered) was fixed: 60/60 runs passed in
    # both roles (docs/decisions/0003-sctp.md, Known weaknesses).
}


def known_failure(cell: "Cell") -> str | None:
    """Why this cell may fail without failing the run, if it is a known failure."""
    if "rtcpeer" not in (cell.offerer, cell.answerer):
        return None
    for peer in (cell.offerer, cell.answerer):
        reason = KNOWN_FAILURES.get((peer, cell.scenario))
        if reason:
            return reason
    return None


@dataclass
class Cell:
    offerer: str
    answerer: str
    scenario: str
    mdns: str  # "on", "off", or "-" when no browser takes part

    @property
    def name(self) -> str:
        if self.scenario in PN_SCENARIOS:
            return f"{self.offerer}-impolite__{self.answerer}-polite__{self.scenario}__mdns-{self.mdns}"
        return f"{self.offerer}-offer__{self.answerer}-answer__{self.scenario}__mdns-{self.mdns}"


def peer_command(peer: str, role: str, cell: Cell, args: argparse.Namespace) -> str:
    """Shell words that start `peer` in `role` ("offer" or "answer") for this cell."""
    scenario = cell.scenario
    if scenario in PN_SCENARIOS:
        # "offer" is the impolite side, "answer" the polite one.
        rounds = f"--rounds {PN_ROUNDS} --timeout {args.peer_timeout}"
        if peer == "rtcpeer":
            polite = " --polite" if role == "answer" else ""
            return f"{shlex.quote(args.rtcpeer_bin)} negotiate{polite} {rounds}"
        mdns = cell.mdns if cell.mdns != "-" else "on"
        script = shlex.quote(str(HERE / "peers" / "browser_peer.mjs"))
        return f"node {script} {role} --browser {peer} --mdns {mdns} --scenario {scenario} {rounds}"
    turn = ""
    if scenario in RELAY_SCENARIOS:
        scenario = "reliable"
        turn = f" --ice-server {TURN_URL} --username {TURN_USER} --credential {TURN_PASS} --relay-only"
    common = f"--scenario {scenario} --count {args.count} --timeout {args.peer_timeout}"
    if peer == "rtcpeer":
        # Only the arguments the protocol promises; rtcpeer keeps its own timeout.
        return f"{shlex.quote(args.rtcpeer_bin)} {role} --scenario {scenario} --count {args.count}{turn}"
    if turn and peer in BROWSERS:
        turn += " --expect-relay"
    if peer == "aiortc":
        py = HERE / ".venv" / "bin" / "python"
        return f"{shlex.quote(str(py))} {shlex.quote(str(HERE / 'peers' / 'aiortc_peer.py'))} {role} {common}"
    mdns = cell.mdns if cell.mdns != "-" else "on"
    script = shlex.quote(str(HERE / "peers" / "browser_peer.mjs"))
    return f"node {script} {role} --browser {peer} --mdns {mdns} {common}{turn}"


def last_words(text: str) -> str:
    """The last non-empty line of a program's stderr, without the peer's `[tag] +1.23s ` prefix."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return "no output"
    last = lines[-1]
    if last.startswith("[") and "] +" in last:
        last = last.split("] +", 1)[1].split(" ", 1)[-1]
    return last


def run_serve_cell(cell: Cell, args: argparse.Namespace, logs: Path) -> dict:
    """A serve-* or media-* cell: serve_check.mjs / media_check.mjs / aiortc_media.py alone in a namespace,
    its stderr in check.log."""
    timeout = args.serve_timeout
    if cell.scenario in SIMULCAST_SCENARIOS:
        mode, _, codec = cell.scenario.removeprefix("simulcast-").partition("-")
        script = "simulcast_check.mjs"
        extra = ["--codec", codec or "vp8"]
        # 8 s of three layers, then three files to decode.
        timeout += 30
    elif cell.scenario in MEDIA_SCENARIOS:
        mode, _, codec = cell.scenario.removeprefix("media-").partition("-")
        script = "media_check.mjs"
        extra = ["--codec", codec or "vp8"]
        # Encoding the played files and a few seconds of media come on top of a serve cell's work.
        timeout += 15
    else:
        mode = cell.scenario.removeprefix("serve-")
        script = "serve_check.mjs"
        extra = []
    if cell.offerer == "aiortc":
        script = "aiortc_media.py"
        program = [str(HERE / ".venv" / "bin" / "python"), str(HERE / "peers" / script)]
    else:
        program = ["node", str(HERE / script), "--browser", cell.offerer, "--mdns", cell.mdns]
    cmd = [
        str(HERE / "ns.sh"),
        *program,
        "--mode",
        mode,
        *extra,
        "--out",
        str(logs),
        "--timeout",
        str(timeout),
    ]
    env = {**os.environ, "RTCPEER_BIN": args.rtcpeer_bin}
    started = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout + 15
        )
        code, stderr = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode("utf-8", "replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        code, stderr = None, err + f"\n{script} killed after {timeout + 15} s\n"
    (logs / "check.log").write_text(stderr, encoding="utf-8")
    words = last_words(stderr)
    ok = code == 0 and words.startswith("PASS")
    result = {
        "ok": ok,
        "seconds": round(time.monotonic() - started, 2),
        "code": code,
        "reason": words if ok else f"{Path(script).stem} exit {code}: {words}",
    }
    (logs / "result.json").write_text(json.dumps(result) + "\n", encoding="utf-8")
    return result


def run_cell(cell: Cell, args: argparse.Namespace, out: Path) -> dict:
    logs = out / cell.name
    logs.mkdir(parents=True, exist_ok=True)
    if cell.scenario in SERVE_SCENARIOS + MEDIA_SCENARIOS + SIMULCAST_SCENARIOS:
        result = run_serve_cell(cell, args, logs)
        mark = "pass" if result["ok"] else "FAIL"
        print(f"  {mark:4} {cell.name} ({result['seconds']} s)", file=sys.stderr, flush=True)
        return result
    result_file = logs / "result.json"
    # A relay cell runs pair.py beside a coturn in the same namespace.
    turn = [str(HERE / "turn_cell.sh"), str(logs)] if cell.scenario in RELAY_SCENARIOS else []
    cmd = [
        str(HERE / "ns.sh"),
        *turn,
        sys.executable,
        str(HERE / "pair.py"),
        "--offerer",
        peer_command(cell.offerer, "offer", cell, args),
        "--answerer",
        peer_command(cell.answerer, "answer", cell, args),
        "--timeout",
        str(args.peer_timeout + 30),
        "--logs",
        str(logs),
        "--result",
        str(result_file),
    ]
    if cell.scenario in PN_SCENARIOS:
        cmd += ["--relay", "all"]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    try:
        result = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()
        result = {
            "ok": False,
            "seconds": round(time.monotonic() - started, 2),
            "reason": f"pair.py exit {proc.returncode}: {tail[-1] if tail else 'no output'}",
        }
    if result["ok"] and turn:
        result = check_turn_log(logs, result)
    mark = "pass" if result["ok"] else "FAIL"
    print(f"  {mark:4} {cell.name} ({result['seconds']} s)", file=sys.stderr, flush=True)
    return result


def check_turn_log(logs: Path, result: dict) -> dict:
    """A relay cell passes only if coturn granted an allocation to each peer (both were relay-only)."""
    try:
        log = (logs / "turn.log").read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        return {**result, "ok": False, "reason": f"no coturn log: {e}"}
    allocations = sum("ALLOCATE processed, success" in line for line in log.splitlines())
    if allocations < 2:
        return {**result, "ok": False, "reason": f"coturn granted {allocations} allocation(s), expected one per peer"}
    result = {**result, "reason": f"{result.get('reason', '')}; coturn granted {allocations} allocations"}
    (logs / "result.json").write_text(json.dumps(result) + "\n", encoding="utf-8")
    return result


def build_cells(args: argparse.Namespace) -> list[Cell]:
    cells = []
    for scenario in args.scenarios:
        if scenario in PN_SCENARIOS:
            # rtcpeer impolite ("offer") and polite ("answer") against each browser that takes part.
            if args.self_check:
                continue
            mdns = "on" if "on" in args.mdns else "off"
            for peer in args.peers:
                if peer not in PN_PEERS:
                    continue
                for role in args.roles:
                    if role == "offer":
                        cells.append(Cell("rtcpeer", peer, scenario, mdns))
                    else:
                        cells.append(Cell(peer, "rtcpeer", scenario, mdns))
            continue
        if scenario in RELAY_SCENARIOS:
            # The browser offers, rtcpeer answers, both through coturn; no self-check counterpart.
            if args.self_check or "answer" not in args.roles:
                continue
            mdns = "on" if "on" in args.mdns else "off"
            for peer in args.peers:
                if peer in RELAY_PEERS:
                    cells.append(Cell(peer, "rtcpeer", scenario, mdns))
            continue
        if scenario in SIMULCAST_SCENARIOS:
            if args.self_check or "answer" not in args.roles:
                continue
            mdns = "on" if "on" in args.mdns else "off"
            cells.extend(Cell(peer, "rtcpeer", scenario, mdns) for peer in args.peers if peer in SIMULCAST_BROWSERS)
            continue
        if scenario in MEDIA_SCENARIOS:
            # The browser (or aiortc) offers media, `rtcpeer serve` answers; one cell per peer, with the
            # browser's default mDNS hiding (media permission lifts it in Chromium anyway).
            if args.self_check or "answer" not in args.roles:
                continue
            mdns = "on" if "on" in args.mdns else "off"
            for peer in args.peers:
                if peer in BROWSERS and (not scenario.endswith("-h264") or peer in H264_BROWSERS):
                    cells.append(Cell(peer, "rtcpeer", scenario, mdns))
                elif peer == "aiortc" and scenario in AIORTC_MEDIA_SCENARIOS:
                    cells.append(Cell(peer, "rtcpeer", scenario, "-"))
            continue
        if scenario in SERVE_SCENARIOS:
            # The browser offers, `rtcpeer serve` answers; no self-check counterpart.
            if args.self_check or "answer" not in args.roles:
                continue
            for peer in args.peers:
                if peer in BROWSERS:
                    for mdns in args.mdns:
                        cells.append(Cell(peer, "rtcpeer", scenario, mdns))
            continue
        if args.self_check:
            for off, ans in SELF_PAIRS:
                if off not in args.peers or ans not in args.peers:
                    continue
                for mdns in args.mdns:
                    cells.append(Cell(off, ans, scenario, mdns))
            continue
        for peer in args.peers:
            for role in args.roles:  # rtcpeer's role
                for mdns in args.mdns if peer in BROWSERS else ["-"]:
                    if role == "offer":
                        cells.append(Cell("rtcpeer", peer, scenario, mdns))
                    else:
                        cells.append(Cell(peer, "rtcpeer", scenario, mdns))
    return cells


def print_matrix(cells: list[Cell], results: list[dict]) -> None:
    rows = [("offerer", "answerer", "scenario", "mdns", "result", "secs", "reason")]
    for c, r in zip(cells, results):
        reason = "" if r["ok"] else r["reason"]
        mark = "pass" if r["ok"] else ("known" if known_failure(c) else "FAIL")
        rows.append((c.offerer, c.answerer, c.scenario, c.mdns, mark, str(r["seconds"]), reason))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        print("  ".join(col.ljust(widths[i]) for i, col in enumerate(row[:6])) + ("  " + row[6] if row[6] else ""))


def split(value: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = [v for v in value.split(",") if v]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"{what} must be a comma list of {', '.join(allowed)}; got {value!r}")
    return items


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--self-check", action="store_true", help="third-party peers against each other")
    p.add_argument("--peers", type=lambda v: split(v, PEERS, "--peers"), default=list(PEERS))
    p.add_argument("--roles", type=lambda v: split(v, ("offer", "answer"), "--roles"), default=["offer", "answer"])
    p.add_argument("--scenarios", type=lambda v: split(v, SCENARIOS, "--scenarios"), default=list(SCENARIOS))
    p.add_argument("--mdns", type=lambda v: split(v, ("on", "off"), "--mdns"), default=["on", "off"])
    p.add_argument("--count", type=int, default=100, help="messages per cell (default 100)")
    p.add_argument("--jobs", type=int, default=2, help="cells run at once (default 2)")
    p.add_argument("--peer-timeout", type=int, default=60, help="each peer's own timeout in seconds")
    p.add_argument("--serve-timeout", type=int, default=30, help="serve_check.mjs's timeout in seconds (default 30; media cells get 15 s more)")
    p.add_argument("--out", help="log directory (default target/interop/<time>)")
    args = p.parse_args()
    args.rtcpeer_bin = os.environ.get("RTCPEER_BIN", str(REPO / "target" / "release" / "rtcpeer"))
    if not args.self_check and not os.access(args.rtcpeer_bin, os.X_OK):
        print(f"rtcpeer binary not found at {args.rtcpeer_bin} (set RTCPEER_BIN)", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else REPO / "target" / "interop" / time.strftime("%Y%m%d-%H%M%S")
    cells = build_cells(args)
    if not cells:
        print("no cells selected", file=sys.stderr)
        return 2
    print(f"running {len(cells)} cells, {args.jobs} at a time; logs in {out}", file=sys.stderr, flush=True)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda c: run_cell(c, args, out), cells))
    print_matrix(cells, results)
    known = [(c, r) for c, r in zip(cells, results) if not r["ok"] and known_failure(c)]
    for c, _ in known:
        print(f"known failure, not counted: {c.name}: {known_failure(c)}")
    failed = sum(not r["ok"] for r in results) - len(known)
    passed = sum(r["ok"] for r in results)
    print(f"{passed} passed, {failed} failed")
    print(f"matrix took {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
