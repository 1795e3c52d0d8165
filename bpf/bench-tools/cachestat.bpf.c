/* cachestat: page cache hits and misses. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("kprobe/mark_page_accessed")
int BPF_KPROBE(cachestat_accessed, struct page *page)
{
	BENCH_SUBMIT(BPF_CORE_READ(page, flags));
	return 0;
}

SEC("kprobe/folio_account_dirtied")
int BPF_KPROBE(cachestat_dirtied, struct page *page)
{
	BENCH_SUBMIT(BPF_CORE_READ(page, flags) | 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
