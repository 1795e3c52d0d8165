/* Field relocations: shifted layouts, added and removed fields, flavors, missing fields
 * (poisoned), existence, sizes that change (load size adjustment), signedness, anonymous
 * structs/unions, arrays, arrays of arrays and flexible arrays. */
#include "common.h"

#ifndef TARGET
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

struct inner {
	int a;
#ifdef TARGET
	long extra;
#endif
	int b;
};

struct sample {
#ifdef TARGET
	char pad[40];           /* everything moves by 40 bytes */
#endif
	int x;
	struct inner in;
	struct inner *ptr;
#ifndef TARGET
	int removed;            /* gone in the target: poisoned, exists = 0 */
#endif
	union {
		int u_int;
		struct {
#ifdef TARGET
			short before;
#endif
			short s_lo, s_hi;
		};
	};
	int matrix[3][4];
#ifdef TARGET
	unsigned long grows;    /* int locally, 8 bytes in the target */
	long signed_grows;      /* int locally, 8 bytes signed: unsafe load size change */
	unsigned short shrinks; /* int locally, 2 bytes unsigned */
	unsigned int sign_flip; /* signed locally */
#else
	unsigned int grows;
	int signed_grows;
	unsigned int shrinks;
	int sign_flip;
#endif
	char name[16];
	int count;
	struct inner tail[];    /* flexible array */
};

/* Flavors: the local ___v1 and ___v2 both look for "flavored" in the target. */
#ifdef TARGET
struct flavored {
	int old_name;
	int z;
};
#else
struct flavored___v1 {
	int old_name;
	int z;
};
struct flavored___v2 {
	int new_name;
	int z;
};
#endif

/* The target's field is an incompatible type: local int, target struct. */
struct incompatible {
#ifdef TARGET
	struct inner f;
#else
	int f;
#endif
	int g;
};

#ifdef TARGET
struct sample g_sample;
struct flavored g_flavored;
struct incompatible g_incompatible;
#else
#pragma clang attribute pop
__u64 sink;

SEC("tracepoint/syscalls/sys_enter_getpid")
int fields(void *ctx)
{
	struct sample *s = (void *)bpf_get_current_task();

	SINK(BPF_CORE_READ(s, x));
	SINK(BPF_CORE_READ(s, in.b));
	SINK(BPF_CORE_READ(s, ptr, b));
	SINK(BPF_CORE_READ(s, u_int));
	SINK(BPF_CORE_READ(s, s_hi));
	SINK(BPF_CORE_READ(s, matrix[2][3]));
	SINK(BPF_CORE_READ(s, name[5]));
	SINK(BPF_CORE_READ(s, tail[3].b));
	SINK(bpf_core_field_exists(s->removed));
	SINK(bpf_core_field_exists(s->count));
	SINK(bpf_core_field_size(s->grows));
	SINK(bpf_core_field_size(s->name));
	SINK(bpf_core_field_size(s->matrix[1]));
	SINK(bpf_core_field_offset(s->tail));
	SINK(CORE_FIELD_SIGNED(s->sign_flip));
	SINK(CORE_FIELD_SIGNED(s->x));
	if (bpf_core_field_exists(s->removed))
		SINK(BPF_CORE_READ(s, removed));
	return 0;
}

/* Direct loads (LDX) of fields whose size changes: patched with a new size, or poisoned. */
SEC("tp_btf/sys_enter")
int direct_loads(void *ctx)
{
	struct sample *s = (void *)bpf_get_current_task_btf();

	SINK(s->grows);
	SINK(s->shrinks);
	SINK(s->signed_grows);
	SINK(s->x);
	SINK(s->in.a);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int flavors(void *ctx)
{
	struct flavored___v1 *v1 = (void *)bpf_get_current_task();
	struct flavored___v2 *v2 = (void *)v1;
	struct incompatible *inc = (void *)v1;

	if (bpf_core_field_exists(v1->old_name))
		SINK(BPF_CORE_READ(v1, old_name));
	if (bpf_core_field_exists(v2->new_name))
		SINK(BPF_CORE_READ(v2, new_name));
	SINK(BPF_CORE_READ(v2, z));
	SINK(bpf_core_field_exists(inc->f));
	SINK(BPF_CORE_READ(inc, g));
	return 0;
}
#endif
