/* Kind mixes and compatibility corners: ENUM vs ENUM64 candidates, function-pointer typedefs
 * (type compatibility through FUNC_PROTO), array typedef sizes, type_matches through pointers to
 * forward declarations, enum-typed fields whose enum names differ (incompatible), floats,
 * modifiers on fields, signed enums. */
#include "common.h"

#ifndef TARGET
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

#ifdef TARGET
enum mixed { M_A = 5, M_BIG = 6 };                   /* a 32-bit ENUM in the target */
typedef int (*handler_t)(int, int);
typedef int (*arity_t)(int, int, int);
typedef int arr_t[8];
struct opaque;                                        /* only declared: a FWD */
union opaque_union { int x; };
enum left { L_ONE = 1 };
enum signed_enum { SE_NEG = -1, SE_POS = 1 };
#else
enum mixed { M_A = 1, M_BIG = 0x100000000ULL };       /* an ENUM64 locally */
typedef int (*handler_t)(int, long);
typedef int (*arity_t)(int, int);
typedef int arr_t[4];
struct opaque { int x; };
union opaque_union { int x; };
enum right { R_ONE = 1 };
enum signed_enum { SE_NEG = -1, SE_POS = 1 };
#endif

struct holder {
	struct opaque *o;
	union opaque_union *u;
#ifdef TARGET
	enum left e;
	double fl;
	const volatile unsigned long cv;
#else
	enum right e;
	float fl;
	unsigned long cv;
#endif
	enum signed_enum se;
	enum mixed m;
};

#ifdef TARGET
struct holder g_holder;
handler_t g_handler;
arity_t g_arity;
arr_t g_arr;
enum mixed g_mixed;
#else
#pragma clang attribute pop
__u64 sink;

SEC("tracepoint/syscalls/sys_enter_getpid")
int mixes(void *ctx)
{
	struct holder *h = (void *)bpf_get_current_task();

	SINK(bpf_core_enum_value(enum mixed, M_A));
	SINK(bpf_core_enum_value_exists(enum mixed, M_BIG));
	SINK(bpf_core_type_exists(enum mixed));
	SINK(bpf_core_type_matches(enum mixed));
	SINK(bpf_core_type_exists(handler_t));
	SINK(bpf_core_type_exists(arity_t));
	SINK(bpf_core_type_size(arr_t));
	SINK(bpf_core_type_matches(handler_t));
	SINK(bpf_core_type_matches(struct holder));
	SINK(bpf_core_field_exists(h->e));
	SINK(bpf_core_field_size(h->fl));
	SINK(BPF_CORE_READ(h, cv));
	SINK(CORE_FIELD_SIGNED(h->se));
	SINK(CORE_FIELD_SIGNED(h->m));
	SINK(bpf_core_field_size(h->m));
	SINK(BPF_CORE_READ(h, o, x));
	return 0;
}
#endif
