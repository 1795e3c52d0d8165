// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * flavors: one program, two kernel layouts, told apart by "___flavor" struct names (libbpf
 * matches struct task_struct___old against the kernel's task_struct: the part before the last
 * "___" is the name). task_struct.state became __state in 5.14; mm_struct.rss_stat changed from
 * struct mm_rss_stat (an atomic_long_t count[] array) to an array of percpu_counter in 6.2.
 * Existence checks (field_exists, type_exists) pick the branch; the other branch's relocations fail and are never reached.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

struct mm_rss_stat {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___pre62 {
	struct mm_rss_stat rss_stat;
} __attribute__((preserve_access_index));

/* Field matching looks through the kernel's anonymous struct, so rss_stat can sit at the top.
 * (bpf_core_type_matches would not do here: it skips anonymous target members, so no local
 * mm_struct flavor ever type-matches a kernel whose mm_struct members are all anonymous-nested.) */
struct mm_struct___post62 {
	struct percpu_counter rss_stat[4];
} __attribute__((preserve_access_index));

enum { MM_FILEPAGES, MM_ANONPAGES };

struct flavors_result {
	long state;
	long anon_pages;
	int layout; /* 1: pre-5.14 state, 2: __state; +10 pre-6.2 rss_stat, +20 percpu_counter */
} flavors_result;

SEC("tracepoint/sched/sched_process_exec")
int flavors_on_exec(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct___old *old_task = (void *)task;
	struct flavors_result *r = &flavors_result;

	if (bpf_core_field_exists(task->__state)) {
		r->state = BPF_CORE_READ(task, __state);
		r->layout = 2;
	} else if (bpf_core_field_exists(old_task->state)) {
		r->state = BPF_CORE_READ(old_task, state);
		r->layout = 1;
	}

	void *mm = BPF_CORE_READ(task, mm);
	if (bpf_core_type_exists(struct mm_rss_stat)) {
		struct mm_struct___pre62 *old_mm = mm;
		r->anon_pages = BPF_CORE_READ(old_mm, rss_stat.count[MM_ANONPAGES].counter);
		r->layout += 10;
	} else if (bpf_core_field_exists(((struct mm_struct___post62 *)mm)->rss_stat)) {
		/* Only true when the kernel's rss_stat is an array: an array never matches a struct. */
		struct mm_struct___post62 *new_mm = mm;
		r->anon_pages = BPF_CORE_READ(new_mm, rss_stat[MM_ANONPAGES].count);
		r->layout += 20;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
