/* biosnoop: per-request disk, sector, size and latency. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tp_btf/block_rq_issue")
int BPF_PROG(biosnoop_issue, struct request *rq)
{
	__u64 sector = BPF_CORE_READ(rq, __sector);
	__u32 len = BPF_CORE_READ(rq, __data_len);
	int first_minor = BPF_CORE_READ(rq, q, disk, first_minor);
	char name[32];
	BPF_CORE_READ_STR_INTO(&name, rq, q, disk, disk_name);
	BENCH_SUBMIT(sector + len + first_minor + name[0]);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(biosnoop_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	BENCH_SUBMIT(BPF_CORE_READ(rq, start_time_ns) + BPF_CORE_READ(rq, cmd_flags));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
