/* tcpconnlat: TCP connect latency. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("fentry/tcp_rcv_state_process")
int BPF_PROG(tcpconnlat_state, struct sock *sk)
{
	struct sock_common___bench *skc = (void *)sk;
	if (BPF_CORE_READ(skc, skc_state) != 2)
		return 0;
	BENCH_SUBMIT(BPF_CORE_READ(sk, __sk_common.skc_family) + BPF_CORE_READ(sk, __sk_common.skc_daddr));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
