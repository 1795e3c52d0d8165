/* btfkit.h: BTFKit's C ABI. Choose the BTF libbpf should relocate a CO-RE object against, from a
 * pack of trimmed kernel BTF embedded in the running executable (section .btfkit.pack).
 *
 *     LIBBPF_OPTS(bpf_object_open_opts, opts);
 *     int err = btfkit_ensure_core_btf(&opts);
 *     if (err) { fprintf(stderr, "%s\n", btfkit_last_error()); return 1; }
 *     struct bpf_object *obj = bpf_object__open_file("prog.bpf.o", &opts);
 *     ... load, attach, run ...
 *     bpf_object__close(obj);
 *     btfkit_clean_core_btf(&opts);
 *
 * Build and link: see docs/c-api.md. Modelled on bpf-compatible's ensure_core_btf/clean_core_btf.
 */
#ifndef BTFKIT_H
#define BTFKIT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bpf_object_open_opts;

/* Fills opts->btf_custom_path for the running kernel. opts->sz must be set (LIBBPF_OPTS does).
 *  - BTFKIT_BTF=/path in the environment: that path.
 *  - the kernel has /sys/kernel/btf/vmlinux (and BTFKIT_FORCE_EMBEDDED=1 is not set): nothing
 *    is changed, libbpf uses the kernel's own BTF.
 *  - BTFKIT_ENTRY=distro/version/arch/release: that entry of the embedded pack.
 *  - otherwise the embedded pack's entry for this kernel, by the selection chain of
 *    docs/selection.md: exact os-release ID/VERSION_ID + uname machine/release; else the only
 *    entry with this release; else the release's pattern (.el8, -aws ...) with os-release; else,
 *    only with BTFKIT_ALLOW_NEAREST=1, the nearest release. BTFKIT_HOST_ROOT=/host reads the
 *    host's os-release in a container; BTFKIT_OS_RELEASE=FILE names the file. The entry is
 *    exposed as /proc/self/fd/N (a sealed memfd; a private temporary file where memfd is
 *    unavailable). Warnings (a distribution mismatch, a nearest release) go to stderr.
 * Returns 0 on success, or a negative errno: -ENOENT no entry for this kernel, -ENOTUNIQ the
 * release is packed under several entries and nothing decides, -EOPNOTSUPP no pack embedded,
 * -EINVAL corrupt pack, bad opts or a malformed BTFKIT_ENTRY, -EIO unreadable pack, -ESTALE the
 * pack was trimmed for another object (btfkit_ensure_core_btf_opts with object_path).
 * btfkit_last_error() then says what went wrong. Calling it again on the same opts first releases
 * what the earlier call set up. */
int btfkit_ensure_core_btf(struct bpf_object_open_opts *opts);

/* As btfkit_ensure_core_btf, with the pack given in memory (e.g. between the btfkit_pack_start
 * and btfkit_pack_end symbols of `btf-pack emit-asm`'s output). The bytes are read during the
 * call only. */
int btfkit_ensure_core_btf_from_pack(struct bpf_object_open_opts *opts, const void *pack, size_t size);

/* Options for btfkit_ensure_core_btf_opts. Set sz to sizeof(struct btfkit_ensure_opts): fields
 * are only ever added at the end, and a caller built with an older header (smaller sz) gets the
 * defaults for the fields it does not know.
 *     struct btfkit_ensure_opts eopts = { .sz = sizeof(eopts), .object_path = "prog.bpf.o" };
 *     int err = btfkit_ensure_core_btf_opts(&opts, &eopts); */
struct btfkit_ensure_opts {
    size_t sz;
    /* The BPF object about to be opened, or NULL. When the embedded pack records what its kernels
     * were trimmed for (packs written by btf-pack from btf-trim's output), every CO-RE relocation
     * of this object must be among those; otherwise the pack is stale: -ESTALE, and
     * btfkit_last_error() names the relocation and the object. BTFKIT_ALLOW_STALE=1 in the
     * environment turns that into a warning on stderr. Packs of whole kernel BTF serve any object. */
    const char *object_path;
};

/* As btfkit_ensure_core_btf, with options (ensure_opts may be NULL: the defaults). */
int btfkit_ensure_core_btf_opts(struct bpf_object_open_opts *opts, const struct btfkit_ensure_opts *ensure_opts);

/* Releases what btfkit_ensure_core_btf set up (closes the memfd, frees the path) and resets
 * opts->btf_custom_path to NULL. A path btfkit did not set is left alone. Safe on NULL. */
void btfkit_clean_core_btf(struct bpf_object_open_opts *opts);

/* How the last btfkit_ensure_core_btf* call chose (BTFKIT_STEP_NONE after a failure). */
#define BTFKIT_STEP_NONE            0
#define BTFKIT_STEP_OVERRIDE        1 /* BTFKIT_BTF named a file */
#define BTFKIT_STEP_KERNEL_BTF      2 /* the kernel's own /sys/kernel/btf/vmlinux */
#define BTFKIT_STEP_EXACT           3 /* os-release and uname name the entry exactly */
#define BTFKIT_STEP_UNIQUE_RELEASE  4 /* the only entry (or identical entries) with this release */
#define BTFKIT_STEP_RELEASE_PATTERN 5 /* the release's pattern and os-release chose among several */
#define BTFKIT_STEP_NEAREST_RELEASE 6 /* BTFKIT_ALLOW_NEAREST=1: a neighbouring release */
#define BTFKIT_STEP_NAMED_ENTRY     7 /* BTFKIT_ENTRY named the entry */
int btfkit_last_step(void);

/* The pack entry the last call chose, "distro/version/arch/release", or "" if none. Valid until
 * the next btfkit_ensure_core_btf* call. */
const char *btfkit_last_entry(void);

/* Every step of the last call's decision, one per line (what `btf-pack which` prints), also
 * after a failure. Valid until the next btfkit_ensure_core_btf* call. */
const char *btfkit_last_explanation(void);

/* A description of the last failure of btfkit_ensure_core_btf*, or "" if none. Valid until the
 * next failing call. */
const char *btfkit_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* BTFKIT_H */
