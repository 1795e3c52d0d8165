/* statsnoop: stat() family calls with the path pointer and result. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tracepoint/syscalls/sys_enter_newstat")
int statsnoop_enter(struct trace_event_raw_sys_enter *ctx)
{
	BENCH_SUBMIT(BPF_CORE_READ(ctx, args[0]) + BPF_CORE_READ(ctx, id));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_newstat")
int statsnoop_exit(struct trace_event_raw_sys_exit *ctx)
{
	BENCH_SUBMIT(BPF_CORE_READ(ctx, ret) + BPF_CORE_READ(ctx, id));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
