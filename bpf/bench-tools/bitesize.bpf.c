/* bitesize: I/O size histogram per process name. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tp_btf/block_rq_issue")
int BPF_PROG(bitesize_issue, struct request *rq)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	char comm[16];
	BPF_CORE_READ_STR_INTO(&comm, task, comm);
	BENCH_SUBMIT(BPF_CORE_READ(rq, __data_len) + comm[0]);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
