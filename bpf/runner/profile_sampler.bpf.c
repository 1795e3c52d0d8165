// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * profile_sampler: a perf_event sampler in the style of bcc's libbpf-tools profile. btf-run
 * attaches it to a software cpu-clock event on every online CPU (--sample-freq). Each sample
 * records the CPU, the pid and the kernel stack's id in `stacks`, a stack-trace map declared with
 * value_size and max_entries 0: its loader sizes it (btf-run: 127 frames of 8 bytes).
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>

#define BPF_MAP_TYPE_STACK_TRACE 7

struct profile_sample {
	__u32 cpu;
	__u32 pid;
	__s32 kernel_stack;
	char comm[16];
};
struct profile_sample *profile_sample_type __attribute__((unused));

const volatile pid_t targ_pid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__type(key, __u32);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} samples SEC(".maps");

SEC("perf_event")
int do_sample(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (targ_pid && targ_pid != pid)
		return 0;
	struct profile_sample *sample = bpf_ringbuf_reserve(&samples, sizeof(*sample), 0);
	if (!sample)
		return 0;
	sample->cpu = bpf_get_smp_processor_id();
	sample->pid = pid;
	sample->kernel_stack = bpf_get_stackid(ctx, &stacks, 0);
	bpf_get_current_comm(&sample->comm, sizeof(sample->comm));
	bpf_ringbuf_submit(sample, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
