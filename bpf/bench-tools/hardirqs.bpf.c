/* hardirqs: time spent in each hard interrupt. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tracepoint/irq/irq_handler_entry")
int hardirqs_entry(struct trace_event_raw_irq_handler_entry *ctx)
{
	BENCH_SUBMIT(BPF_CORE_READ(ctx, irq) + (BPF_CORE_READ(ctx, __data_loc_name) & 0xffff));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
