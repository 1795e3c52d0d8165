/* Type and enum relocations: type_exists, type_size, type_id_local/target, type_matches (matching
 * and not), enumerator existence and value for ENUM and ENUM64, flavors, values that move. */
#include "common.h"

struct present {
	int a;
#ifdef TARGET
	int grown[3];
#endif
};

struct absent_locally_only {
	int a;
};

typedef struct present present_t;

/* type_matches: same members (the target adds one), differing member type, union vs struct. */
struct tm_same {
	int a;
	struct present *p;
#ifdef TARGET
	long extra;
#endif
};

struct tm_int_size {
#ifdef TARGET
	long a;
#else
	int a;
#endif
};

#ifdef TARGET
union tm_kind {
	int a;
};
#else
struct tm_kind {
	int a;
};
#endif

enum color {
#ifdef TARGET
	COLOR_BLACK = 7,
#endif
	COLOR_RED,
	COLOR_GREEN = 100,
#ifndef TARGET
	COLOR_GONE,
#endif
};

enum big {
	BIG_SMALL = 1,
	BIG_HUGE = 0x1234567890ULL,
#ifdef TARGET
	BIG_NEG = -5LL,
#endif
};

#ifdef TARGET
enum flavored_enum {
	FE_ONE = 11,
	FE_TWO = 22,
};
/* A 32-bit unsigned enum with a value whose top bit is set: libbpf reads it sign-extended. */
enum high_bit {
	HB_TOP = 0x80000001u,
};
#else
enum flavored_enum___local {
	FE_ONE___local = 1,
	FE_TWO = 2,
};
enum high_bit {
	HB_TOP = 1,
};
#endif

#ifdef TARGET
struct present g_present;
present_t g_present_t;
struct tm_same g_tm_same;
struct tm_int_size g_tm_int_size;
union tm_kind g_tm_kind;
enum color g_color;
enum big g_big;
enum flavored_enum g_flavored_enum;
enum high_bit g_high_bit;
#else
__u64 sink;

SEC("tracepoint/syscalls/sys_enter_getpid")
int types(void *ctx)
{
	SINK(bpf_core_type_exists(struct present));
	SINK(bpf_core_type_exists(struct absent_locally_only));
	SINK(bpf_core_type_exists(present_t));
	SINK(bpf_core_type_size(struct present));
	SINK(bpf_core_type_size(present_t));
	SINK(bpf_core_type_size(struct absent_locally_only));
	SINK(bpf_core_type_id_local(struct present));
	SINK(bpf_core_type_id_kernel(struct present));
	SINK(bpf_core_type_id_kernel(struct absent_locally_only));
	SINK(bpf_core_type_matches(struct tm_same));
	SINK(bpf_core_type_matches(struct tm_int_size));
	SINK(bpf_core_type_matches(struct tm_kind));
	SINK(bpf_core_type_matches(enum color));
	SINK(bpf_core_type_matches(present_t));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int enums(void *ctx)
{
	SINK(bpf_core_enum_value_exists(enum color, COLOR_RED));
	SINK(bpf_core_enum_value_exists(enum color, COLOR_GONE));
	SINK(bpf_core_enum_value(enum color, COLOR_RED));
	SINK(bpf_core_enum_value(enum color, COLOR_GREEN));
	SINK(bpf_core_enum_value(enum big, BIG_HUGE));
	SINK(bpf_core_enum_value(enum big, BIG_SMALL));
	SINK(bpf_core_enum_value(enum flavored_enum___local, FE_ONE___local));
	SINK(bpf_core_enum_value(enum flavored_enum___local, FE_TWO));
	SINK(bpf_core_enum_value(enum high_bit, HB_TOP));
	if (bpf_core_enum_value_exists(enum color, COLOR_GONE))
		SINK(bpf_core_enum_value(enum color, COLOR_GONE));
	return 0;
}
#endif
