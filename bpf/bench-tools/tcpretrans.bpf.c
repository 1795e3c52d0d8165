/* tcpretrans: TCP retransmissions with the congestion state. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcpretrans_skb, struct sock *sk, struct sk_buff *skb)
{
	struct inet_connection_sock *icsk = (void *)sk;
	struct tcp_sock *tp = (void *)sk;
	BENCH_SUBMIT(BPF_CORE_READ(icsk, icsk_ca_state) + BPF_CORE_READ(icsk, icsk_retransmits) + BPF_CORE_READ(tp, total_retrans)
		     + BPF_CORE_READ(skb, len) + bpf_core_enum_value(enum tcp_ca_state, TCP_CA_Loss));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
