// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * nf_conntrack: CO-RE reads of types that live in a kernel module's BTF (nf_conntrack.ko), next to
 * vmlinux types, in the style of a libbpf-tools conntrack tool. On a running kernel libbpf finds
 * module types in /sys/kernel/btf/nf_conntrack; with btf_custom_path it has one file, so that file
 * must hold the module's types too (btf-trim --module).
 *
 * - struct nf_conntrack_helper, nf_conntrack_l4proto, nf_conntrack_net: defined only in the module
 *   (vmlinux has at most a forward declaration), so their candidates come from the module;
 * - helper->tuple.dst.protonum: a path from a module struct into vmlinux's nf_conntrack_tuple;
 * - struct nf_conn: a vmlinux struct;
 * - struct file_system_type: in vmlinux *and* duplicated in the module's BTF; libbpf takes
 *   vmlinux's candidate and never looks at the module's;
 * - enum nf_ct_helper_flags: a module enum; enum ip_conntrack_status: a vmlinux enum.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
struct nf_conntrack_man_proto { __u16 all; };
struct nf_conntrack_tuple {
	struct {
		__u16 l3num;
	} src;
	struct {
		__u8 protonum;
		__u8 dir;
	} dst;
};
struct nf_conntrack_helper {
	char name[16];
	struct nf_conntrack_tuple tuple;
	unsigned int expect_class_max;
	unsigned int flags;
	__u16 data_len;
	char nat_mod_name[16];
};
struct nf_conntrack_l4proto {
	__u8 l4proto;
	bool allow_clash;
	__u16 nlattr_size;
};
struct nf_conntrack_net {
	unsigned int expect_count;
	unsigned int users4;
};
struct nf_conn {
	unsigned long status;
	__u32 mark;
};
struct file_system_type {
	const char *name;
	int fs_flags;
};
#pragma clang attribute pop

enum nf_ct_helper_flags {
	NF_CT_HELPER_F_USERSPACE = 1,
	NF_CT_HELPER_F_CONFIGURED = 2,
};
enum ip_conntrack_status {
	IPS_CONFIRMED_BIT = 3,
};

/* Filled in by user space before load: the objects to read (a tool would find them in kallsyms). */
const volatile __u64 helper_addr = 0;
const volatile __u64 l4proto_addr = 0;
const volatile __u64 conn_addr = 0;
const volatile __u64 fs_type_addr = 0;

struct conntrack_info {
	char helper_name[16];
	__u16 helper_data_len;
	__u8 helper_protonum;
	unsigned int helper_flags;
	bool has_nat_mod_name;
	__u32 helper_name_size;
	__u8 l4proto;
	__u16 nlattr_size;
	bool has_conntrack_net;
	__u32 net_users4_offset;
	unsigned long conn_status;
	__u32 conn_mark;
	const char *fs_name;
	__u64 userspace_flag, configured_flag_exists, confirmed_bit;
} conntrack_info;

SEC("tracepoint/sched/sched_process_exec")
int conntrack_on_exec(void *ctx)
{
	struct nf_conntrack_helper *helper = (void *)helper_addr;
	struct nf_conntrack_l4proto *l4proto = (void *)l4proto_addr;
	struct nf_conn *conn = (void *)conn_addr;
	struct file_system_type *fs_type = (void *)fs_type_addr;
	struct conntrack_info *info = &conntrack_info;

	if (helper) {
		BPF_CORE_READ_STR_INTO(&info->helper_name, helper, name);
		info->helper_data_len = BPF_CORE_READ(helper, data_len);
		info->helper_protonum = BPF_CORE_READ(helper, tuple.dst.protonum);
		info->helper_flags = BPF_CORE_READ(helper, flags);
		info->has_nat_mod_name = bpf_core_field_exists(helper->nat_mod_name);
		info->helper_name_size = bpf_core_field_size(helper->name);
	}
	if (l4proto) {
		info->l4proto = BPF_CORE_READ(l4proto, l4proto);
		info->nlattr_size = BPF_CORE_READ(l4proto, nlattr_size);
	}
	/* Module types and enums may be absent (module not loaded): guard what would be poisoned. */
	info->has_conntrack_net = bpf_core_type_exists(struct nf_conntrack_net);
	if (info->has_conntrack_net)
		info->net_users4_offset = bpf_core_field_offset(struct nf_conntrack_net, users4);
	if (conn) {
		info->conn_status = BPF_CORE_READ(conn, status);
		info->conn_mark = BPF_CORE_READ(conn, mark);
	}
	if (fs_type)
		info->fs_name = BPF_CORE_READ(fs_type, name);
	if (bpf_core_enum_value_exists(enum nf_ct_helper_flags, NF_CT_HELPER_F_USERSPACE))
		info->userspace_flag = bpf_core_enum_value(enum nf_ct_helper_flags, NF_CT_HELPER_F_USERSPACE);
	info->configured_flag_exists = bpf_core_enum_value_exists(enum nf_ct_helper_flags, NF_CT_HELPER_F_CONFIGURED);
	if (bpf_core_enum_value_exists(enum ip_conntrack_status, IPS_CONFIRMED_BIT))
		info->confirmed_bit = bpf_core_enum_value(enum ip_conntrack_status, IPS_CONFIRMED_BIT);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
