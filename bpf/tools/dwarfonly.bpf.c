// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * dwarfonly: an event struct that only DWARF describes, as in most of bcc's libbpf-tools: the
 * record is built in a local variable and sent with bpf_ringbuf_output, so clang emits no BTF
 * for struct event (BTF covers only types reachable from globals, maps and function
 * signatures). Built with -DEXPORT_EVENT, the one-line export puts the same type into BTF, so a
 * test can compare both ways of decoding. Nested structs, a union, 1- and 2-dimensional arrays,
 * an enum, bitfields and typedefs.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>

enum phase { PHASE_ENTER = 1, PHASE_EXIT = 2, PHASE_NEGATIVE = -3 };

typedef __u16 port_t;

struct endpoint {
	__u32 addr[4];
	port_t port;
};

struct event {
	__u64 ts_ns;
	pid_t pid;
	enum phase phase;
	struct endpoint src, dst;
	union {
		__u32 raw;
		struct { __u16 lo, hi; } half;
	} u;
	unsigned int is_ipv6 : 1, proto : 7, state : 4, : 4, window : 16;
	int delta : 5;
	short matrix[2][3];
	char comm[16];
};

#ifdef EXPORT_EVENT
struct event *unused_event __attribute__((unused));
#endif

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

SEC("raw_tp/sys_enter")
int dwarfonly_enter(unsigned long long *ctx)
{
	struct event e = {};

	if (ctx[1] != 59 /* execve */)
		return 0;
	e.ts_ns = bpf_ktime_get_ns();
	e.pid = bpf_get_current_pid_tgid() >> 32;
	e.phase = PHASE_ENTER;
	e.src.addr[0] = 0x0100007f;
	e.src.port = 4242;
	e.dst.port = 80;
	e.u.half.lo = 1;
	e.u.half.hi = 2;
	e.is_ipv6 = 1;
	e.proto = 6;
	e.state = 10;
	e.window = 65000;
	e.delta = -7;
	e.matrix[1][2] = -5;
	bpf_get_current_comm(&e.comm, sizeof(e.comm));
	bpf_ringbuf_output(&events, &e, sizeof(e), 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
