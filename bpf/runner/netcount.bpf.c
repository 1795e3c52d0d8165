// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * netcount: an XDP program and a tc classifier that report each packet's interface, length and
 * the hook that saw it, to test btf-run --attach PROG=IFNAME and PROG=IFNAME:ingress|egress on a
 * veth pair. Both let every packet through (XDP_PASS, TC_ACT_OK).
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>

#define XDP_PASS 2
#define TC_ACT_OK 0
#define HOOK_XDP 1
#define HOOK_TC 2

/* The uapi contexts (linux/bpf.h), as far as the programs read them; not CO-RE: the verifier
 * rewrites context accesses itself. */
struct xdp_md {
	__u32 data;
	__u32 data_end;
	__u32 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
	__u32 egress_ifindex;
};

struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
	__u32 vlan_present;
	__u32 vlan_tci;
	__u32 vlan_proto;
	__u32 priority;
	__u32 ingress_ifindex;
	__u32 ifindex;
};

struct netcount_event {
	__u32 hook;
	__u32 ifindex;
	__u32 len;
};
struct netcount_event *netcount_event_type __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} packets SEC(".maps");

static __always_inline void report(__u32 hook, __u32 ifindex, __u32 len)
{
	struct netcount_event *event = bpf_ringbuf_reserve(&packets, sizeof(*event), 0);
	if (!event)
		return;
	event->hook = hook;
	event->ifindex = ifindex;
	event->len = len;
	bpf_ringbuf_submit(event, 0);
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	report(HOOK_XDP, ctx->ingress_ifindex, ctx->data_end - ctx->data);
	return XDP_PASS;
}

SEC("tc")
int tc_count(struct __sk_buff *skb)
{
	report(HOOK_TC, skb->ifindex, skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
