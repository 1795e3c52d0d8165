/* tcprtt: smoothed round-trip times of TCP sockets. */
// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "bench_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

BENCH_EVENTS(events);

SEC("fentry/tcp_rcv_established")
int BPF_PROG(tcprtt_established, struct sock *sk)
{
	struct tcp_sock *ts = (void *)sk;
	BENCH_SUBMIT(BPF_CORE_READ(ts, srtt_us) + BPF_CORE_READ(ts, mdev_us) + BPF_CORE_READ(sk, __sk_common.skc_daddr));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
