#!/usr/bin/env bash
# benchmarks/pack.sh: how small the pack of all 85 shared kernels is, and how fast a program with
# it embedded gets a ready btf_custom_path.
#
#   1. compiles bpf/*.bpf.c, trims ../shared/btfhub-archive for them with btf-trim (release);
#   2. packs the trimmed tree with btf-pack (tar.xz) and prints its size next to bpf-compatible's
#      way (tar -czf of the same tree), btf-pack's own tar.gz, and the raw total;
#   3. builds a C program against libbtfkit.so, embeds a pack into it (the 85 kernels plus this
#      machine's kernel, trimmed from /sys/kernel/btf/vmlinux, so that there is an exact match),
#      and measures from just before exec to btfkit_ensure_core_btf returning (BTFKIT_FORCE_EMBEDDED=1,
#      median of RUNS launches), against the same program's start-up without the call, plus the
#      peak RSS the call adds (getrusage ru_maxrss after minus before).
#
# Environment: RUNS (default 200), TRIMMED=dir (reuse an existing trimmed tree), SCRATCH (swift
# scratch path, default .build-bench), BTFKIT_SHARED_ARCHIVE (default ../shared/btfhub-archive).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ARCHIVE=${BTFKIT_SHARED_ARCHIVE:-$ROOT/../shared/btfhub-archive}
SCRATCH=${SCRATCH:-$ROOT/.build-bench}
RUNS=${RUNS:-200}
WORK=$(mktemp -d /tmp/btfkit-pack-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

cd "$ROOT"
for product in btf-trim btf-pack btfkit; do
    swift build -c release --scratch-path "$SCRATCH" --product "$product" >/dev/null
done
# libbtfkit.so a second time with the Swift runtime linked in (-static-stdlib), as one would ship it.
swift build -c release --scratch-path "$SCRATCH-static" --product btfkit -Xswiftc -static-stdlib >/dev/null
BIN="$SCRATCH/release"

mkdir -p "$WORK/bpf"
for source in bpf/*.bpf.c; do
    clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I bpf/include -c "$source" -o "$WORK/bpf/$(basename "$source" .c).o"
done

TREE=${TRIMMED:-$WORK/trimmed}
if [ -z "${TRIMMED:-}" ]; then
    echo "trimming $(find "$ARCHIVE" -name '*.btf.tar.xz' | wc -l) kernels of $ARCHIVE ..."
    "$BIN/btf-trim" "$WORK"/bpf/*.o "$ARCHIVE" -o "$TREE" | tail -n 3
fi
KERNELS=$(find "$TREE" -name '*.btf' | wc -l)
RAW=$(find "$TREE" -name '*.btf' -printf '%s\n' | awk '{ s += $1 } END { print s }')

"$BIN/btf-pack" "$TREE" -o "$WORK/pack.tar.xz" >/dev/null
"$BIN/btf-pack" "$TREE" --format tar.gz -o "$WORK/compat.tar.gz" >/dev/null
(cd "$TREE" && tar -czf "$WORK/reference.tar.gz" .)
PACKED=$(stat -c %s "$WORK/pack.tar.xz")
REFERENCE=$(stat -c %s "$WORK/reference.tar.gz")
COMPAT=$(stat -c %s "$WORK/compat.tar.gz")

echo
echo "== size: $KERNELS trimmed kernels, $(find "$TREE" -name '*.btf' -exec md5sum {} + | awk '{print $1}' | sort -u | wc -l) distinct"
printf '%-44s %10s\n' "raw total" "$RAW"
printf '%-44s %10s\n' "tar -czf of the tree (bpf-compatible's way)" "$REFERENCE"
printf '%-44s %10s\n' "btf-pack --format tar.gz" "$COMPAT"
printf '%-44s %10s  (%s of tar -czf; target <= 25%%)\n' "btf-pack tar.xz" "$PACKED" \
    "$(awk -v a="$PACKED" -v b="$REFERENCE" 'BEGIN { printf "%.1f%%", 100 * a / b }')"

# A pack that also holds this machine's kernel, so that the timed lookup is an exact hit.
IDENTITY=$(. /etc/os-release && echo "$ID/$VERSION_ID/$(uname -m | sed 's/aarch64/arm64/')")
mkdir -p "$WORK/withself"
cp -r "$TREE"/. "$WORK/withself/"
mkdir -p "$WORK/withself/$IDENTITY"
"$BIN/btf-trim" "$WORK/bpf/execsnoop.bpf.o" /sys/kernel/btf/vmlinux -o "$WORK/withself/$IDENTITY/$(uname -r).btf" >/dev/null 2>&1
"$BIN/btf-pack" "$WORK/withself" -o "$WORK/withself.tar.xz" >/dev/null
POSITION=$(tar -tJf "$WORK/withself.tar.xz" | grep -n "^$IDENTITY/$(uname -r).btf$" | cut -d: -f1)

cat > "$WORK/startup.c" <<'C'
#include <bpf/libbpf.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "btfkit.h"
extern char **environ;

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}
static long maxrss_kb(void) { struct rusage u; getrusage(RUSAGE_SELF, &u); return u.ru_maxrss; }
static int compare(const void *a, const void *b) { long long x = *(long long *)a, y = *(long long *)b; return (x > y) - (x < y); }

/* child: startup --child T0 MODE  prints "exec_to_ready_ns call_ns rss_before_kb rss_after_kb path" */
static int child(long long t0, int call) {
    long before = maxrss_kb();
    long long entered = now_ns();
    LIBBPF_OPTS(bpf_object_open_opts, opts);
    if (call) {
        int err = btfkit_ensure_core_btf(&opts);
        /* mode 2 times a lookup that is expected to miss (the whole pack is read) */
        if (err && call != 2) { fprintf(stderr, "btfkit_ensure_core_btf: %d %s\n", err, btfkit_last_error()); return 1; }
    }
    long long ready = now_ns();
    long after = maxrss_kb();
    printf("%lld %lld %ld %ld %s\n", ready - t0, ready - entered, before, after, opts.btf_custom_path ? opts.btf_custom_path : "-");
    btfkit_clean_core_btf(&opts);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--child")) return child(atoll(argv[2]), atoi(argv[3]));
    int runs = argc > 1 ? atoi(argv[1]) : 100, call = argc > 2 ? atoi(argv[2]) : 1;
    long long *times = calloc(runs, sizeof *times), *calls = calloc(runs, sizeof *calls);
    long extra = 0;
    char path[256] = "";
    for (int i = 0; i < runs; i++) {
        int fds[2]; pipe(fds);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
        char t0[32], mode[4];
        snprintf(mode, sizeof mode, "%d", call);
        long long start = now_ns();
        snprintf(t0, sizeof t0, "%lld", start);
        char *args[] = { "/proc/self/exe", "--child", t0, mode, NULL };
        pid_t pid;
        if (posix_spawn(&pid, "/proc/self/exe", &actions, NULL, args, environ)) { perror("spawn"); return 1; }
        close(fds[1]);
        char line[512] = ""; FILE *f = fdopen(fds[0], "r"); fgets(line, sizeof line, f); fclose(f);
        int status; waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status)) return 1;
        long before, after;
        sscanf(line, "%lld %lld %ld %ld %255s", &times[i], &calls[i], &before, &after, path);
        if (after - before > extra) extra = after - before;
    }
    qsort(times, runs, sizeof *times, compare);
    qsort(calls, runs, sizeof *calls, compare);
    printf("%.3f %.3f %.3f %.3f %.3f %ld %s\n", times[runs / 2] / 1e6, times[0] / 1e6, times[runs * 9 / 10] / 1e6,
           calls[runs / 2] / 1e6, calls[0] / 1e6, extra, path);
    return 0;
}
C
build_startup() {  # $1: output name, $2: directory of libbtfkit.so
    cc -O2 "$WORK/startup.c" -I Sources/CBTFKit/include -L "$2" -lbtfkit -lbpf -Wl,-rpath,"$2" -o "$WORK/$1"
    "$BIN/btf-pack" embed "$WORK/withself.tar.xz" --into "$WORK/$1" -o "$WORK/$1.hit" >/dev/null
    "$BIN/btf-pack" embed "$WORK/pack.tar.xz" --into "$WORK/$1" -o "$WORK/$1.85" >/dev/null
}
build_startup startup "$BIN"
build_startup startup-static "$SCRATCH-static/release"

echo
echo "== start-up: exec to a ready btf_custom_path, $RUNS launches each; load average now: $(cut -d' ' -f1 /proc/loadavg)"
echo "   (ms: median, min and p90 from just before exec to ensure's return; median and min of the call alone)"
row() { printf '%-58s %7s %7s %7s %7s %7s  %s\n' "$@"; }
for variant in startup startup-static; do
    echo
    if [ "$variant" = startup ]; then echo "libbtfkit.so using the toolchain's shared Swift runtime:"; else echo "libbtfkit.so built with -Xswiftc -static-stdlib:"; fi
    row "" "median" "min" "p90" "call" "min"
    read -r med min p90 _ _ _ _ < <("$WORK/$variant.hit" "$RUNS" 0)
    row "program start-up alone (libbtfkit loaded, no call)" "$med" "$min" "$p90" "-" "-"
    read -r med min p90 call callmin _ _ < <("$WORK/$variant.hit" "$RUNS" 1)
    row "btfkit_ensure_core_btf, kernel has BTF" "$med" "$min" "$p90" "$call" "$callmin"
    read -r med min p90 call callmin rss path < <(BTFKIT_FORCE_EMBEDDED=1 "$WORK/$variant.hit" "$RUNS" 1)
    row "btfkit_ensure_core_btf, embedded pack, exact hit" "$med" "$min" "$p90" "$call" "$callmin" "($path, entry $POSITION of $((KERNELS + 1)); extra peak RSS $rss KiB)"
    # A kernel the pack lacks makes the runtime read the whole pack before failing: the worst case.
    read -r med min p90 call callmin rss _ < <(BTFKIT_FORCE_EMBEDDED=1 "$WORK/$variant.85" "$RUNS" 2)
    row "85-kernel pack, no entry for this kernel (whole pack read)" "$med" "$min" "$p90" "$call" "$callmin" "(extra peak RSS $rss KiB)"
done
echo
echo "targets: exec -> ready btf_custom_path < 5 ms; extra peak RSS < 16 MiB (16384 KiB)"
