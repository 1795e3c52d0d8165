/* biolatency: block I/O latency from request timestamps. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tp_btf/block_rq_complete")
int BPF_PROG(biolatency_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	__u64 start = BPF_CORE_READ(rq, io_start_time_ns);
	__u64 flags = BPF_CORE_READ(rq, cmd_flags);
	struct gendisk *disk = BPF_CORE_READ(rq, q, disk);
	int major = BPF_CORE_READ(disk, major);
	BENCH_SUBMIT(bpf_ktime_get_ns() - start + flags + major);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
