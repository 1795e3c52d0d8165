/* tcplife: TCP session lifetimes and bytes. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcplife_state, struct sock *sk, int oldstate, int newstate)
{
	struct tcp_sock *tp = (void *)sk;
	BENCH_SUBMIT(BPF_CORE_READ(tp, bytes_received) + BPF_CORE_READ(tp, bytes_acked)
		     + BPF_CORE_READ(sk, __sk_common.skc_num) + BPF_CORE_READ(sk, __sk_common.skc_dport));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
