// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * argsnoop: execsnoop's variable-length record, as bcc's libbpf-tools execsnoop sends it: the
 * command line is copied argument after argument (NUL-separated) into `args`, and only
 * offsetof(struct event, args) + args_size bytes are sent, so the record ends inside `args`.
 * Attached at raw_tp/sys_enter (no tracefs needed), filtered to execve.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define TASK_COMM_LEN		16
#define ARGSIZE			128
#define TOTAL_MAX_ARGS		20
#define FULL_MAX_ARGS_ARR	(TOTAL_MAX_ARGS * ARGSIZE)
#define LAST_ARG		(FULL_MAX_ARGS_ARR - ARGSIZE)
#define BASE_EVENT_SIZE		(__builtin_offsetof(struct event, args))
#define EVENT_SIZE(e)		(BASE_EVENT_SIZE + (e)->args_size)
#define NR_EXECVE		59

enum {
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
};

struct event {
	pid_t pid;
	pid_t ppid;
	uid_t uid;
	int args_count;
	unsigned int args_size;
	char comm[TASK_COMM_LEN];
	char args[FULL_MAX_ARGS_ARR];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} heap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("raw_tp/sys_enter")
int argsnoop_enter(unsigned long long *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx[0];
	struct task_struct *task;
	const char **argv, *argp;
	struct event *event;
	__u32 zero = 0;
	int ret;

	if (ctx[1] != NR_EXECVE)
		return 0;
	event = bpf_map_lookup_elem(&heap, &zero);
	if (!event)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	event->pid = bpf_get_current_pid_tgid() >> 32;
	event->ppid = BPF_CORE_READ(task, real_parent, tgid);
	event->uid = (__u32)bpf_get_current_uid_gid();
	event->args_count = 0;
	event->args_size = 0;
	bpf_get_current_comm(&event->comm, sizeof(event->comm));
	argv = (const char **)BPF_CORE_READ(regs, si);

	for (int i = 0; i < TOTAL_MAX_ARGS; i++) {
		if (bpf_probe_read_user(&argp, sizeof(argp), &argv[i]) || !argp)
			break;
		if (event->args_size > LAST_ARG)
			break;
		ret = bpf_probe_read_user_str(&event->args[event->args_size], ARGSIZE, argp);
		if (ret < 0)
			break;
		event->args_count++;
		event->args_size += ret;
	}
	if (EVENT_SIZE(event) <= sizeof(*event))
		bpf_ringbuf_output(&events, event, EVENT_SIZE(event), 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
