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
 *  - otherwise the embedded pack's entry for this kernel (os-release ID and VERSION_ID, uname
 *    machine and release), exposed as /proc/self/fd/N (a sealed memfd; a private temporary file
 *    where memfd is unavailable).
 * Returns 0 on success, or a negative errno: -ENOENT no entry for this kernel (or no os-release),
 * -EOPNOTSUPP no pack embedded, -EINVAL corrupt pack or bad opts, -EIO unreadable pack.
 * btfkit_last_error() then says what went wrong. Calling it again on the same opts first releases
 * what the earlier call set up. */
int btfkit_ensure_core_btf(struct bpf_object_open_opts *opts);

/* As btfkit_ensure_core_btf, with the pack given in memory (e.g. between the btfkit_pack_start
 * and btfkit_pack_end symbols of `btf-pack emit-asm`'s output). The bytes are read during the
 * call only. */
int btfkit_ensure_core_btf_from_pack(struct bpf_object_open_opts *opts, const void *pack, size_t size);

/* Releases what btfkit_ensure_core_btf set up (closes the memfd, frees the path) and resets
 * opts->btf_custom_path to NULL. A path btfkit did not set is left alone. Safe on NULL. */
void btfkit_clean_core_btf(struct bpf_object_open_opts *opts);

/* A description of the last failure of btfkit_ensure_core_btf*, or "" if none. Valid until the
 * next failing call. */
const char *btfkit_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* BTFKIT_H */
