/* mdflush: md flush requests with the device name. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("fentry/md_flush_request")
int BPF_PROG(mdflush_request, void *mddev, struct bio *bio)
{
	char name[32];
	BPF_CORE_READ_STR_INTO(&name, bio, bi_bdev, bd_disk, disk_name);
	BENCH_SUBMIT(BPF_CORE_READ(bio, bi_opf) + BPF_CORE_READ(bio, bi_iter.bi_sector) + name[0]);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
