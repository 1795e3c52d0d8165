// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * task_fields: field relocations along long access paths. Nested pointer chains
 * (task->real_parent->real_parent->tgid, task->mm->exe_file->f_path.dentry->d_name.name), paths
 * through anonymous structs and unions (every mm_struct member, qstr's hash/len, file.f_path in
 * 6.18), array members and array elements (task->comm, comm[i], signal->rlim[RLIMIT_NOFILE]),
 * and the field queries bpf_core_field_exists / bpf_core_field_size / bpf_core_field_offset.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* Results land in .bss so the loader keeps every read alive. */
struct task_fields_result {
	int grandparent_tgid;
	unsigned long arg_start, arg_end, total_vm;
	unsigned int exe_name_len;
	char exe_name[32];
	char comm_first, comm_last;
	unsigned long nofile_soft, nofile_hard;
	unsigned int comm_size, rlim_size, uid;
	unsigned long tgid_offset, exe_file_offset;
	bool has_exe_file;
} task_fields_result;

SEC("tracepoint/sched/sched_process_exec")
int task_fields_on_exec(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_fields_result *r = &task_fields_result;

	/* Two pointer hops before the member. */
	r->grandparent_tgid = BPF_CORE_READ(task, real_parent, real_parent, tgid);

	/* mm_struct members all live inside its anonymous struct. */
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	r->arg_start = BPF_CORE_READ(mm, arg_start);
	r->arg_end = BPF_CORE_READ(mm, arg_end);
	r->total_vm = BPF_CORE_READ(mm, total_vm);

	/* Pointer, embedded struct, pointer, embedded struct, anonymous union/struct member. */
	if (bpf_core_field_exists(mm->exe_file)) {
		r->has_exe_file = true;
		r->exe_name_len = BPF_CORE_READ(mm, exe_file, f_path.dentry, d_name.len);
		const unsigned char *name = BPF_CORE_READ(mm, exe_file, f_path.dentry, d_name.name);
		bpf_probe_read_kernel_str(r->exe_name, sizeof(r->exe_name), name);
	}

	/* Array elements: first and last byte of comm, and one element of an array of structs. */
	r->comm_first = BPF_CORE_READ(task, comm[0]);
	r->comm_last = BPF_CORE_READ(task, comm[15]);
	r->nofile_soft = BPF_CORE_READ(task, signal, rlim[RLIMIT_NOFILE].rlim_cur);
	r->nofile_hard = BPF_CORE_READ(task, signal, rlim[RLIMIT_NOFILE].rlim_max);

	/* A typedef'd struct member (kuid_t) behind a const pointer. */
	r->uid = BPF_CORE_READ(task, cred, uid.val);

	/* Field queries: sizes and offsets as the kernel has them. */
	r->comm_size = bpf_core_field_size(task->comm);
	r->rlim_size = bpf_core_field_size(struct signal_struct, rlim);
	r->tgid_offset = bpf_core_field_offset(struct task_struct, tgid);
	r->exe_file_offset = bpf_core_field_offset(mm->exe_file);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
