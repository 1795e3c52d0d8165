/* opensnoop: open() calls with flags, mode and result. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tracepoint/syscalls/sys_enter_openat")
int opensnoop_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	uid_t uid = BPF_CORE_READ(task, cred, uid.val);
	BENCH_SUBMIT(BPF_CORE_READ(ctx, args[2]) + BPF_CORE_READ(ctx, args[3]) + uid + BPF_CORE_READ(task, tgid));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int opensnoop_exit(struct trace_event_raw_sys_exit *ctx)
{
	BENCH_SUBMIT(BPF_CORE_READ(ctx, ret));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
