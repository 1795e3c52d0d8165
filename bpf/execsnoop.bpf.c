// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * execsnoop: on every execve(), send the parent's tgid, the caller's tgid and its command name
 * (the name before exec replaces it: the tracepoint fires on entry) to user space through a ring
 * buffer. This is the program the end-to-end tests load on a kernel that "has no BTF": its three
 * CO-RE reads (task->real_parent->tgid, task->tgid, task->comm) must be relocated from the
 * embedded, trimmed BTF and give the same values as with the kernel's own.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "execsnoop.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Puts struct execsnoop_event into the object's BTF (a type used only through a local pointer is
 * not emitted), so that user space can decode records from the object itself:
 * btf-run execsnoop.bpf.o --event-type execsnoop_event. */
struct execsnoop_event *execsnoop_event_type __attribute__((unused));

SEC("tracepoint/syscalls/sys_enter_execve")
int execsnoop_enter_execve(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct execsnoop_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event)
		return 0;
	event->ppid = BPF_CORE_READ(task, real_parent, tgid);
	event->pid = BPF_CORE_READ(task, tgid);
	BPF_CORE_READ_STR_INTO(&event->comm, task, comm);
	bpf_ringbuf_submit(event, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
