/* biostacks: the task and stack that issued each I/O. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("fentry/blk_account_io_start")
int BPF_PROG(biostacks_start, struct request *rq)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 key = BPF_CORE_READ(rq, __sector) ^ BPF_CORE_READ(task, tgid);
	dev_t dev = BPF_CORE_READ(rq, bio, bi_bdev, bd_dev);
	BENCH_SUBMIT(key + dev);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
