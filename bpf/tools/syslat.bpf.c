// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * syslat: system call latency, in the shape of bcc's libbpf-tools (runqlat, syscount): a log2
 * histogram of latencies in microseconds, global (`hist`) and per process (`pid_hists`, whose
 * value carries the command name beside the slots), a counter table keyed by syscall id (`counts`)
 * and a per-CPU counter of calls (`calls_per_cpu`). Nothing is sent to user space: the results
 * sit in the maps, as in the real tools, and btf-run prints them.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>

#define MAX_SLOTS	26
#define TASK_COMM_LEN	16
#define MAX_ENTRIES	10240

enum {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
};

struct hist {
	__u32 slots[MAX_SLOTS];
	char comm[TASK_COMM_LEN];
};

struct start_t {
	__u64 ts;
	__u32 id;
};

struct data_t {
	__u64 count;
	__u64 total_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ENTRIES);
	__type(key, __u32);
	__type(value, struct start_t);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hist);
} hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ENTRIES);
	__type(key, __u32);
	__type(value, struct hist);
} pid_hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct data_t);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} calls_per_cpu SEC(".maps");

static struct hist zero;

/* bcc's log2l: the index of the highest set bit. */
static __always_inline __u64 log2l(__u64 v)
{
	__u64 r = 0;
	for (int i = 32; i > 0; i >>= 1) {
		if (v >= (1ULL << i)) {
			v >>= i;
			r += i;
		}
	}
	return r;
}

static __always_inline void record(struct hist *h, __u64 slot)
{
	if (slot >= MAX_SLOTS)
		slot = MAX_SLOTS - 1;
	__sync_fetch_and_add(&h->slots[slot], 1);
}

SEC("raw_tp/sys_enter")
int syslat_enter(unsigned long long *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct start_t s = { .ts = bpf_ktime_get_ns(), .id = (__u32)ctx[1] };

	bpf_map_update_elem(&start, &tid, &s, 0);
	return 0;
}

SEC("raw_tp/sys_exit")
int syslat_exit(unsigned long long *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, pid = pid_tgid >> 32, key = 0;
	struct start_t *s = bpf_map_lookup_elem(&start, &tid);
	struct data_t *data, fresh = {};
	struct hist *h;
	__u64 delta, slot, *calls;

	if (!s)
		return 0;
	delta = bpf_ktime_get_ns() - s->ts;
	slot = log2l(delta / 1000);

	h = bpf_map_lookup_elem(&hist, &key);
	if (h)
		record(h, slot);

	h = bpf_map_lookup_elem(&pid_hists, &pid);
	if (!h) {
		bpf_map_update_elem(&pid_hists, &pid, &zero, 1 /* BPF_NOEXIST */);
		h = bpf_map_lookup_elem(&pid_hists, &pid);
		if (!h)
			goto counts;
		bpf_get_current_comm(&h->comm, sizeof(h->comm));
	}
	record(h, slot);

counts:
	data = bpf_map_lookup_elem(&counts, &s->id);
	if (!data) {
		bpf_map_update_elem(&counts, &s->id, &fresh, 1 /* BPF_NOEXIST */);
		data = bpf_map_lookup_elem(&counts, &s->id);
	}
	if (data) {
		__sync_fetch_and_add(&data->count, 1);
		__sync_fetch_and_add(&data->total_ns, delta);
	}
	calls = bpf_map_lookup_elem(&calls_per_cpu, &key);
	if (calls)
		*calls += 1;
	bpf_map_delete_elem(&start, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
