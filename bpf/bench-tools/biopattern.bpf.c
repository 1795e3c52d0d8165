/* biopattern: random or sequential I/O per disk. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tracepoint/block/block_rq_complete")
int biopattern_complete(struct trace_event_raw_block_rq_complete *ctx)
{
	sector_t sector = BPF_CORE_READ(ctx, sector);
	unsigned int nr = BPF_CORE_READ(ctx, nr_sector);
	dev_t dev = BPF_CORE_READ(ctx, dev);
	BENCH_SUBMIT(sector + nr + dev);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
