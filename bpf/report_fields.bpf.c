// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * report_fields: reads that work on some kernels and not on others, for the coverage report
 * (btf-trim --report). Unlike flavors.bpf.c, most reads here are NOT guarded by an existence
 * check, so libbpf poisons them on the kernels that lack the field:
 * - task_struct.__state exists since 5.14, task_struct.state until 5.13 (poisoned elsewhere);
 * - kernfs_node.id was a union kernfs_node_id before 5.5 and a u64 since (a u64 read of the old
 *   union does not match: poisoned);
 * - enum bpf_func_id's BPF_FUNC_user_ringbuf_drain arrived in 6.1 (enum value poisoned before);
 * - struct mm_rss_stat is gone since 6.2 (type_exists is 0 there: an existence check, fine).
 * The existence checks beside them return 0 instead of poisoning.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___report_old {
	long state;
} __attribute__((preserve_access_index));

struct kernfs_node___report {
	__u64 id;
} __attribute__((preserve_access_index));

struct mm_rss_stat___report {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct report_fields_result {
	unsigned long new_state, old_state, kernfs_id, ringbuf_drain_id;
	int has_new_state, has_old_state, has_rss_stat_type;
} report_fields_result;

SEC("tracepoint/sched/sched_process_exec")
int report_fields_on_exec(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct___report_old *old_task = (void *)task;
	struct report_fields_result *r = &report_fields_result;

	/* Unguarded reads: poisoned on the kernels without the field. */
	r->new_state = BPF_CORE_READ(task, __state);
	r->old_state = BPF_CORE_READ(old_task, state);
	r->ringbuf_drain_id = bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_user_ringbuf_drain);

	/* Existence checks: 0 on the kernels without, never poisoned. */
	r->has_new_state = bpf_core_field_exists(task->__state);
	r->has_old_state = bpf_core_field_exists(old_task->state);
	r->has_rss_stat_type = bpf_core_type_exists(struct mm_rss_stat___report);
	return 0;
}

SEC("kprobe/kernfs_get")
int report_fields_kernfs_get(struct pt_regs *ctx)
{
	struct kernfs_node___report *kn = (void *)PT_REGS_PARM1(ctx);
	report_fields_result.kernfs_id = BPF_CORE_READ(kn, id);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
