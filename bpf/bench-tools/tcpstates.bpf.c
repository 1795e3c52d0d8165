/* tcpstates: TCP state changes. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tracepoint/sock/inet_sock_set_state")
int tcpstates_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	BENCH_SUBMIT(BPF_CORE_READ(ctx, oldstate) + BPF_CORE_READ(ctx, newstate) + BPF_CORE_READ(ctx, sport)
		     + BPF_CORE_READ(ctx, dport) + BPF_CORE_READ(ctx, family) + BPF_CORE_READ(ctx, protocol));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
