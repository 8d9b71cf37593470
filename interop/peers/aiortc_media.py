#!/usr/bin/env python3
"""Checks media between `rtcpeer serve` and aiortc, in both directions.

    aiortc_media.py --mode record|play [--codec vp8|h264] [--out DIR] [--timeout SECONDS]

Starts `$RTCPEER_BIN serve --listen 127.0.0.1:0` with a media option, offers to it with
aiortc through `POST /offer` (JSON, the complete offer: aiortc does not trickle) and checks
what the user of each side would see:

  record: aiortc sends a test pattern (ffmpeg's `testsrc` through PyAV's lavfi, encoded by
          aiortc) and a 440 Hz tone, `sendonly`, for 4.5 s to `serve --record DIR`; then it
          closes the connection, both recordings must be finished (the server logs
          `recording finished`) and `ffprobe -count_frames` must decode >= 60 video frames
          and find >= 2 s of Opus.
  play:   ffmpeg encodes 3 s of test pattern (VP8 IVF, or H.264 Annex B) and a tone (Ogg
          Opus); `serve --play video --play audio` loops them; aiortc (`recvonly`) must decode
          >= 60 video frames (`track.recv()`) and receive audio frames that keep coming.

--codec puts that video codec first in aiortc's offer (setCodecPreferences) and checks the
answer chose it. The last stderr line is `PASS …` or `FAIL <why>`; exit 0 on pass, 1 on a
failed check, 3 on the timeout. Run it inside ns.sh (see interop/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from aiortc_peer import patch_aioice

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

SEND_SECONDS = 4.5
MIN_VIDEO_FRAMES = 60
MIN_AUDIO_SECONDS = 2.0
# After aiortc closes, the server ends the session at once on a DTLS close_notify, or 10 s
# after ICE consent stops (3 s, then its 10 s disconnect timeout): wait longer than that.
FINISH_WAIT = 25.0


class Failure(Exception):
    """A check failed; the message says why."""


class DecodeFailures(logging.Filter):
    """Counts aiortc's "failed to decode" warnings (one per undecodable frame) instead of printing each.

    A receiver that joins a played file mid-way cannot decode the frames before the file's
    next keyframe (rtcpeer cannot make one); after the first decoded frame, none may fail.
    """

    def __init__(self) -> None:
        super().__init__()
        self.before_first = 0
        self.after_first = 0
        self.decoded_any = False

    def filter(self, record: logging.LogRecord) -> bool:
        if "failed to decode" not in record.getMessage():
            return True
        if self.decoded_any:
            self.after_first += 1
            return True
        self.before_first += 1
        return False


DECODE_FAILURES = DecodeFailures()


class Check:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.t0 = time.monotonic()
        self.tag = f"[aiortc-media {args.mode} {args.codec}]"
        self.step = "starting"
        self.server: asyncio.subprocess.Process | None = None
        self.server_lines: list[str] = []
        self.line_seen = asyncio.Event()
        self.pc: RTCPeerConnection | None = None

    def log(self, msg: str) -> None:
        sys.stderr.write(f"{self.tag} +{time.monotonic() - self.t0:.2f}s {msg}\n")
        sys.stderr.flush()

    def doing(self, what: str) -> None:
        self.step = what
        self.log(what)

    # ---------------------------------------------------------------- server --
    async def start_server(self, extra: list[str]) -> str:
        """Starts `rtcpeer serve` with `extra` arguments; returns its `http://ADDR` base."""
        binary = os.environ.get("RTCPEER_BIN") or str(REPO / "target" / "release" / "rtcpeer")
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info,sctp_proto=off"), "NO_COLOR": "1"}
        argv = [binary, "serve", "--listen", "127.0.0.1:0", *extra]
        self.log(f"starting {' '.join(argv)}")
        try:
            self.server = await asyncio.create_subprocess_exec(
                *argv, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as e:
            raise Failure(f"could not start {binary}: {e}") from None
        address: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def watch(stream: asyncio.StreamReader) -> None:
            while line := await stream.readline():
                text = line.decode("utf-8", "replace").rstrip("\n")
                self.log(f"[rtcpeer] {text}")
                self.server_lines.append(text)
                self.line_seen.set()
                m = re.search(r"listening on (http://\S+)", text)
                if m and not address.done():
                    address.set_result(m.group(1).rstrip("/"))

        assert self.server.stdout and self.server.stderr
        self.watchers = [asyncio.ensure_future(watch(s)) for s in (self.server.stdout, self.server.stderr)]
        exited = asyncio.ensure_future(self.server.wait())
        done, _ = await asyncio.wait({address, exited}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if address in done:
            return address.result()
        if exited in done:
            raise Failure(f"rtcpeer serve exited ({self.server.returncode}) before printing its address")
        raise Failure("rtcpeer serve printed no address within 10 s")

    async def stop_server(self) -> None:
        if self.server and self.server.returncode is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.server.wait(), 5)
            except asyncio.TimeoutError:
                self.server.kill()

    def server_count(self, text: str) -> int:
        return sum(text in line for line in self.server_lines)

    def check_server_alive(self) -> None:
        if self.server and self.server.returncode is not None:
            raise Failure(f"rtcpeer serve exited ({self.server.returncode}) during the check")

    # ------------------------------------------------------------ connection --
    def new_connection(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

        @pc.on("connectionstatechange")
        def _state() -> None:
            self.log(f"connectionState {pc.connectionState}")

        self.pc = pc
        return pc

    def prefer_codec(self, transceiver) -> None:  # type: ignore[no-untyped-def]
        """Puts the chosen video codec (and its RTX) first in the transceiver's offer."""
        codecs = RTCRtpSender.getCapabilities("video").codecs
        want = f"video/{self.args.codec}".lower()
        chosen = [c for c in codecs if c.mimeType.lower() == want]
        if not chosen:
            raise Failure(f"aiortc offers no {want}")
        transceiver.setCodecPreferences(chosen + [c for c in codecs if c not in chosen])

    async def negotiate(self, base: str) -> str:
        """Offers through `POST /offer`, applies the answer; returns the answer's first video codec."""
        pc = self.pc
        assert pc is not None
        await pc.setLocalDescription(await pc.createOffer())
        body = json.dumps({"type": "offer", "sdp": pc.localDescription.sdp}).encode()
        self.doing(f"POST {base}/offer ({len(body)} B)")

        def post() -> tuple[int, str]:
            request = urllib.request.Request(
                f"{base}/offer", data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=15) as response:
                    return response.status, response.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode("utf-8", "replace")

        status, text = await asyncio.get_running_loop().run_in_executor(None, post)
        if status != 200:
            raise Failure(f"POST /offer answered {status}: {text[:200]}")
        try:
            answer = json.loads(text)
        except json.JSONDecodeError as e:
            raise Failure(f"POST /offer answered 200 with no JSON ({e}): {text[:200]}") from None
        if not isinstance(answer, dict) or answer.get("type") != "answer" or not isinstance(answer.get("sdp"), str):
            raise Failure(f"POST /offer answered 200 with {text[:200]!r}, not an answer")
        video_part = answer["sdp"].split("m=video", 1)
        m = re.search(r"^a=rtpmap:\d+ ([^/\s]+)/90000", video_part[1], re.M) if len(video_part) > 1 else None
        codec = m.group(1) if m else "none"
        self.log(f"answer: first video codec {codec}")
        if codec.lower() != self.args.codec:
            raise Failure(f"the answer's video codec is {codec}, expected {self.args.codec.upper()}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        return codec

    async def wait_connected(self) -> None:
        self.doing("waiting for connected")
        deadline = time.monotonic() + 15
        while self.pc and self.pc.connectionState != "connected":
            self.check_server_alive()
            if self.pc.connectionState in ("failed", "closed"):
                raise Failure(f"the connection is {self.pc.connectionState}")
            if time.monotonic() > deadline:
                raise Failure(f"the connection is {self.pc.connectionState} after 15 s")
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------------ record --
    async def record(self, work: Path) -> str:
        rec_dir = work / "recorded"
        shutil.rmtree(rec_dir, ignore_errors=True)
        base = await self.start_server(["--record", str(rec_dir)])
        pc = self.new_connection()
        # PyAV's lavfi input: aiortc decodes it and encodes VP8/H.264 and Opus itself,
        # paced in real time (MediaPlayer throttles non-device inputs).
        video = MediaPlayer("testsrc=size=320x240:rate=30", format="lavfi")
        audio = MediaPlayer("sine=frequency=440:sample_rate=48000", format="lavfi")
        self.players = [video, audio]
        assert video.video and audio.audio
        self.prefer_codec(pc.addTransceiver(video.video, direction="sendonly"))
        pc.addTransceiver(audio.audio, direction="sendonly")
        await self.negotiate(base)
        await self.wait_connected()
        self.doing(f"sending for {SEND_SECONDS} s")
        await asyncio.sleep(SEND_SECONDS)
        self.check_server_alive()
        sent = {}
        for report in (await pc.getStats()).values():
            if report.type == "outbound-rtp":
                sent[report.kind] = report.packetsSent
        self.log(f"sent RTP packets: {sent}")
        self.doing("closing the connection")
        for player in self.players:
            for track in (player.audio, player.video):
                if track:
                    track.stop()
        await pc.close()
        self.doing("waiting for both recordings to be finished")
        deadline = time.monotonic() + FINISH_WAIT
        while self.server_count("recording finished") < 2:
            self.check_server_alive()
            if time.monotonic() > deadline:
                raise Failure(
                    f"{self.server_count('recording finished')} of 2 recordings finished {FINISH_WAIT:g} s"
                    " after aiortc closed"
                )
            self.line_seen.clear()
            try:
                await asyncio.wait_for(self.line_seen.wait(), 0.5)
            except asyncio.TimeoutError:
                pass
        finished_after = time.monotonic() - (deadline - FINISH_WAIT)
        files = sorted(p.name for p in rec_dir.iterdir()) if rec_dir.is_dir() else []
        video_ext = ".ivf" if self.args.codec == "vp8" else ".h264"
        video_file = next((f for f in files if f.endswith(video_ext)), None)
        audio_file = next((f for f in files if f.endswith(".ogg")), None)
        if not video_file or not audio_file:
            raise Failure(f"recorded files: {', '.join(files) or 'none'}; expected a {video_ext} and an .ogg")
        v = await probe(rec_dir / video_file)
        a = await probe(rec_dir / audio_file)
        self.log(
            f"ffprobe: {video_file}: {v['codec']} {v['frames']} frames; "
            f"{audio_file}: {a['codec']} {a['duration']:.2f} s, {a['frames']} frames"
        )
        if v["frames"] < MIN_VIDEO_FRAMES:
            raise Failure(f"ffprobe decodes {v['frames']} video frames from {video_file}, expected >= {MIN_VIDEO_FRAMES}")
        if not a["duration"] >= MIN_AUDIO_SECONDS:
            raise Failure(f"ffprobe finds {a['duration']} s of audio in {audio_file}, expected >= {MIN_AUDIO_SECONDS:g}")
        return (
            f"record {self.args.codec}: {v['codec']} {v['frames']} frames decodable, {a['codec']} "
            f"{a['duration']:.2f} s ({a['frames']} packets); finished {finished_after:.1f} s after close"
        )

    # -------------------------------------------------------------------- play --
    async def play(self, work: Path) -> str:
        self.doing("encoding the files to play with ffmpeg")
        video_file, audio_file = await make_media(work, self.args.codec)
        base = await self.start_server(["--play", str(video_file), "--play", str(audio_file)])
        pc = self.new_connection()
        counts = {"video": 0, "audio": 0}
        sizes: set[tuple[int, int]] = set()
        errors: list[str] = []

        async def consume(track: MediaStreamTrack) -> None:
            try:
                while True:
                    frame = await track.recv()
                    counts[track.kind] += 1
                    if track.kind == "video":
                        DECODE_FAILURES.decoded_any = True
                        sizes.add((frame.width, frame.height))
            except MediaStreamError:
                pass
            except Exception as e:  # a decoder error is a finding, not a crash of the check
                errors.append(f"{track.kind}: {type(e).__name__}: {e}")

        self.consumers: list[asyncio.Future] = []

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.log(f"track {track.kind}")
            self.consumers.append(asyncio.ensure_future(consume(track)))

        self.prefer_codec(pc.addTransceiver("video", direction="recvonly"))
        pc.addTransceiver("audio", direction="recvonly")
        await self.negotiate(base)
        await self.wait_connected()
        self.doing(f"waiting for {MIN_VIDEO_FRAMES} decoded video frames")
        deadline = time.monotonic() + 12
        while counts["video"] < MIN_VIDEO_FRAMES:
            self.check_server_alive()
            if errors:
                raise Failure(f"receiving failed: {errors[0]}")
            if pc.connectionState != "connected":
                raise Failure(f"the connection is {pc.connectionState} after {counts['video']} video frames")
            if time.monotonic() > deadline:
                raise Failure(f"{counts['video']} video frames decoded after 12 s, expected >= {MIN_VIDEO_FRAMES}")
            await asyncio.sleep(0.1)
        video_frames, audio_before = counts["video"], counts["audio"]
        await asyncio.sleep(1.0)
        if not counts["audio"] > audio_before:
            raise Failure(f"audio frames stuck at {audio_before}")
        if not counts["video"] > video_frames:
            raise Failure(f"video frames stuck at {video_frames}")
        received = {}
        for report in (await pc.getStats()).values():
            if report.type == "inbound-rtp":
                received[report.kind] = (report.packetsReceived, report.packetsLost)
        self.log(f"inbound RTP (packets, lost): {received}")
        if DECODE_FAILURES.after_first:
            raise Failure(f"{DECODE_FAILURES.after_first} video frame(s) failed to decode after the first decoded one")
        await pc.close()
        return (
            f"play {self.args.codec}: {video_frames} video frames decoded "
            f"({', '.join(f'{w}x{h}' for w, h in sorted(sizes))}; {DECODE_FAILURES.before_first} undecodable before "
            f"the first keyframe, none after), audio frames {audio_before} -> {counts['audio']} in 1 s, "
            f"inbound (packets, lost) {received}"
        )

    async def cleanup(self) -> None:
        for player in getattr(self, "players", []):
            for track in (player.audio, player.video):
                if track:
                    track.stop()
        if self.pc:
            await self.pc.close()
        for task in getattr(self, "consumers", []):
            task.cancel()
        await self.stop_server()
        for task in getattr(self, "watchers", []):
            task.cancel()


async def run(program: str, *argv: str) -> str:
    """Runs a tool to the end; its stdout, or a Failure with its last stderr line."""
    try:
        proc = await asyncio.create_subprocess_exec(
            program, *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except OSError as e:
        raise Failure(f"{program}: {e}") from None
    out, err = await proc.communicate()
    if proc.returncode != 0:
        last = (err.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        raise Failure(f"{program} {' '.join(argv)} exited {proc.returncode}: {last}")
    return out.decode("utf-8", "replace")


async def make_media(work: Path, codec: str) -> tuple[Path, Path]:
    """Encodes the files `--play` sends: 3 s of test pattern (a keyframe every second) and a tone."""
    video = work / ("video.ivf" if codec == "vp8" else "video.h264")
    audio = work / "audio.ogg"
    if codec == "vp8":
        encoder = ["-c:v", "libvpx", "-b:v", "600k", "-deadline", "realtime", "-cpu-used", "8", "-g", "30"]
    else:
        encoder = ["-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-pix_fmt", "yuv420p"]
        encoder += ["-g", "30", "-bf", "0"]
    lavfi = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i"]
    await run(*lavfi, "testsrc=size=320x240:rate=30", "-t", "3", *encoder, str(video))
    await run(*lavfi, "sine=frequency=440:sample_rate=48000", "-t", "3", "-c:a", "libopus", str(audio))
    return video, audio


async def probe(path: Path) -> dict:
    """ffprobe's codec, decoded-frame count and duration of the file's first stream."""
    out = await run(
        "ffprobe", "-v", "error", "-count_frames", "-show_entries",
        "stream=codec_name,nb_read_frames,duration:format=duration", "-of", "json", str(path),
    )
    data = json.loads(out)
    stream = (data.get("streams") or [{}])[0]
    duration = stream.get("duration") or (data.get("format") or {}).get("duration") or 0
    try:
        seconds = float(duration)
    except ValueError:
        seconds = 0.0
    return {"codec": stream.get("codec_name"), "frames": int(stream.get("nb_read_frames") or 0), "duration": seconds}


async def amain(args: argparse.Namespace) -> int:
    check = Check(args)
    work = Path(args.out).resolve() if args.out else Path(tempfile.mkdtemp(prefix="aiortc-media-"))
    work.mkdir(parents=True, exist_ok=True)
    code, message = 0, ""
    try:
        task = check.record(work) if args.mode == "record" else check.play(work)
        message = await asyncio.wait_for(task, args.timeout)
    except asyncio.TimeoutError:
        code, message = 3, f"timed out after {args.timeout:g} s while {check.step}"
    except Failure as e:
        code, message = 1, str(e)
    except Exception as e:  # an unexpected error still ends with a FAIL line
        code, message = 1, f"{check.step}: {type(e).__name__}: {e}"
    try:
        await asyncio.wait_for(check.cleanup(), 10)
    except Exception as e:
        check.log(f"cleaning up: {type(e).__name__}: {e}")
    if not args.out:
        shutil.rmtree(work, ignore_errors=True)
    check.log(f"PASS {message}" if code == 0 else f"FAIL {message}")
    return code


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("record", "play"), required=True)
    p.add_argument("--codec", choices=("vp8", "h264"), default="vp8")
    p.add_argument("--mdns", choices=("on", "off"), default="on", help="accepted for symmetry; aiortc never hides")
    p.add_argument("--out", help="keep the played/recorded files here (default: a temporary directory)")
    p.add_argument("--timeout", type=float, default=45.0)
    p.add_argument("--verbose", action="store_true", help="aiortc's own debug logs on stderr")
    args = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    logging.getLogger("aiortc.rtcrtpreceiver").addFilter(DECODE_FAILURES)
    patch_aioice()
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
