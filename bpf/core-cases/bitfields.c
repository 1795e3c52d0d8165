/* Bitfield relocations: byte offset and size of the smallest load, signedness, left/right shifts,
 * for signed and unsigned bitfields of various widths that move in the target, a bitfield that
 * becomes a plain field, and a bitfield too big for any 64-bit load in the target. */
#include "common.h"

#ifndef TARGET
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

struct flags {
#ifdef TARGET
	unsigned int lead:5;            /* shifts everything by 5 bits */
#endif
	unsigned int u3:3;
	int s7:7;
	unsigned long long u40:40;
	long long s33:33;
	unsigned char c2:2;
	enum { E_A, E_B } e4:4;
#ifdef TARGET
	unsigned int widened;           /* a bitfield locally, a plain field in the target */
#else
	unsigned int widened:12;
#endif
	short s16;                      /* a plain field locally */
};

/* Locally fine; in the target a 60-bit field starting at bit 8 spans 68 bits: no 64-bit load
 * covers it ("bitfield too big"). */
struct too_big {
#ifdef TARGET
	char x;
	unsigned long long wide:60;
} __attribute__((packed));
#else
	unsigned long long wide:60;
};
#endif

#ifdef TARGET
struct flags g_flags;
struct too_big g_too_big;
#else
#pragma clang attribute pop
__u64 sink;

SEC("tracepoint/syscalls/sys_enter_getpid")
int bitfields(void *ctx)
{
	struct flags *f = (void *)bpf_get_current_task();

	SINK(BPF_CORE_READ_BITFIELD_PROBED(f, u3));
	SINK(BPF_CORE_READ_BITFIELD_PROBED(f, s7));
	SINK(BPF_CORE_READ_BITFIELD_PROBED(f, u40));
	SINK(BPF_CORE_READ_BITFIELD_PROBED(f, s33));
	SINK(BPF_CORE_READ_BITFIELD_PROBED(f, c2));
	SINK(BPF_CORE_READ_BITFIELD_PROBED(f, e4));
	SINK(BPF_CORE_READ_BITFIELD_PROBED(f, widened));
	SINK(CORE_FIELD_SIGNED(f->s7));
	SINK(CORE_FIELD_SIGNED(f->e4));
	SINK(__builtin_preserve_field_info(f->s16, BPF_FIELD_LSHIFT_U64));
	SINK(__builtin_preserve_field_info(f->s16, BPF_FIELD_RSHIFT_U64));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int too_big(void *ctx)
{
	struct too_big *t = (void *)bpf_get_current_task();

	SINK(BPF_CORE_READ_BITFIELD_PROBED(t, wide));
	return 0;
}
#endif
