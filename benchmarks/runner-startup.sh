#!/usr/bin/env bash
# benchmarks/runner-startup.sh: how long execsnoop's static runner takes from exec to its program
# attached, on this kernel with its BTF hidden (the embedded pack's entry is used), beside
# `bpftool prog load` of the same object (which loads and does not attach) and the runner with the
# kernel's own BTF. Needs root.
#
# Everything runs in a private mount namespace (unshare -m): tracefs and a bpf file system are
# mounted there first (a fresh machine has neither; the runner would otherwise mount tracefs on
# every run), bpftool runs with the kernel's BTF, then a tmpfs hides /sys/kernel/btf for the
# runner. Each row: RUNS launches after one warm-up; wall time from spawn to the runner's
# "attached" line (bpftool: to its exit), median, min and p90, and CPU time (user + system, from
# wait4) of the whole process, median. On a busy machine wall times drift; CPU time much less.
#
# Environment: RUNS (default 30), RUNNER and OBJECT (default: what benchmarks/runner-size.sh
# leaves in .build-bench-size, built by it when missing).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-30}
SCRATCH=${SCRATCH:-$ROOT/.build-bench-size}
RUNNER=${RUNNER:-$SCRATCH/execsnoop-runner}
OBJECT=${OBJECT:-$SCRATCH/execsnoop.bpf.o}
[ "$(id -u)" -eq 0 ] || { echo "runner-startup.sh: needs root (it loads BPF programs)" >&2; exit 2; }
if [ ! -x "$RUNNER" ] || [ ! -f "$OBJECT" ]; then "$ROOT/benchmarks/runner-size.sh" >&2 || true; fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"

exec unshare -m python3 - "$RUNNER" "$OBJECT" "$RUNS" <<'PY'
import os, signal, statistics, subprocess, sys, time
runner, obj, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
subprocess.run(["mount", "--make-rprivate", "/"], check=True)
if not os.path.exists("/sys/kernel/tracing/events"):
    subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"], check=True)
subprocess.run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"], check=True)

def runner_once(extra_env):
    env = dict(os.environ, **extra_env)
    start = time.perf_counter_ns()
    process = subprocess.Popen([runner, "-v"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    attached, log = None, []
    for line in process.stderr:
        log.append(line)
        if b": attached " in line:
            attached = time.perf_counter_ns()
            break
    process.send_signal(signal.SIGINT)
    log += process.stderr.readlines()
    _, status, usage = os.wait4(process.pid, 0)
    if attached is None:
        sys.exit("runner did not attach: " + b"".join(log).decode(errors="replace"))
    return (attached - start) / 1e6, (usage.ru_utime + usage.ru_stime) * 1e3, b"".join(log)

def bpftool_once(index):
    pin = f"/sys/fs/bpf/btfkit_bench_{index}"
    start = time.perf_counter_ns()
    process = subprocess.Popen(["bpftool", "prog", "load", obj, pin], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    end = time.perf_counter_ns()
    if status != 0: sys.exit("bpftool prog load failed: " + err.decode(errors="replace"))
    os.unlink(pin)
    return (end - start) / 1e6, (usage.ru_utime + usage.ru_stime) * 1e3

def row(name, samples):
    walls = sorted(s[0] for s in samples)
    cpus = [s[1] for s in samples]
    p90 = walls[min(len(walls) - 1, int(len(walls) * 0.9))]
    print(f"{name:<58} {statistics.median(walls):7.2f} {walls[0]:7.2f} {p90:7.2f} {statistics.median(cpus):8.2f}")

print(f"{'':<58} {'median':>7} {'min':>7} {'p90':>7} {'CPU med':>8}  (ms, {runs} runs after 1 warm-up)")
bpftool_once(0)
row("bpftool prog load (kernel BTF; load only, no attach)", [bpftool_once(i + 1) for i in range(runs)])
runner_once({})
row("runner, kernel BTF (exec to attached)", [runner_once({})[:2] for _ in range(runs)])

subprocess.run(["mount", "-t", "tmpfs", "none", "/sys/kernel/btf"], check=True)
assert not os.path.exists("/sys/kernel/btf/vmlinux")
_, _, log = runner_once({})
if b"embedded entry" not in log: sys.exit("the runner did not use its pack: " + log.decode(errors="replace"))
row("runner, BTF hidden: embedded pack entry (exec to attached)", [runner_once({})[:2] for _ in range(runs)])
PY
