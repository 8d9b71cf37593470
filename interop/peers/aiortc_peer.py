#!/usr/bin/env python3
"""aiortc as an interop peer.

    aiortc_peer.py offer|answer [--scenario S] [--count N] [--timeout SECONDS]

Speaks the harness protocol (interop/README.md): JSON signaling lines on
stdin/stdout, every log on stderr. The offerer opens the scenario's channel,
sends a deterministic message set and checks the echoes; the answerer echoes
everything on every channel until the remote closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections import Counter

import aioice.ice
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription

SCENARIOS = ("reliable", "unordered", "negotiated", "close")

# The deterministic message set; the same definition is in web/peer.js.
SIZES = (1, 1200, 65536, 65536, 16, 300, 4096, 16384, 1000, 40000, 2, 8191)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def message_size(i: int, count: int) -> int:
    """Size in bytes of message `i` of a set of `count`; every set holds a 64 KiB message."""
    if count < 4 and i == count - 1:
        return 65536
    return SIZES[i % len(SIZES)]


def make_message(i: int, count: int) -> str | bytes:
    """Message `i`: text (ASCII, tagged with its index) when i is even, binary when odd."""
    size = message_size(i, count)
    if i % 2 == 0:
        tag = f"{i}:"
        head = tag if size >= len(tag) else ""
        return head + "".join(ALPHABET[(i * 7 + j) % len(ALPHABET)] for j in range(len(head), size))
    return bytes((i * 131 + j * 17 + (j >> 8)) & 0xFF for j in range(size))


def describe(m: str | bytes) -> str:
    return f"text({len(m)})" if isinstance(m, str) else f"binary({len(m)})"


def channel_options(scenario: str) -> tuple[str, dict]:
    """Label and createDataChannel options of the scenario's channel."""
    if scenario in ("reliable", "close"):
        return "chat", {}
    if scenario == "unordered":
        return "lossy", {"ordered": False, "maxRetransmits": 0}
    return "negotiated", {"negotiated": True, "id": 7}


class Failure(Exception):
    """The run failed; the message says why."""


class Peer:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.t0 = time.monotonic()
        self.tag = f"[aiortc {'offer' if args.role == 'offerer' else 'answer'} {args.scenario}]"
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.changed = asyncio.Event()
        self.ever_connected = False

        @self.pc.on("connectionstatechange")
        def _state() -> None:
            self.log(f"connectionState {self.pc.connectionState}")
            if self.pc.connectionState == "connected":
                self.ever_connected = True
            self.changed.set()

    def log(self, msg: str) -> None:
        sys.stderr.write(f"{self.tag} +{time.monotonic() - self.t0:.2f}s {msg}\n")
        sys.stderr.flush()

    async def wait_change(self, seconds: float) -> None:
        self.changed.clear()
        try:
            await asyncio.wait_for(self.changed.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def read_line(self, want: str) -> RTCSessionDescription:
        loop = asyncio.get_running_loop()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        while line and not line.strip():
            line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            raise Failure(f"stdin closed before the {want} line arrived")
        try:
            msg = json.loads(line)
        except json.JSONDecodeError as e:
            raise Failure(f"stdin line is not JSON ({e})") from None
        if not isinstance(msg, dict) or msg.get("type") != want or not isinstance(msg.get("sdp"), str):
            raise Failure(f"expected a {want} line, got {line[:80]!r}")
        self.log(f"read {want} line ({len(line)} B)")
        sdp = msg["sdp"]
        if ".local " in sdp:
            # aioice cannot resolve mDNS names here, and once it has seen
            # end-of-candidates with no usable candidate it drops the ICE component
            # (and gathers nothing). Without the marker it keeps waiting and pairs
            # with the peer-reflexive candidates the remote's checks reveal.
            sdp = "".join(l for l in sdp.splitlines(keepends=True) if not l.startswith("a=end-of-candidates"))
            self.log("remote offers mDNS candidates: dropped a=end-of-candidates so peer-reflexive pairs can form")
        return RTCSessionDescription(sdp=sdp, type=want)

    def write_line(self) -> None:
        desc = self.pc.localDescription
        sys.stdout.write(json.dumps({"type": desc.type, "sdp": desc.sdp}) + "\n")
        sys.stdout.flush()
        cands = [line.split()[4:8] for line in desc.sdp.splitlines() if line.startswith("a=candidate:")]
        self.log(f"wrote {desc.type} line with {len(cands)} candidate(s): {' | '.join(' '.join(c) for c in cands)}")

    # ------------------------------------------------------------ answerer --
    async def answer(self) -> str:
        opened: set[RTCDataChannel] = set()
        closed: set[RTCDataChannel] = set()
        echoes = 0

        def attach(ch: RTCDataChannel) -> None:
            name = f"{ch.label}#{ch.id}"

            def on_open() -> None:
                opened.add(ch)
                self.log(f"channel {name} open (ordered={ch.ordered} maxRetransmits={ch.maxRetransmits})")
                self.changed.set()

            if ch.readyState == "open":
                on_open()
            ch.on("open", on_open)

            @ch.on("message")
            def on_message(m: str | bytes) -> None:
                nonlocal echoes
                echoes += 1
                ch.send(m)

            @ch.on("close")
            def on_close() -> None:
                closed.add(ch)
                self.log(f"channel {name} closed after {echoes} echoes in total")
                self.changed.set()

        if self.args.scenario == "negotiated":
            label, opts = channel_options("negotiated")
            attach(self.pc.createDataChannel(label, **opts))
        self.pc.on("datachannel", attach)

        offer = await self.read_line("offer")
        await self.pc.setRemoteDescription(offer)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self.write_line()
        self.log("answer sent; echoing")

        while True:
            state = self.pc.connectionState
            if opened and opened <= closed:
                break
            if state == "failed":
                raise Failure(f"connection failed after {echoes} echoes")
            if self.ever_connected and state in ("closed", "disconnected"):
                break
            await self.wait_change(1.0)
        if not opened:
            raise Failure(f"connection {self.pc.connectionState} but the remote never opened a channel")
        if self.args.scenario == "close":
            if not closed:
                raise Failure(f"connection {self.pc.connectionState} but no channel close was seen")
            deadline = time.monotonic() + min(30.0, self.args.timeout)
            while self.pc.connectionState == "connected":
                if time.monotonic() > deadline:
                    raise Failure("the connection stayed connected after the remote closed its channel")
                await self.wait_change(0.5)
            return f"channel close seen after {echoes} echoes; connection left connected ({self.pc.connectionState})"
        return f"remote closed after {echoes} echoes on {len(opened)} channel(s) (connection {self.pc.connectionState})"

    # ------------------------------------------------------------- offerer --
    async def offer(self) -> str:
        label, opts = channel_options(self.args.scenario)
        ch = self.pc.createDataChannel(label, **opts)
        received: list[str | bytes] = []
        last_arrival = time.monotonic()
        channel_closed = False

        @ch.on("message")
        def on_message(m: str | bytes) -> None:
            nonlocal last_arrival
            received.append(m)
            last_arrival = time.monotonic()
            self.changed.set()

        @ch.on("close")
        def on_close() -> None:
            nonlocal channel_closed
            channel_closed = True
            self.changed.set()

        ch.on("open", self.changed.set)
        ch.on("bufferedamountlow", self.changed.set)
        ch.bufferedAmountLowThreshold = 256 * 1024

        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.write_line()
        await self.pc.setRemoteDescription(await self.read_line("answer"))

        deadline = time.monotonic() + min(20.0, self.args.timeout)
        while ch.readyState != "open":
            if self.pc.connectionState in ("failed", "closed"):
                raise Failure(f"connection {self.pc.connectionState} before channel {label} opened")
            if time.monotonic() > deadline:
                raise Failure(f"channel {label} did not open within 20 s (connection {self.pc.connectionState})")
            await self.wait_change(0.5)
        self.log(f"channel {label}#{ch.id} open")

        def check_alive() -> None:
            if channel_closed:
                raise Failure(f"channel closed by the remote after {len(received)} echoes")
            if self.pc.connectionState in ("failed", "closed", "disconnected"):
                raise Failure(f"connection {self.pc.connectionState} after {len(received)} echoes")

        total = min(self.args.count, 5) if self.args.scenario == "close" else self.args.count
        sent = []
        for i in range(total):
            while ch.bufferedAmount > 1024 * 1024:
                check_alive()
                await self.wait_change(0.05)
            check_alive()
            m = make_message(i, total)
            sent.append(m)
            ch.send(m)
        self.log(f"sent {total} messages")

        if opts.get("maxRetransmits") == 0:
            last_arrival = time.monotonic()
            while len(received) < total and time.monotonic() - last_arrival < 2.0:
                check_alive()
                await self.wait_change(0.1)
            want = Counter((type(m), m) for m in sent)
            for n, got in enumerate(received):
                k = (type(got), got)
                if k not in want:
                    raise Failure(f"echo #{n} ({describe(got)}) matches no message that was sent")
                if want[k] == 0:
                    raise Failure(f"echo #{n} ({describe(got)}) is a duplicate")
                want[k] -= 1
            need = -(-total * self.args.min_unordered_pct // 100)
            if len(received) < need:
                raise Failure(f"only {len(received)}/{total} echoes came back (need {need})")
            await self.pc.close()
            return f"{len(received)}/{total} unordered echoes came back, none corrupted or duplicated"

        deadline = time.monotonic() + self.args.timeout
        checked = 0
        while checked < total:
            while checked < len(received):
                got, exp = received[checked], sent[checked]
                if type(got) is not type(exp) or got != exp:
                    raise Failure(
                        f"echo #{checked} is {describe(got)}, expected {describe(exp)} (content or order wrong)"
                    )
                checked += 1
            if checked == total:
                break
            check_alive()
            if time.monotonic() > deadline:
                raise Failure(f"only {checked}/{total} echoes came back")
            await self.wait_change(0.2)
        if self.args.scenario == "close":
            ch.close()
            deadline = time.monotonic() + 10
            while ch.readyState != "closed":
                if time.monotonic() > deadline:
                    raise Failure(f"channel {label} did not finish closing within 10 s ({ch.readyState})")
                await self.wait_change(0.1)
            self.log("channel closed; closing the connection")
        await self.pc.close()
        return f"{checked}/{total} echoes byte-exact and in order"


async def amain(args: argparse.Namespace) -> int:
    peer = Peer(args)
    try:
        run = peer.offer() if args.role == "offerer" else peer.answer()
        summary = await asyncio.wait_for(run, args.timeout)
    except asyncio.TimeoutError:
        peer.log(f"FAIL timed out after {args.timeout:g} s (connection {peer.pc.connectionState})")
        await peer.pc.close()
        return 3
    except Failure as e:
        peer.log(f"FAIL {e}")
        await peer.pc.close()
        return 1
    peer.log(f"PASS {summary}")
    await asyncio.sleep(0.1)  # let the close reach the remote
    return 0


def patch_aioice() -> None:
    """Work around two aioice limits that would keep it off a loopback-only, mDNS-hiding network."""
    # aioice leaves 127.0.0.1 out of its host candidates; add it. (Inside the
    # harness namespace the only other address is rtc0's 192.0.2.1, which Firefox
    # needs: it never sends checks from its non-loopback host to a loopback one.)
    host_addresses = aioice.ice.get_host_addresses

    def with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        found = host_addresses(use_ipv4, use_ipv6)
        return (["127.0.0.1"] if use_ipv4 else []) + [a for a in found if a != "127.0.0.1"]

    aioice.ice.get_host_addresses = with_loopback

    # When every remote candidate is an mDNS name aioice cannot resolve, connect()
    # finds an empty check list and fails at once, before the remote's checks (which
    # would give it a peer-reflexive candidate) can arrive. Wait a while for the
    # first such check: connect() then handles it as an "early check".
    original = aioice.ice.Connection.connect

    async def connect(self) -> None:  # type: ignore[no-untyped-def]
        if not getattr(self, "_remote_candidates", True) and hasattr(self, "_early_checks"):
            deadline = time.monotonic() + 10
            while not self._early_checks and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        await original(self)

    aioice.ice.Connection.connect = connect


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("role", choices=("offer", "answer"))
    p.add_argument("--scenario", choices=SCENARIOS, default="reliable")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--min-unordered-pct", type=int, default=50, help="unordered: share of echoes required (%%)")
    p.add_argument("--mdns", choices=("on", "off"), default="on", help="accepted for symmetry; aiortc never hides")
    p.add_argument("--verbose", action="store_true", help="aiortc's own debug logs on stderr")
    args = p.parse_args()
    args.role = "offerer" if args.role == "offer" else "answerer"
    if args.count < 1:
        p.error("--count must be positive")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    patch_aioice()
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
