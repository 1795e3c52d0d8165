/* Shared scaffolding of the CO-RE unit cases.
 *
 * Each case file is compiled twice: without TARGET it is the BPF program whose CO-RE relocations
 * are tested (the "local" side); with -DTARGET its .BTF is the target BTF the relocations are
 * resolved against (the "kernel"). TARGET builds declare one global per target type so that every
 * type lands in the object's BTF.
 */
#ifndef CORE_CASES_COMMON_H
#define CORE_CASES_COMMON_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* libbpf 1.1's bpf_core_read.h has no bpf_core_field_signed. */
#define CORE_FIELD_SIGNED(field) __builtin_preserve_field_info(field, BPF_FIELD_SIGNED)

/* Keeps a relocated value alive. */
#define SINK(v) do { sink += (__u64)(v); } while (0)

char LICENSE[] SEC("license") = "GPL";

#endif
