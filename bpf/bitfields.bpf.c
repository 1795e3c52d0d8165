// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bitfields: BPF_CORE_READ_BITFIELD_PROBED on real kernel bitfields, which emits the byte_off,
 * byte_sz, lshift_u64, rshift_u64 and signed relocations together. task_struct's one-bit flags
 * (in_execve, sched_reset_on_fork, in_iowait), sock_common.skc_reuse (4 bits), and
 * sock.sk_protocol, a bitfield before 5.6 and a plain u16 since: the same macro reads both.
 * Members that later kernels dropped are guarded by bpf_core_field_exists. The socket fields
 * sit behind anonymous unions/structs (skc_dport, skc_daddr).
 * Built for x86 (the kprobe reads pt_regs.di): against arm64 BTF that relocation fails by design.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct bitfields_result {
	__u64 in_execve, sched_reset_on_fork, in_iowait;
	__u64 sk_protocol, skc_reuse;
	__u16 dport, family;
	__u32 daddr;
} bitfields_result;

SEC("tracepoint/sched/sched_process_exec")
int bitfields_task(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	/* in_execve was removed in 6.8 on some trees and may be gone elsewhere: guard it. */
	if (bpf_core_field_exists(task->in_execve))
		bitfields_result.in_execve = BPF_CORE_READ_BITFIELD_PROBED(task, in_execve);
	bitfields_result.sched_reset_on_fork = BPF_CORE_READ_BITFIELD_PROBED(task, sched_reset_on_fork);
	if (bpf_core_field_exists(task->in_iowait))
		bitfields_result.in_iowait = BPF_CORE_READ_BITFIELD_PROBED(task, in_iowait);
	return 0;
}

SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(bitfields_tcp_v4_connect, struct sock *sk)
{
	bitfields_result.sk_protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	bitfields_result.skc_reuse = BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_reuse);
	bitfields_result.dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	bitfields_result.daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	bitfields_result.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
