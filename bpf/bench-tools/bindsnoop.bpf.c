/* bindsnoop: bind() calls with the socket's options. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("kprobe/inet_bind")
int BPF_KPROBE(bindsnoop_bind, void *sock)
{
	struct sock *sk = (void *)0;
	struct sock___bench *s = (void *)sk;
	BENCH_SUBMIT(BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_reuse)
		     + BPF_CORE_READ_BITFIELD_PROBED(&sk->__sk_common, skc_reuseport)
		     + BPF_CORE_READ(s, sk_mark) + BPF_CORE_READ(sk, sk_protocol));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
