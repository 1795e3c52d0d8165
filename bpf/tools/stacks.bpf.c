// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * stacks: bcc's profile shape: counts keyed by (pid, user stack id, kernel stack id, comm), the
 * stacks in a BPF_MAP_TYPE_STACK_TRACE map. Sampled at every openat() (raw_tp/sys_enter: no
 * perf event needed), so the kernel stacks are the system call entry path.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>

#define TASK_COMM_LEN		16
#define PERF_MAX_STACK_DEPTH	127
#define NR_OPENAT		257

enum {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_STACK_TRACE = 7,
};

struct key_t {
	__u32 pid;
	int user_stack_id;
	int kern_stack_id;
	char name[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__type(key, __u32);
	__uint(value_size, PERF_MAX_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, 16384);
} stackmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct key_t);
	__type(value, __u64);
	__uint(max_entries, 10240);
} counts SEC(".maps");

SEC("raw_tp/sys_enter")
int stacks_enter(unsigned long long *ctx)
{
	struct key_t key = {};
	__u64 *count, one = 1;

	if (ctx[1] != NR_OPENAT)
		return 0;
	key.pid = bpf_get_current_pid_tgid() >> 32;
	key.kern_stack_id = bpf_get_stackid(ctx, &stackmap, 0);
	key.user_stack_id = bpf_get_stackid(ctx, &stackmap, 1 << 8 /* BPF_F_USER_STACK */);
	bpf_get_current_comm(&key.name, sizeof(key.name));
	count = bpf_map_lookup_elem(&counts, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, 1 /* BPF_NOEXIST */);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
