/* Depth limits (BPF_CORE_SPEC_MAX_LEN = 64): a local access string of more than 64 steps, and a
 * target whose field hides behind more anonymous structs than a target spec can record. Both
 * are errors in libbpf. Shallow accesses to the same types still work. Generated nesting. */
#include "common.h"

#ifndef TARGET
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

struct deep_70 { int v; };
struct deep_69 { int v; struct deep_70 n; };
struct deep_68 { int v; struct deep_69 n; };
struct deep_67 { int v; struct deep_68 n; };
struct deep_66 { int v; struct deep_67 n; };
struct deep_65 { int v; struct deep_66 n; };
struct deep_64 { int v; struct deep_65 n; };
struct deep_63 { int v; struct deep_64 n; };
struct deep_62 { int v; struct deep_63 n; };
struct deep_61 { int v; struct deep_62 n; };
struct deep_60 { int v; struct deep_61 n; };
struct deep_59 { int v; struct deep_60 n; };
struct deep_58 { int v; struct deep_59 n; };
struct deep_57 { int v; struct deep_58 n; };
struct deep_56 { int v; struct deep_57 n; };
struct deep_55 { int v; struct deep_56 n; };
struct deep_54 { int v; struct deep_55 n; };
struct deep_53 { int v; struct deep_54 n; };
struct deep_52 { int v; struct deep_53 n; };
struct deep_51 { int v; struct deep_52 n; };
struct deep_50 { int v; struct deep_51 n; };
struct deep_49 { int v; struct deep_50 n; };
struct deep_48 { int v; struct deep_49 n; };
struct deep_47 { int v; struct deep_48 n; };
struct deep_46 { int v; struct deep_47 n; };
struct deep_45 { int v; struct deep_46 n; };
struct deep_44 { int v; struct deep_45 n; };
struct deep_43 { int v; struct deep_44 n; };
struct deep_42 { int v; struct deep_43 n; };
struct deep_41 { int v; struct deep_42 n; };
struct deep_40 { int v; struct deep_41 n; };
struct deep_39 { int v; struct deep_40 n; };
struct deep_38 { int v; struct deep_39 n; };
struct deep_37 { int v; struct deep_38 n; };
struct deep_36 { int v; struct deep_37 n; };
struct deep_35 { int v; struct deep_36 n; };
struct deep_34 { int v; struct deep_35 n; };
struct deep_33 { int v; struct deep_34 n; };
struct deep_32 { int v; struct deep_33 n; };
struct deep_31 { int v; struct deep_32 n; };
struct deep_30 { int v; struct deep_31 n; };
struct deep_29 { int v; struct deep_30 n; };
struct deep_28 { int v; struct deep_29 n; };
struct deep_27 { int v; struct deep_28 n; };
struct deep_26 { int v; struct deep_27 n; };
struct deep_25 { int v; struct deep_26 n; };
struct deep_24 { int v; struct deep_25 n; };
struct deep_23 { int v; struct deep_24 n; };
struct deep_22 { int v; struct deep_23 n; };
struct deep_21 { int v; struct deep_22 n; };
struct deep_20 { int v; struct deep_21 n; };
struct deep_19 { int v; struct deep_20 n; };
struct deep_18 { int v; struct deep_19 n; };
struct deep_17 { int v; struct deep_18 n; };
struct deep_16 { int v; struct deep_17 n; };
struct deep_15 { int v; struct deep_16 n; };
struct deep_14 { int v; struct deep_15 n; };
struct deep_13 { int v; struct deep_14 n; };
struct deep_12 { int v; struct deep_13 n; };
struct deep_11 { int v; struct deep_12 n; };
struct deep_10 { int v; struct deep_11 n; };
struct deep_9 { int v; struct deep_10 n; };
struct deep_8 { int v; struct deep_9 n; };
struct deep_7 { int v; struct deep_8 n; };
struct deep_6 { int v; struct deep_7 n; };
struct deep_5 { int v; struct deep_6 n; };
struct deep_4 { int v; struct deep_5 n; };
struct deep_3 { int v; struct deep_4 n; };
struct deep_2 { int v; struct deep_3 n; };
struct deep_1 { int v; struct deep_2 n; };
struct deep_0 { int v; struct deep_1 n; };

#ifdef TARGET
struct hidden { int w; struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { struct { int v; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; }; };
#else
struct hidden { int w; int v; };
#endif

#ifdef TARGET
struct deep_0 g_deep;
struct hidden g_hidden;
#else
#pragma clang attribute pop
__u64 sink;

SEC("tracepoint/syscalls/sys_enter_getpid")
int deep_local(void *ctx)
{
	struct deep_0 *d = (void *)bpf_get_current_task();

	SINK(bpf_core_field_exists(d->n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.n.v));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int shallow_local(void *ctx)
{
	struct deep_0 *d = (void *)bpf_get_current_task();

	SINK(bpf_core_field_exists(d->n.n.v));
	SINK(BPF_CORE_READ(d, n.v));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getuid")
int deep_target(void *ctx)
{
	struct hidden *h = (void *)bpf_get_current_task();

	SINK(BPF_CORE_READ(h, w));
	SINK(BPF_CORE_READ(h, v));
	return 0;
}
#endif
