#!/usr/bin/env python3
"""A userspace netem for the network-namespace tests (crates/rtcpeer-cli/tests/netns.rs).

The test kernels have no sch_netem (CONFIG_NET_SCH_NETEM is off), so a router namespace sends
the packets it forwards into the TUN device this program opens, and this program writes each
one back after the impairment: dropped with probability --loss, delayed by --delay ± --jitter
milliseconds (uniform, each packet on its own, so packets overtake each other: reordering),
and written twice with probability --duplicate. Packets written back enter the router again
through the TUN device and are routed on (policy routing keeps them from looping).

Usage: impair.py --dev NAME [--loss 0.05] [--delay 50] [--jitter 20] [--duplicate 0.01] [--seed N]
Prints "ready" on stdout once the device exists; counts go to stderr on SIGTERM.
"""
import argparse
import fcntl
import heapq
import os
import random
import signal
import struct
import sys
import threading
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
# The most packets held at once: a bounded queue, as a real link's buffer is.
MAX_HELD = 10000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dev", required=True)
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--jitter", type=float, default=0.0)
    parser.add_argument("--duplicate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", args.dev.encode(), IFF_TUN | IFF_NO_PI))
    rng = random.Random(args.seed)
    held = []  # heap of (due, sequence, packet)
    cond = threading.Condition()
    # "reordered": packets written after one that arrived later than they did.
    counts = {"in": 0, "dropped": 0, "duplicated": 0, "overflow": 0, "out": 0, "reordered": 0}

    def report(*_):
        sys.stderr.write(" ".join(f"{k}={v}" for k, v in counts.items()) + "\n")
        sys.stderr.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, report)

    def writer():
        newest = 0
        while True:
            with cond:
                while not held:
                    cond.wait()
                due, sequence, packet = held[0]
                wait = due - time.monotonic()
                if wait > 0:
                    cond.wait(wait)
                    continue
                heapq.heappop(held)
            os.write(fd, packet)
            counts["out"] += 1
            if sequence < newest:
                counts["reordered"] += 1
            newest = max(newest, sequence)

    threading.Thread(target=writer, daemon=True).start()
    print("ready", flush=True)
    sequence = 0
    while True:
        packet = os.read(fd, 65536)
        counts["in"] += 1
        if rng.random() < args.loss:
            counts["dropped"] += 1
            continue
        copies = 2 if rng.random() < args.duplicate else 1
        counts["duplicated"] += copies - 1
        with cond:
            for _ in range(copies):
                if len(held) >= MAX_HELD:
                    counts["overflow"] += 1
                    continue
                delay = max(0.0, args.delay + rng.uniform(-args.jitter, args.jitter)) / 1000.0
                sequence += 1
                heapq.heappush(held, (time.monotonic() + delay, sequence, packet))
            cond.notify()


if __name__ == "__main__":
    main()
