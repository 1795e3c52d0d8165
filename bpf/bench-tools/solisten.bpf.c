/* solisten: sockets that start listening, with backlog and port. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("kprobe/inet_listen")
int BPF_KPROBE(solisten_listen, void *sock, int backlog)
{
	struct sock *sk = (void *)0;
	struct inet_sock *inet = (void *)sk;
	BENCH_SUBMIT(backlog + BPF_CORE_READ(sk, __sk_common.skc_family) + BPF_CORE_READ(sk, sk_protocol)
		     + BPF_CORE_READ(inet, inet_sport) + BPF_CORE_READ(sk, __sk_common.skc_num));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
