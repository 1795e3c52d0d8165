// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * hello: libbpf-bootstrap's "minimal" shape: no map, only bpf_printk on every execve. Its output
 * is in tracefs's trace_pipe, which btf-run streams.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>

SEC("raw_tp/sys_enter")
int hello_enter(unsigned long long *ctx)
{
	if (ctx[1] != 59 /* execve */)
		return 0;
	bpf_printk("btfkit hello from pid %d", bpf_get_current_pid_tgid() >> 32);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
