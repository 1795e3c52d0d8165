// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * perfflood: one record per system call through a perf event array, more than user space can
 * read under a flood, so the perf buffer loses records and libbpf reports them.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, 4 /* BPF_MAP_TYPE_PERF_EVENT_ARRAY */);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(int));
} events SEC(".maps");

struct record {
	__u64 ts_ns;
	__u64 syscall;
	char pad[48];
};

SEC("raw_tp/sys_enter")
int perfflood_enter(unsigned long long *ctx)
{
	struct record r = { .ts_ns = bpf_ktime_get_ns(), .syscall = ctx[1] };

	bpf_perf_event_output(ctx, &events, 0xffffffffULL /* BPF_F_CURRENT_CPU */, &r, sizeof(r));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
