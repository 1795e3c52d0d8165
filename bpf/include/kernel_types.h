/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel types the BTFKit test programs touch, in place of a generated multi-megabyte
 * vmlinux.h (the libbpf-tools "minimal header" approach). Only the members the programs use are
 * declared, by their kernel names: with preserve_access_index every access becomes a CO-RE
 * relocation that libbpf resolves by name against the running kernel's BTF, so neither member
 * order, offsets nor struct sizes here need to match any kernel.
 *
 * Anonymous structs and unions are kept where the kernel has them on the access path
 * (mm_struct, qstr, sock_common), so the access strings go through anonymous members as
 * they do with a real vmlinux.h.
 */
#ifndef BTFKIT_KERNEL_TYPES_H
#define BTFKIT_KERNEL_TYPES_H

/* This header stands in for vmlinux.h: bpf_tracing.h then names pt_regs members the kernel way
 * (di, si, ...) rather than the uapi way (rdi, rsi, ...). */
#define __VMLINUX_H__

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u64 __be64;
typedef __u32 __wsum;
typedef _Bool bool;
enum { false = 0, true = 1 };
typedef int pid_t;
typedef unsigned int uid_t;
typedef __u64 __addrpair;
typedef __u32 __portpair;

/* uapi constants the programs need (from <linux/bpf.h>, which cannot be included for -target bpf
 * without the multiarch asm/ headers). */
enum {
	BPF_MAP_TYPE_RINGBUF = 27,
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

/* x86-64 registers as the kernel names them; kprobe programs read their arguments from here. */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

typedef struct {
	uid_t val;
} kuid_t;

typedef struct {
	__s64 counter;
} atomic64_t;
typedef atomic64_t atomic_long_t;

struct list_head {
	struct list_head *next, *prev;
};

struct rlimit {
	unsigned long rlim_cur;
	unsigned long rlim_max;
};

struct qstr {
	union {
		struct {
			__u32 hash;
			__u32 len;
		};
		__u64 hash_len;
	};
	const unsigned char *name;
};

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
};

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

/* In 6.18 f_path sits inside an anonymous union; before it was a direct member. Declared
 * directly here: libbpf finds it through the kernel's anonymous members either way. */
struct file {
	struct path f_path;
	unsigned int f_flags;
};

/* Since 6.2, mm_struct.rss_stat is an array of percpu_counter; see flavors.bpf.c. */
struct percpu_counter {
	__s64 count;
};

/* In recent kernels every mm_struct member sits in one anonymous struct, followed by cpu_bitmap. */
struct mm_struct {
	struct {
		unsigned long start_code, end_code, start_data, end_data;
		unsigned long start_brk, brk, start_stack;
		unsigned long arg_start, arg_end, env_start, env_end;
		struct file *exe_file;
		unsigned long total_vm;
	};
	unsigned long cpu_bitmap[];
};

#define RLIM_NLIMITS 16
#define RLIMIT_NOFILE 7

struct signal_struct {
	struct rlimit rlim[RLIM_NLIMITS];
};

struct cred {
	kuid_t uid;
	kuid_t euid;
};

struct task_struct {
	unsigned int __state;
	unsigned int flags;
	int exit_code;
	/* Real kernel bitfields, in the kernel's order; see bitfields.bpf.c. */
	unsigned sched_reset_on_fork : 1;
	unsigned sched_contributes_to_load : 1;
	unsigned sched_migrated : 1;
	unsigned sched_remote_wakeup : 1;
	unsigned in_execve : 1;
	unsigned in_iowait : 1;
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct mm_struct *mm;
	struct cred *cred; /* const in the kernel; dropped here so BPF_CORE_READ's temporary is assignable */
	char comm[16];
	struct signal_struct *signal;
};

struct sock_common {
	union {
		__addrpair skc_addrpair;
		struct {
			__be32 skc_daddr;
			__be32 skc_rcv_saddr;
		};
	};
	union {
		__portpair skc_portpair;
		struct {
			__be16 skc_dport;
			__u16 skc_num;
		};
	};
	unsigned short skc_family;
	/* A real 4-bit bitfield in every kernel. */
	unsigned char skc_reuse : 4;
	unsigned char skc_reuseport : 1;
};

struct sock {
	struct sock_common __sk_common;
	/* A bitfield (sk_protocol:8 in __sk_flags_offset) before 5.6, a plain u16 since. */
	__u16 sk_protocol;
	__u16 sk_type;
};

#pragma clang attribute pop

/* Kernel enums the programs query (enum relocations need no preserve_access_index). */
enum pid_type {
	PIDTYPE_PID,
	PIDTYPE_TGID,
	PIDTYPE_PGID,
	PIDTYPE_SID,
	PIDTYPE_MAX,
};

/* Local values are placeholders: CO-RE asks the kernel for the real ones by name. */
enum bpf_func_id {
	BPF_FUNC_ringbuf_output = 130,
	BPF_FUNC_user_ringbuf_drain = 209, /* since 6.1 */
	BPF_FUNC_cgrp_storage_get = 210,   /* since 6.2 */
};

/* 64-bit enumerator values: clang encodes this enum as BTF_KIND_ENUM64 (kernels with pahole
 * >= 1.24 do too; older btfhub kernels have it as a 32-bit ENUM, which CO-RE accepts). */
enum perf_callchain_context {
	PERF_CONTEXT_HV = (__u64)-32,
	PERF_CONTEXT_KERNEL = (__u64)-128,
	PERF_CONTEXT_USER = (__u64)-512,
	PERF_CONTEXT_GUEST = (__u64)-2048,
	PERF_CONTEXT_GUEST_KERNEL = (__u64)-2176,
	PERF_CONTEXT_GUEST_USER = (__u64)-2560,
	PERF_CONTEXT_MAX = (__u64)-4095,
};

#endif /* BTFKIT_KERNEL_TYPES_H */
