// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * types_and_enums: the type-based and enum-based relocations. bpf_core_type_exists,
 * bpf_core_type_size, bpf_core_type_matches (struct, enum, typedef), bpf_core_type_id_kernel and
 * bpf_core_type_id_local; bpf_core_enum_value_exists and bpf_core_enum_value on a 32-bit ENUM
 * (pid_type, bpf_func_id) and on a 64-bit one (perf_callchain_context, BTF_KIND_ENUM64 locally).
 * The answers differ between kernels on purpose: mm_rss_stat is gone since 6.2,
 * BPF_FUNC_cgrp_storage_get arrived in 6.2, BPF_FUNC_user_ringbuf_drain in 6.1.
 *
 * bpf_core_type_matches(struct rlimit) is false on every gcc-built kernel, and that is the point:
 * type matching compares integer type names after skipping typedefs, and clang names the
 * local member type "unsigned long" where the kernel's BTF says "long unsigned int". A trimmed
 * BTF must reproduce that failure. list_head (pointers only), kuid_t (an anonymous struct of
 * unsigned int behind a typedef) and pid_type do match.
 *
 * bpf_core_type_id_kernel(struct task_struct) makes libbpf refuse this object on btfhub's
 * non-deduplicated 4.18/4.19 kernels ("relocation decision ambiguity": several task_struct copies
 * with different ids). That refusal is libbpf's answer too, and trimming must keep it.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct mm_rss_stat {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct types_and_enums_result {
	bool has_task_struct, has_mm_rss_stat;
	unsigned int task_struct_size, rlimit_size, mm_rss_stat_size;
	bool rlimit_matches, list_head_matches, pid_type_matches, kuid_matches;
	__u32 task_struct_kernel_id, task_struct_local_id;
	bool has_user_ringbuf_drain, has_cgrp_storage_get;
	__u64 pidtype_tgid, pidtype_max;
	bool has_perf_context_user;
	__u64 perf_context_user, perf_context_max;
} types_and_enums_result;

SEC("tracepoint/sched/sched_process_exec")
int types_and_enums_on_exec(void *ctx)
{
	struct types_and_enums_result *r = &types_and_enums_result;

	r->has_task_struct = bpf_core_type_exists(struct task_struct);
	r->task_struct_size = bpf_core_type_size(struct task_struct);
	r->rlimit_size = bpf_core_type_size(struct rlimit);
	r->has_mm_rss_stat = bpf_core_type_exists(struct mm_rss_stat);
	if (r->has_mm_rss_stat)
		r->mm_rss_stat_size = bpf_core_type_size(struct mm_rss_stat);

	r->rlimit_matches = bpf_core_type_matches(struct rlimit);
	r->list_head_matches = bpf_core_type_matches(struct list_head);
	r->pid_type_matches = bpf_core_type_matches(enum pid_type);
	r->kuid_matches = bpf_core_type_matches(kuid_t);

	r->task_struct_kernel_id = bpf_core_type_id_kernel(struct task_struct);
	r->task_struct_local_id = bpf_core_type_id_local(struct task_struct);

	r->has_user_ringbuf_drain = bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_user_ringbuf_drain);
	r->has_cgrp_storage_get = bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_cgrp_storage_get);
	r->pidtype_tgid = bpf_core_enum_value(enum pid_type, PIDTYPE_TGID);
	r->pidtype_max = bpf_core_enum_value(enum pid_type, PIDTYPE_MAX);

	r->has_perf_context_user = bpf_core_enum_value_exists(enum perf_callchain_context, PERF_CONTEXT_USER);
	if (r->has_perf_context_user) {
		r->perf_context_user = bpf_core_enum_value(enum perf_callchain_context, PERF_CONTEXT_USER);
		r->perf_context_max = bpf_core_enum_value(enum perf_callchain_context, PERF_CONTEXT_MAX);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
