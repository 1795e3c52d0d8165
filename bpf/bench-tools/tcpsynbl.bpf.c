/* tcpsynbl: SYN backlog size. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("kprobe/tcp_v4_syn_recv_sock")
int BPF_KPROBE(tcpsynbl_recv, struct sock *sk)
{
	struct sock___bench *s = (void *)sk;
	BENCH_SUBMIT(BPF_CORE_READ(s, sk_ack_backlog) + BPF_CORE_READ(s, sk_max_ack_backlog));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
