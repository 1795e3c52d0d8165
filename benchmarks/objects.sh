# Sourced by benchmarks/trim.sh and trim-scale.sh: the benchmark's BPF objects.
# bench_objects OUTDIR BTF_TRIM TREE: compiles the repository's programs (bpf/*.bpf.c, bpf/runner,
# bpf/tools) and the libbpf-tools-style programs of bpf/bench-tools into OUTDIR, and sets `objects`
# to those with CO-RE relocations (btf-trim warns about the others on one kernel of TREE).
bench_objects() {
    local out=$1 btf_trim=$2 tree=$3 source object kernel
    mkdir -p "$out"
    local all=()
    for source in bpf/*.bpf.c bpf/runner/*.bpf.c bpf/tools/*.bpf.c bpf/bench-tools/*.bpf.c; do
        object="$out/$(basename "${source%.c}").o"
        clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I bpf/include -I bpf/bench-tools -c "$source" -o "$object"
        all+=("$object")
    done
    kernel=$(find "$tree" -name '*.btf.tar.xz' | sort | awk 'NR == 1')  # awk reads to the end: head would make sort die of SIGPIPE under pipefail
    "$btf_trim" "${all[@]}" "$kernel" -o "$out/probe.btf" 2> "$out/probe.err" >/dev/null || true
    objects=()
    for object in "${all[@]}"; do
        if ! grep -qF "$object: no " "$out/probe.err"; then objects+=("$object"); fi
    done
    rm -f "$out/probe.btf"
}
