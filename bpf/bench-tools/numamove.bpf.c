/* numamove: NUMA page migrations. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("kprobe/migrate_misplaced_page")
int BPF_KPROBE(numamove_migrate, struct page *page)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	BENCH_SUBMIT(BPF_CORE_READ(page, flags) + BPF_CORE_READ(task, pid));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
