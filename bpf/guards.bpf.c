// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * guards: reads of fields, types and enumerators that exist on some kernels only, each behind a
 * guard of a different shape, as libbpf-tools write them (opensnoop's open_how, runqslower's
 * task_struct___o, biosnoop's flavours). libbpf poisons a read whose target is missing; the
 * verifier then rejects the program only if the poisoned instruction is reachable once the
 * relocated constants (existence checks, sizes, enumerator values) are known. One program per
 * shape, so the coverage report's per-program verdicts can be checked against the verifier.
 *
 * Kernel facts used: task_struct.__state since 5.14 (state before), struct open_how since 5.6,
 * enum bpf_func_id::BPF_FUNC_user_ringbuf_drain since 6.1.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___guards_old {
	long state;
} __attribute__((preserve_access_index));

struct open_how {
	__u64 flags;
	__u64 mode;
	__u64 resolve;
} __attribute__((preserve_access_index));

struct guards_result {
	long state;
	__u64 flags;
	__u64 value;
	int size;
} guards_result;

static __always_inline struct task_struct *current_task(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

/* if (bpf_core_field_exists(...)) with an else branch for the older layout. */
SEC("tracepoint/sched/sched_process_exec")
int guard_field_exists(void *ctx)
{
	struct task_struct *task = current_task();

	if (bpf_core_field_exists(task->__state))
		guards_result.state = BPF_CORE_READ(task, __state);
	else
		guards_result.state = BPF_CORE_READ((struct task_struct___guards_old *)task, state);
	return 0;
}

/* bpf_core_type_exists around a type only newer kernels have (opensnoop's openat2). */
SEC("tracepoint/syscalls/sys_enter_openat2")
int guard_type_exists(void *ctx)
{
	struct open_how *how = (void *)bpf_get_current_task();

	if (bpf_core_type_exists(struct open_how))
		guards_result.flags = BPF_CORE_READ(how, flags);
	return 0;
}

/* The same read without the guard: rejected before 5.6. */
SEC("tracepoint/syscalls/sys_enter_openat2")
int unguarded_type(void *ctx)
{
	struct open_how *how = (void *)bpf_get_current_task();

	guards_result.flags = BPF_CORE_READ(how, flags);
	return 0;
}

/* Unguarded reads of both layouts: rejected everywhere (one of them is always missing). */
SEC("tracepoint/sched/sched_process_exec")
int unguarded_both(void *ctx)
{
	struct task_struct *task = current_task();

	guards_result.state = BPF_CORE_READ(task, __state) + BPF_CORE_READ((struct task_struct___guards_old *)task, state);
	return 0;
}

/* enumval_exists before asking for the enumerator's value. */
SEC("tracepoint/sched/sched_process_exec")
int guard_enum_value(void *ctx)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_user_ringbuf_drain))
		guards_result.value = bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_user_ringbuf_drain);
	return 0;
}

/* bpf_core_field_size in arithmetic: the size is poisoned where the field is missing, and the
 * comparison on it is the guard. */
SEC("tracepoint/sched/sched_process_exec")
int guard_field_size(void *ctx)
{
	struct task_struct *task = current_task();
	int size = 0;

	if (bpf_core_field_exists(task->__state))
		size = bpf_core_field_size(task->__state) * 2 + 1;
	guards_result.size = size;
	if (size > 4)
		guards_result.state = BPF_CORE_READ(task, __state);
	return 0;
}

/* && and || chains of existence checks. */
SEC("tracepoint/sched/sched_process_exec")
int guard_and_chain(void *ctx)
{
	struct task_struct *task = current_task();
	struct open_how *how = (void *)task;

	if (bpf_core_field_exists(task->__state) && bpf_core_type_exists(struct open_how))
		guards_result.state = BPF_CORE_READ(task, __state) + BPF_CORE_READ(how, mode);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int guard_or_chain(void *ctx)
{
	struct task_struct *task = current_task();
	struct open_how *how = (void *)task;

	/* Wrong on purpose: || lets the read through on 5.6..5.13 (open_how but no __state). */
	if (bpf_core_type_exists(struct open_how) || bpf_core_field_exists(task->__state))
		guards_result.state = BPF_CORE_READ(task, __state) + BPF_CORE_READ(how, resolve);
	return 0;
}

/* The guard computed first, kept in a variable across helper calls (on the stack: volatile),
 * and tested later. */
SEC("tracepoint/sched/sched_process_exec")
int guard_in_variable(void *ctx)
{
	struct task_struct *task = current_task();
	volatile int has_state = bpf_core_field_exists(task->__state);
	volatile int has_old = bpf_core_field_exists(((struct task_struct___guards_old *)task)->state);

	guards_result.flags = bpf_ktime_get_ns();
	guards_result.value = bpf_get_current_pid_tgid();
	if (has_state)
		guards_result.state = BPF_CORE_READ(task, __state);
	else if (has_old)
		guards_result.state = BPF_CORE_READ((struct task_struct___guards_old *)task, state);
	return 0;
}

/* The guard inside a static subprogram. */
static __noinline long read_state(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return BPF_CORE_READ((struct task_struct___guards_old *)task, state);
}

/* The guard in the caller, passed as an argument to a static subprogram that reads. */
static __noinline long read_state_if(struct task_struct *task, int present)
{
	if (present)
		return BPF_CORE_READ(task, __state);
	return -1;
}

SEC("tracepoint/sched/sched_process_exec")
int guard_in_subprogram(void *ctx)
{
	struct task_struct *task = current_task();

	guards_result.state = read_state(task);
	guards_result.value = read_state_if(task, bpf_core_field_exists(task->__state));
	return 0;
}

/* The subprogram called without a guard: rejected where __state is missing. */
SEC("tracepoint/sched/sched_process_exec")
int unguarded_subprogram(void *ctx)
{
	guards_result.value = read_state_if(current_task(), 1);
	return 0;
}

/* A guarded read inside a bounded loop. */
SEC("tracepoint/sched/sched_process_exec")
int guard_in_loop(void *ctx)
{
	struct task_struct *task = current_task();
	long sum = 0;

#pragma clang loop unroll(disable)
	for (int i = 0; i < 8; i++) {
		if (bpf_core_field_exists(task->__state))
			sum += BPF_CORE_READ(task, __state);
		else
			sum += i;
		task = BPF_CORE_READ(task, real_parent);
	}
	guards_result.state = sum;
	return 0;
}

/* A global (non-static) function: the verifier checks it alone, so its guard must be inside.
 * (Its argument is a scalar: a global function may not take a pointer to an unsized kernel type.) */
__noinline int global_read_flags(__u64 task)
{
	struct open_how *how = (void *)task;

	if (bpf_core_type_exists(struct open_how))
		return BPF_CORE_READ(how, flags);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int guard_in_global_function(void *ctx)
{
	guards_result.flags = global_read_flags((__u64)current_task());
	return 0;
}

/* Guards on `const volatile` globals (.rodata), as real tools take their options: libbpf freezes
 * .rodata, so the verifier knows these values and prunes the branch they decide. Compiled values:
 * the pointer is 0 (the read is dead code), the flag is true (the read is live). */
const volatile __u64 guards_old_task_addr = 0;
const volatile bool guards_read_old_state = true;

SEC("tracepoint/sched/sched_process_exec")
int guard_rodata_pointer(void *ctx)
{
	struct task_struct___guards_old *old = (void *)guards_old_task_addr;

	if (old)
		guards_result.state = BPF_CORE_READ(old, state);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int guard_rodata_flag(void *ctx)
{
	struct task_struct *task = current_task();

	if (guards_read_old_state)
		guards_result.state = BPF_CORE_READ((struct task_struct___guards_old *)task, state);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
