/* softirqs: time spent in each soft interrupt vector. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tracepoint/irq/softirq_entry")
int softirqs_entry(struct trace_event_raw_softirq *ctx)
{
	BENCH_SUBMIT(BPF_CORE_READ(ctx, vec));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
