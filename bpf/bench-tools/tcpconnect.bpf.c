/* tcpconnect: active TCP connections, IPv4 and IPv6. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(tcpconnect_v4, struct sock *sk)
{
	BENCH_SUBMIT(BPF_CORE_READ(sk, __sk_common.skc_daddr) + BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr)
		     + BPF_CORE_READ(sk, __sk_common.skc_dport));
	return 0;
}

SEC("kprobe/tcp_v6_connect")
int BPF_KPROBE(tcpconnect_v6, struct sock *sk)
{
	struct sock_common___bench *skc = (void *)sk;
	BENCH_SUBMIT(BPF_CORE_READ(skc, skc_v6_daddr.in6_u.u6_addr32[3]) + BPF_CORE_READ(sk, __sk_common.skc_dport));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
