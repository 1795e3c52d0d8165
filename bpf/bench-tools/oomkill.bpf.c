/* oomkill: the task the OOM killer chose and why. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("kprobe/oom_kill_process")
int BPF_KPROBE(oomkill_kill, struct oom_control *oc, const char *message)
{
	struct task_struct *chosen = BPF_CORE_READ(oc, chosen);
	char comm[16];
	BPF_CORE_READ_STR_INTO(&comm, chosen, comm);
	BENCH_SUBMIT(BPF_CORE_READ(oc, totalpages) + BPF_CORE_READ(chosen, tgid) + BPF_CORE_READ(oc, order) + comm[0]);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
