/* Candidate handling: several flavors that agree, flavors that disagree on the offset ("field
 * offset ambiguity") or on the value ("relocation decision ambiguity"), candidates pruned by an
 * earlier relocation of the same local type, and an anonymous local root type (an error). */
#include "common.h"

#ifndef TARGET
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

#ifdef TARGET
struct dup___a { int pad; int f; };
struct dup___b { int pad; int f; };
struct amb___a { int pad; int f; };
struct amb___b { int f; };
struct dec___a { long f; };
struct dec___b { int f; };
struct prune___a { int a; };
struct prune___b { int b; };
/* Odd flavor separators: only the last X___Y (X, Y not '_') counts. */
struct two___flavors { int f; };
struct two { int pad; int f; };
struct quad { int f; };
struct quad____x { int pad; int f; };
struct ___lead { int pad; int f; };
struct trail___ { int pad; int pad2; int f; };
#else
struct dup { int f; };
struct amb { int f; };
struct dec { int f; };
struct prune { int a; int b; };
struct two___flavors___x { int f; };
struct quad____x___y { int f; };
struct ___lead { int f; };
struct trail___ { int f; };
#endif

#ifdef TARGET
struct dup___a g_dup_a;
struct dup___b g_dup_b;
struct amb___a g_amb_a;
struct amb___b g_amb_b;
struct dec___a g_dec_a;
struct dec___b g_dec_b;
struct prune___a g_prune_a;
struct prune___b g_prune_b;
struct two___flavors g_two_flavors;
struct two g_two;
struct quad g_quad;
struct quad____x g_quad_x;
struct ___lead g_lead;
struct trail___ g_trail;
#else
#pragma clang attribute pop
__u64 sink;

SEC("tracepoint/syscalls/sys_enter_getpid")
int agreeing(void *ctx)
{
	struct dup *d = (void *)bpf_get_current_task();

	SINK(BPF_CORE_READ(d, f));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int offset_ambiguity(void *ctx)
{
	struct amb *a = (void *)bpf_get_current_task();

	SINK(BPF_CORE_READ(a, f));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getuid")
int decision_ambiguity(void *ctx)
{
	struct dec *d = (void *)bpf_get_current_task();

	SINK(bpf_core_field_size(d->f));
	return 0;
}

/* prune___a is the only candidate with 'a': after this relocation the cache holds only it. */
SEC("tracepoint/syscalls/sys_enter_getgid")
int prune_first(void *ctx)
{
	struct prune *p = (void *)bpf_get_current_task();

	SINK(BPF_CORE_READ(p, a));
	return 0;
}

/* ... so 'b' (only in prune___b) is not found any more. */
SEC("tracepoint/syscalls/sys_enter_geteuid")
int prune_second(void *ctx)
{
	struct prune *p = (void *)bpf_get_current_task();

	SINK(bpf_core_field_exists(p->b));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_gettid")
int odd_names(void *ctx)
{
	struct two___flavors___x *t = (void *)bpf_get_current_task();
	struct quad____x___y *q = (void *)t;
	struct ___lead *l = (void *)t;
	struct trail___ *r = (void *)t;

	SINK(bpf_core_field_exists(t->f));
	SINK(BPF_CORE_READ(q, f));
	SINK(BPF_CORE_READ(l, f));
	SINK(BPF_CORE_READ(r, f));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getegid")
int anonymous_root(void *ctx)
{
	struct { int x; int y; } __attribute__((preserve_access_index)) *p = (void *)bpf_get_current_task();

	SINK(BPF_CORE_READ(p, y));
	return 0;
}
#endif
