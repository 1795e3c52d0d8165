/* readahead: pages read ahead and never used. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("fentry/do_page_cache_ra")
int BPF_PROG(readahead_ra)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	BENCH_SUBMIT(BPF_CORE_READ(task, pid));
	return 0;
}

SEC("fexit/__page_cache_alloc")
int BPF_PROG(readahead_alloc, gfp_t gfp, struct page *ret)
{
	BENCH_SUBMIT(BPF_CORE_READ(ret, flags));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
