// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * usdt_ticks: a USDT probe handler (libbpf's usdt.bpf.h, as bcc's libbpf-tools use for
 * javagc or the uprobe-based tools' USDT variants). btf-run attaches it with --attach
 * handle_tick=BINARY:btfkit:tick to a test program built with <sys/sdt.h> that fires
 * DTRACE_PROBE2(btfkit, tick, n, value); the record carries the caller's pid and both arguments.
 */
#include "kernel_types.h"

/* usdt.bpf.h's maps (uapi values). */
#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

struct usdt_tick_event {
	__u32 pid;
	__s32 n;
	__s64 value;
};
struct usdt_tick_event *usdt_tick_event_type __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} ticks SEC(".maps");

SEC("usdt")
int BPF_USDT(handle_tick, int n, long value)
{
	struct usdt_tick_event *event = bpf_ringbuf_reserve(&ticks, sizeof(*event), 0);
	if (!event)
		return 0;
	event->pid = bpf_get_current_pid_tgid() >> 32;
	event->n = n;
	event->value = value;
	bpf_ringbuf_submit(event, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
