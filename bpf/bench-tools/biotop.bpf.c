/* biotop: top disk I/O by process. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("kprobe/blk_account_io_done")
int BPF_KPROBE(biotop_done, struct request *rq)
{
	struct gendisk *disk = BPF_CORE_READ(rq, rq_disk);
	BENCH_SUBMIT(BPF_CORE_READ(rq, __data_len) + BPF_CORE_READ(disk, major) + BPF_CORE_READ(disk, first_minor)
		     + BPF_CORE_READ(rq, cmd_flags));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
