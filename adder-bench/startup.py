#!/usr/bin/env python3
"""Start-up time and idle memory of a daemon command, on this machine.

    adder-bench/startup.py [--runs N] [--env NAME=VALUE]... [--floor-java JAVA]
                           [--floor-flags FLAGS] [--no-floor] -- COMMAND [ARG]...

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

Beside each run it measures the floor the same way: floor/Floor.java, the
least a Java program does to answer one request on a Unix socket, compiled
here for release 17 and run on the same java with the same flags. The
command's java is the floor's: the first word of a java command line, a
distribution's bundled runtime for its bin/adder-server, else $JAVA_HOME's
or the PATH's (--floor-java overrides). The flags are $ADDER_OPTS (--env
counts), else the daemon's recommended ones (--floor-flags overrides). The
command and the floor alternate, the first of each round in turn; the
command's start against the floor's is the median of the rounds' ratios,
its memory beyond the floor's the median of the rounds' differences.
"""
import os
import shlex
import shutil
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


RECOMMENDED = "-XX:+UseSerialGC -Xms8m -Xmx64m -XX:AutoBoxCacheMax=20000"


def floor_java(command, env):
    first = command[0]
    if os.path.basename(first) == "java":
        return first
    runtime = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(first))), "runtime", "bin", "java")
    if os.path.basename(first) == "adder-server" and os.access(runtime, os.X_OK) and "JAVA_HOME" not in env:
        return runtime
    if env.get("JAVA_HOME"):
        return os.path.join(env["JAVA_HOME"], "bin", "java")
    return shutil.which("java") or "java"


def compile_floor(work):
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "floor", "Floor.java")
    javac = shutil.which("javac")
    if javac is None:
        raise SystemExit("startup.py: no javac on the PATH to compile the floor (or give --no-floor)")
    subprocess.run([javac, "--release", "17", "-d", work, source], check=True)
    return work


def run_once(command, env, exits=(0,)):
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
        if status not in exits:
            raise SystemExit(f"startup.py: exit status {status} after SIGTERM from {' '.join(argv)}")
        return elapsed * 1000, rss / 1024, pss / 1024


def medians(results):
    return tuple(statistics.median(r[i] for r in results) for i in range(3))


def runs_text(results):
    return ", ".join(f"{r[0]:.0f} ms/{r[1]:.1f}/{r[2]:.1f} MB" for r in results)


def main(args):
    runs = 5
    env = dict(os.environ)
    java = flags = None
    floor = True
    while args and args[0] != "--":
        if args[0] == "--runs" and len(args) > 1:
            runs = int(args[1])
            args = args[2:]
        elif args[0] == "--env" and len(args) > 1:
            name, _, value = args[1].partition("=")
            env[name] = value
            args = args[2:]
        elif args[0] == "--floor-java" and len(args) > 1:
            java = args[1]
            args = args[2:]
        elif args[0] == "--floor-flags" and len(args) > 1:
            flags = args[1]
            args = args[2:]
        elif args[0] == "--no-floor":
            floor = False
            args = args[1:]
        else:
            raise SystemExit(f"startup.py: unknown option or missing value: {args[0]}")
    command = args[1:]
    if not command or runs < 1:
        raise SystemExit(__doc__)
    if not floor:
        results = [run_once(command, env) for _ in range(runs)]
        ms, rss, pss = medians(results)
        print(f"first answer {ms:.0f} ms, idle RSS {rss:.1f} MB, PSS {pss:.1f} MB (medians of {runs}); runs: "
              + runs_text(results))
        return
    java = java or floor_java(command, env)
    flags = shlex.split(flags if flags is not None else env.get("ADDER_OPTS", RECOMMENDED))
    with tempfile.TemporaryDirectory(prefix="adder-floor.") as classes:
        compile_floor(classes)
        # the JVM exits 143 on SIGTERM when nothing handles it: the floor installs no handler
        floor_command = [java] + flags + ["-cp", classes, "Floor", "SOCKET"]
        mine, floors = [], []
        for i in range(runs):
            if i % 2 == 0:
                mine.append(run_once(command, env))
                floors.append(run_once(floor_command, env, (0, 143)))
            else:
                floors.append(run_once(floor_command, env, (0, 143)))
                mine.append(run_once(command, env))
    ms, rss, pss = medians(mine)
    fms, frss, fpss = medians(floors)
    ratio = statistics.median(m[0] / f[0] for m, f in zip(mine, floors))
    more_rss = statistics.median(m[1] - f[1] for m, f in zip(mine, floors))
    more_pss = statistics.median(m[2] - f[2] for m, f in zip(mine, floors))
    print(f"command: first answer {ms:.0f} ms, idle RSS {rss:.1f} MB, PSS {pss:.1f} MB (medians of {runs})")
    print(f"floor:   first answer {fms:.0f} ms, idle RSS {frss:.1f} MB, PSS {fpss:.1f} MB ({' '.join(floor_command[:-4])})")
    print(f"command against floor: start {ratio:.2f}x, RSS +{more_rss:.1f} MB, PSS +{more_pss:.1f} MB (medians of rounds)")
    print("runs: command " + runs_text(mine) + "; floor " + runs_text(floors))


if __name__ == "__main__":
    main(sys.argv[1:])
