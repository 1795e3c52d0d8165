// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * flood: one 32-byte ring-buffer event per system call of the traced process (or of every process
 * with targ_tgid 0), for measuring how fast btf-run decodes. What the kernel produced and what the
 * full ring buffer refused are counted in `stats` (index 0 sent, 1 dropped), which btf-run prints
 * at exit: the benchmark compares them with the records btf-run decoded.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>

enum {
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
};

struct flood_event {
	__u64 ts_ns;
	__u32 pid;
	__u32 syscall;
	char comm[16];
};

struct flood_event *unused_flood_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

SEC("raw_tp/sys_enter")
int flood_enter(unsigned long long *ctx)
{
	struct flood_event *e;
	__u32 key = 0;
	__u64 *count;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		key = 1;
	} else {
		e->ts_ns = bpf_ktime_get_ns();
		e->pid = bpf_get_current_pid_tgid() >> 32;
		e->syscall = (__u32)ctx[1];
		bpf_get_current_comm(&e->comm, sizeof(e->comm));
		bpf_ringbuf_submit(e, 0);
	}
	count = bpf_map_lookup_elem(&stats, &key);
	if (count)
		*count += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
