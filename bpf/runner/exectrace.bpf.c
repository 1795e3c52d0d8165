// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * exectrace: an exec tracer written the way bcc's libbpf-tools are (execsnoop, runqlat,
 * opensnoop, sigsnoop), to test btf-run's program plan, --set, map sizing and the ring buffer
 * fallback on one object:
 *
 * - three twins on sched_process_exec: tp_btf (needs the kernel's own BTF), raw_tp and tracepoint;
 *   exactly one may load, or every exec would be counted two or three times. Each marks its
 *   events with its own `source`.
 * - `const volatile` filters and options (targ_pid, targ_mode, targ_tag ...) set with --set; the
 *   record carries some of them back, so a test sees what the kernel saw.
 * - `events` is libbpf-tools' compat buffer: declared a ring buffer; the BPF side writes with
 *   bpf_perf_event_output where bpf_core_type_exists(struct bpf_ringbuf) is false (kernels
 *   before 5.8), and the loader then creates the map as a perf event array.
 * - `start` is sized by the loader (max_entries 0, keyed by pid), as runqlat's and cpudist's are.
 * - fentry/kprobe twins on do_nanosleep (this test machine runs neither).
 * - handle_openat2 reads struct open_how (5.6+) with CO-RE: against an older kernel's BTF the
 *   relocation is poisoned and the verifier rejects the program, as opensnoop's does.
 * - handle_missing names a tracepoint no kernel has; broken_exit is rejected by the verifier on
 *   every kernel (it dereferences a scalar). Neither may stop the others from loading.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_PERF_EVENT_ARRAY 4
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_F_CURRENT_CPU 0xffffffffULL

#define SOURCE_TP_BTF 1
#define SOURCE_RAW_TP 2
#define SOURCE_TRACEPOINT 3

enum exectrace_mode {
	MODE_ALL = 0,
	MODE_QUIET = 1,
	MODE_LOUD = 7,
};

struct exectrace_event {
	__u32 pid;
	__u32 source;
	enum exectrace_mode mode;
	__s16 bias;
	__u8 verbose;
	char tag[8];
	__u32 weights[3];
	char comm[16];
};
struct exectrace_event *exectrace_event_type __attribute__((unused));

/* Options, as libbpf-tools declare them: set from user space before load. */
const volatile pid_t targ_pid = 0;
const volatile enum exectrace_mode targ_mode = MODE_ALL;
const volatile char targ_tag[8] = "none";
const volatile __s16 targ_bias = -1;
const volatile bool targ_verbose = false;
const volatile __u64 min_ns = 1000;
const volatile __s8 targ_small = -3;
const volatile __u32 targ_weights[3] = { 1, 2, 3 };
typedef __u32 exectrace_cpu_t;
const volatile exectrace_cpu_t targ_cpu = 0xffffffff;
/* .data and .bss globals. */
int exec_budget = 100;
__u64 exec_count;

/* Where bpf_core_type_exists looks; the kernel defines it in kernel/bpf/ringbuf.c (5.8+). */
struct bpf_ringbuf {
	__u64 mask;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 0);
	__type(key, __u32);
	__type(value, __u64);
} start SEC(".maps");

/* libbpf-tools' compat.bpf.h: reserve in the ring buffer, or stage in a per-CPU slot for perf. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exectrace_event);
} heap SEC(".maps");

static __always_inline struct exectrace_event *reserve_buf(void)
{
	__u32 zero = 0;
	if (bpf_core_type_exists(struct bpf_ringbuf))
		return bpf_ringbuf_reserve(&events, sizeof(struct exectrace_event), 0);
	return bpf_map_lookup_elem(&heap, &zero);
}

static __always_inline void submit_buf(void *ctx, struct exectrace_event *event)
{
	if (bpf_core_type_exists(struct bpf_ringbuf)) {
		bpf_ringbuf_submit(event, 0);
		return;
	}
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, event, sizeof(*event));
}

static __always_inline int trace_exec(void *ctx, __u32 source)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u64 now = bpf_ktime_get_ns();

	if (targ_pid && targ_pid != pid)
		return 0;
	if (targ_mode == MODE_QUIET)
		return 0;
	bpf_map_update_elem(&start, &pid, &now, 0);
	__sync_fetch_and_add(&exec_count, 1);

	struct exectrace_event *event = reserve_buf();
	if (!event)
		return 0;
	event->pid = pid;
	event->source = source;
	event->mode = targ_mode;
	event->bias = targ_bias;
	event->verbose = targ_verbose;
	for (int i = 0; i < 8; i++)
		event->tag[i] = targ_tag[i];
	for (int i = 0; i < 3; i++)
		event->weights[i] = targ_weights[i];
	bpf_get_current_comm(&event->comm, sizeof(event->comm));
	submit_buf(ctx, event);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec_btf, struct task_struct *p, pid_t old_pid, void *bprm)
{
	return trace_exec(ctx, SOURCE_TP_BTF);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(handle_exec_raw, struct task_struct *p, pid_t old_pid, void *bprm)
{
	return trace_exec(ctx, SOURCE_RAW_TP);
}

SEC("tracepoint/sched/sched_process_exec")
int handle_exec_tp(void *ctx)
{
	return trace_exec(ctx, SOURCE_TRACEPOINT);
}

SEC("fentry/do_nanosleep")
int BPF_PROG(nanosleep_fentry)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	bpf_map_delete_elem(&start, &pid);
	return 0;
}

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(nanosleep_kprobe)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	bpf_map_delete_elem(&start, &pid);
	return 0;
}

/* struct open_how came with openat2 in 5.6. */
struct open_how {
	__u64 flags;
} __attribute__((preserve_access_index));

struct trace_event_raw_sys_enter {
	long id;
	unsigned long args[6];
} __attribute__((preserve_access_index));

SEC("tracepoint/syscalls/sys_enter_openat2")
int handle_openat2(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how *how = (struct open_how *)ctx->args[2];
	__u64 flags = BPF_CORE_READ_USER(how, flags);
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (flags == 0x12345678)
		bpf_map_update_elem(&start, &pid, &flags, 0);
	return 0;
}

SEC("tracepoint/btfkit/no_such_event")
int handle_missing(void *ctx)
{
	__sync_fetch_and_add(&exec_count, 1);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int broken_exit(void *ctx)
{
	/* A scalar used as a pointer: "invalid mem access 'scalar'" on every kernel. */
	unsigned long address = bpf_get_prandom_u32();
	return *(int *)address;
}

char LICENSE[] SEC("license") = "GPL";
