// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * uprobe_calls: a bare SEC("uprobe") and a bare SEC("uretprobe") program. Their sections name no
 * target, so libbpf cannot attach them by itself: `btf-run --attach PROGRAM=BINARY:FUNCTION`
 * gives them one. Each sends the caller's tgid (a CO-RE read of task->tgid), a marker telling
 * entry from return, and the probed function's first argument (entry) or return value (return)
 * through a ring buffer. The end-to-end tests attach both to a tiny C program's function and
 * check the pid, the argument and the return value.
 * Built for x86 (the argument and return value come from pt_regs.di and pt_regs.ax, CO-RE reads
 * like any other member): against arm64 BTF those relocations fail by design.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define UPROBE_CALLS_ENTRY 1
#define UPROBE_CALLS_RETURN 2

/* The record; user space decodes it from the object's BTF: --event-type uprobe_calls_event. */
struct uprobe_calls_event {
	int pid;          /* task->tgid of the caller */
	int marker;       /* UPROBE_CALLS_ENTRY or UPROBE_CALLS_RETURN */
	long long value;  /* the first argument at entry, the return value at return */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} uprobe_calls_events SEC(".maps");

/* Puts struct uprobe_calls_event into the object's BTF (see execsnoop.bpf.c). */
struct uprobe_calls_event *uprobe_calls_event_type __attribute__((unused));

static __always_inline int send(int marker, long long value)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct uprobe_calls_event *event = bpf_ringbuf_reserve(&uprobe_calls_events, sizeof(*event), 0);
	if (!event)
		return 0;
	event->pid = BPF_CORE_READ(task, tgid);
	event->marker = marker;
	event->value = value;
	bpf_ringbuf_submit(event, 0);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(uprobe_calls_entry, int x)
{
	return send(UPROBE_CALLS_ENTRY, x);
}

SEC("uretprobe")
int BPF_KRETPROBE(uprobe_calls_return, int result)
{
	return send(UPROBE_CALLS_RETURN, result);
}

char LICENSE[] SEC("license") = "GPL";
