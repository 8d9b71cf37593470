#!/usr/bin/env python3
"""Writes the small binary seed files of the fuzz targets (run from fuzz/).

The STUN seeds are the RFC 5769 test vectors (the ones the stun module's
tests use) and two messages built here with real MESSAGE-INTEGRITY and
FINGERPRINT; DCEP seeds are an ACK and OPENs of each channel type;
fingerprint seeds are one valid attribute per hash; peer_datagrams seeds
are short programs of the target's operations (see its doc comment).
media_files seeds are tiny files ffmpeg encodes (VP8/IVF, Opus, H.264).
The sdp_remote seeds come from `cargo run --example sdp_seeds`.
"""
import hashlib
import hmac
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def hexbytes(s):
    return bytes(int(b, 16) for b in s.split())


RFC5769_REQUEST = hexbytes("""
00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
00 24 00 04 6e 00 01 ff
80 29 00 08 93 2f f9 b1 51 26 3b 36
00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
80 28 00 04 e5 7a 3b cf""")
RFC5769_IPV4_RESPONSE = hexbytes("""
01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
00 20 00 08 00 01 a1 47 e1 12 a6 43
00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
80 28 00 04 c0 7d 4c 96""")
RFC5769_IPV6_RESPONSE = hexbytes("""
01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
80 28 00 04 c8 fb 0b 4c""")


def attr(typ, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack("!HH", typ, len(value)) + value + b"\0" * pad


def stun(msg_type, tid, attrs, key=None, sha256=False, fingerprint=True):
    body = b"".join(attrs)

    def header(extra):
        return struct.pack("!HHI", msg_type, len(body) + extra, 0x2112A442) + tid

    if key is not None:
        size = 32 if sha256 else 20
        mac = hmac.new(key, header(4 + size) + body, hashlib.sha256 if sha256 else hashlib.sha1).digest()
        body += attr(0x001C if sha256 else 0x0008, mac)
    if fingerprint:
        crc = (zlib.crc32(header(8) + body) ^ 0x5354554E) & 0xFFFFFFFF
        body += attr(0x8028, struct.pack("!I", crc))
    return header(0) + body


def stun_seeds():
    write("stun_decode", "rfc5769-request", RFC5769_REQUEST)
    write("stun_decode", "rfc5769-ipv4-response", RFC5769_IPV4_RESPONSE)
    write("stun_decode", "rfc5769-ipv6-response", RFC5769_IPV6_RESPONSE)
    tid = bytes(range(1, 13))
    key = b"fuzzing-password-0123456789"
    ice_request = stun(0x0001, tid, [
        attr(0x0006, b"remoteufrag:localufrag"),
        attr(0x0024, struct.pack("!I", 0x6E7F1EFF)),
        attr(0x0025, b""),
        attr(0x802A, bytes(range(8))),
    ], key=key, sha256=True)
    write("stun_decode", "ice-request-sha256", ice_request)
    error = stun(0x0111, tid, [
        attr(0x0009, b"\0\0\x04\x14" + b"Unknown Attribute"),
        attr(0x000A, struct.pack("!HH", 0x0031, 0x7000)),
        attr(0x0014, b"example.invalid"),
        attr(0x0015, b"nonce-value"),
        attr(0x0001, b"\0\x01\x13\x88\x7f\0\0\x01"),
    ], key=key)
    write("stun_decode", "error-response", error)
    return ice_request


def dcep_seeds():
    write("dcep_decode", "ack", b"\x02")

    def open_msg(code, priority, param, label, protocol):
        return struct.pack("!BBHIHH", 3, code, priority, param, len(label), len(protocol)) + label + protocol

    write("dcep_decode", "open-reliable", open_msg(0x00, 256, 0, b"chat", b""))
    write("dcep_decode", "open-unordered-rexmit", open_msg(0x81, 128, 3, b"x", b"json"))
    write("dcep_decode", "open-timed", open_msg(0x02, 1024, 1500, "\u00e9t\u00e9".encode(), b"proto"))


def fingerprint_seeds():
    for name, size in [("sha-256", 32), ("sha-1", 20), ("sha-384", 48), ("sha-512", 64)]:
        value = ":".join("%02X" % ((i * 37 + 11) & 0xFF) for i in range(size))
        write("dtls_fingerprint", name, f"{name} {value}")
    write("dtls_fingerprint", "lowercase-tabs", "SHA-256\t" + ":".join("ab" for _ in range(32)))


def peer_seeds(ice_request):
    def raw(op, data):
        return bytes([op]) + struct.pack("!H", len(data)) + data

    # Replays of the first datagrams the remote sent (STUN checks, DTLS flight 1...).
    write("peer_datagrams", "replay-all-to-b", b"".join(bytes([0x08, i]) for i in range(16)))
    write("peer_datagrams", "replay-all-to-a", b"".join(bytes([0x88, i]) for i in range(16)))
    # The same from another port and another host, then time passing.
    write("peer_datagrams", "replay-elsewhere", b"".join(bytes([0x18, i, 0x28, i]) for i in range(8)) + b"\x0e\x64")
    # Bit flips in captured datagrams (header bytes and deep in the record).
    write("peer_datagrams", "bitflips", b"".join(bytes([0x0a, i]) + struct.pack("!HB", i * 7, 0x40) for i in range(12)))
    write("peer_datagrams", "truncations", b"".join(bytes([0x0c, i]) + struct.pack("!H", 13 + i) for i in range(12)))
    # Raw STUN, a DTLS-looking record, RTP and garbage from the remote's address.
    dtls_alert = bytes([21, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 2, 40])
    rtp = bytes([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2]) + b"payload"
    write("peer_datagrams", "raw-mix", raw(0, ice_request) + raw(0, dtls_alert) + raw(0, rtp) + raw(0x20, b"\xff" * 40)
          + raw(0x80, dtls_alert) + b"\x0f\xff")


def media_seeds():
    """media_files: a selector byte (0 IVF, 1 Ogg Opus, 2 H.264) and a tiny file ffmpeg encodes."""
    import subprocess
    import tempfile
    sources = [
        (0, "vp8.ivf", ["-f", "lavfi", "-i", "testsrc=size=32x32:rate=10", "-frames:v", "3", "-c:v", "libvpx"]),
        (1, "opus.opus", ["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "0.06", "-c:a", "libopus", "-b:a", "8k"]),
        (2, "h264.h264", ["-f", "lavfi", "-i", "testsrc=size=32x32:rate=10", "-frames:v", "3", "-c:v", "libx264",
                          "-preset", "ultrafast", "-x264-params", "slices=2", "-f", "h264"]),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for selector, name, args in sources:
            out = os.path.join(tmp, name)
            subprocess.run(["ffmpeg", "-v", "error", "-y", *args, out], check=True)
            with open(out, "rb") as f:
                write("media_files", name, bytes([selector]) + f.read())


if __name__ == "__main__":
    request = stun_seeds()
    dcep_seeds()
    fingerprint_seeds()
    peer_seeds(request)
    media_seeds()
