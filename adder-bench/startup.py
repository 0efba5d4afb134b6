#!/usr/bin/env python3
"""Start-up time and idle memory of a daemon command, on this machine.

    adder-bench/startup.py [--runs N] [--env NAME=VALUE]... -- COMMAND [ARG]...

COMMAND must serve the adder protocol on the Unix socket given by the last
argument's placeholder SOCKET (replaced by a fresh path each run), e.g.

    adder-bench/startup.py -- java -jar adder-server/target/adder-server-all.jar --listen unix:SOCKET

Each run starts the command pinned to core 0, then asks 7 + 10 every
millisecond until it is answered: "first answer" is the time from the
start to that answer. After 2 s idle it reads the process's resident
memory (RSS) and its proportional share (PSS, shared pages divided among
the processes sharing them) from /proc/PID/smaps_rollup, then stops it
with SIGTERM and checks it exits 0. Prints the median of N runs (default 5)
and every run.
"""
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time


def first_answer(path, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                s.sendall(struct.pack("<qq", 7, 10))
                data = b""
                while len(data) < 8:
                    chunk = s.recv(8 - len(data))
                    if not chunk:
                        break
                    data += chunk
                if len(data) == 8 and struct.unpack("<q", data)[0] == 17:
                    return True
        except OSError:
            pass
        time.sleep(0.001)
    return False


def memory_kb(pid):
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":"):
                fields[parts[0][:-1]] = int(parts[1])
    return fields["Rss"], fields["Pss"]


def run_once(command, env):
    with tempfile.TemporaryDirectory(prefix="adder-startup.") as work:
        path = os.path.join(work, "a.sock")
        argv = [a.replace("SOCKET", path) for a in command]
        start = time.monotonic()
        process = subprocess.Popen(["taskset", "-c", "0"] + argv, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, env=env)
        try:
            if not first_answer(path, start + 30):
                raise SystemExit(f"startup.py: no answer within 30 s from {' '.join(argv)}")
            elapsed = time.monotonic() - start
            time.sleep(2)
            rss, pss = memory_kb(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            status = process.wait(30)
        if status != 0:
            raise SystemExit(f"startup.py: exit status {status} after SIGTERM from {' '.join(argv)}")
        return elapsed * 1000, rss / 1024, pss / 1024


def main(args):
    runs = 5
    env = dict(os.environ)
    while args and args[0] != "--":
        if args[0] == "--runs":
            runs = int(args[1])
            args = args[2:]
        elif args[0] == "--env":
            name, _, value = args[1].partition("=")
            env[name] = value
            args = args[2:]
        else:
            raise SystemExit(f"startup.py: unknown option {args[0]}")
    command = args[1:]
    if not command:
        raise SystemExit(__doc__)
    results = [run_once(command, env) for _ in range(runs)]
    ms, rss, pss = (statistics.median(r[i] for r in results) for i in range(3))
    print(f"first answer {ms:.0f} ms, idle RSS {rss:.1f} MB, PSS {pss:.1f} MB (medians of {runs}); runs: "
          + ", ".join(f"{r[0]:.0f} ms/{r[1]:.1f}/{r[2]:.1f} MB" for r in results))


if __name__ == "__main__":
    main(sys.argv[1:])
