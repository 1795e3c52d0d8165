/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel types the benchmark tools read, beyond bpf/include/kernel_types.h: block I/O, VFS,
 * networking, scheduling and memory structures, by their kernel names and with only the members
 * the tools touch (the libbpf-tools "minimal header" approach). Only benchmarks/ compiles these
 * programs: they give btf-trim a many-object load like bcc's libbpf-tools, and are not tests.
 */
#ifndef BTFKIT_BENCH_TYPES_H
#define BTFKIT_BENCH_TYPES_H

#include "kernel_types.h"

typedef __u32 dev_t;
typedef long long loff_t;
typedef unsigned int gfp_t;
typedef unsigned short umode_t;
typedef unsigned int fmode_t;
typedef __u64 sector_t;
typedef unsigned int blk_opf_t;

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct gendisk {
	int major;
	int first_minor;
	char disk_name[32];
};

struct block_device {
	dev_t bd_dev;
	struct gendisk *bd_disk;
	sector_t bd_start_sect;
};

struct bio {
	struct bio *bi_next;
	struct block_device *bi_bdev;
	unsigned int bi_opf;
	unsigned short bi_flags;
	struct {
		sector_t bi_sector;
		unsigned int bi_size;
	} bi_iter;
};

struct request_queue {
	struct gendisk *disk;
	unsigned long queue_flags;
};

struct request {
	struct request_queue *q;
	unsigned int cmd_flags;
	unsigned int __data_len;
	sector_t __sector;
	struct bio *bio;
	struct gendisk *rq_disk;
	__u64 start_time_ns;
	__u64 io_start_time_ns;
};

struct super_block {
	dev_t s_dev;
	unsigned long s_magic;
	char s_id[32];
	struct file_system_type *s_type;
};

struct file_system_type {
	const char *name;
};

struct inode {
	umode_t i_mode;
	unsigned long i_ino;
	struct super_block *i_sb;
	loff_t i_size;
	unsigned int i_nlink;
};

struct dentry___bench {
	struct inode *d_inode;
	struct super_block *d_sb;
};

struct kiocb {
	struct file *ki_filp;
	loff_t ki_pos;
};

struct vm_area_struct {
	unsigned long vm_start;
	unsigned long vm_end;
	struct mm_struct *vm_mm;
	struct file *vm_file;
	unsigned long vm_flags;
};

struct page {
	unsigned long flags;
};

struct net_device {
	char name[16];
	int ifindex;
	unsigned int mtu;
};

struct sk_buff {
	struct net_device *dev;
	unsigned int len;
	__u16 protocol;
	__u16 transport_header;
	__u16 network_header;
	unsigned char *head;
	struct sock *sk;
};

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be32 u6_addr32[4];
	} in6_u;
};

/* The members of sock_common the network tools read besides those of kernel_types.h. */
struct sock_common___bench {
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
	volatile unsigned char skc_state;
	int skc_bound_dev_if;
};

struct inet_sock {
	struct sock sk;
	__be16 inet_sport;
	__be32 inet_saddr;
	__u16 inet_id;
};

struct inet_connection_sock {
	struct inet_sock icsk_inet;
	__u8 icsk_retransmits;
	__u8 icsk_ca_state;
	unsigned int icsk_rto;
};

struct tcp_sock {
	struct inet_connection_sock inet_conn;
	__u32 srtt_us;
	__u32 mdev_us;
	__u32 rcv_nxt;
	__u32 snd_una;
	__u32 snd_cwnd;
	__u32 total_retrans;
	__u64 bytes_received;
	__u64 bytes_acked;
};

struct sock___bench {
	__u32 sk_ack_backlog;
	__u32 sk_max_ack_backlog;
	int sk_rcvbuf;
	int sk_sndbuf;
	unsigned int sk_mark;
};

struct nsproxy {
	struct pid_namespace *pid_ns_for_children;
	struct mnt_namespace *mnt_ns;
};

struct ns_common {
	unsigned int inum;
};

struct pid_namespace {
	unsigned int level;
	struct ns_common ns;
};

struct mnt_namespace {
	struct ns_common ns;
};

struct kernfs_node {
	const char *name;
	__u64 id;
};

struct cgroup {
	struct kernfs_node *kn;
	int level;
};

struct css_set {
	struct cgroup *dfl_cgrp;
};

struct sched_entity {
	__u64 exec_start;
	__u64 sum_exec_runtime;
	__u64 vruntime;
};

struct rq {
	unsigned int nr_running;
	__u64 clock;
};

struct cfs_rq {
	unsigned int nr_running;
};

struct task_struct___bench {
	int prio;
	int static_prio;
	unsigned int policy;
	int on_cpu;
	int nr_cpus_allowed;
	struct sched_entity se;
	struct nsproxy *nsproxy;
	struct css_set *cgroups;
	__u64 start_time;
	unsigned long nvcsw;
	unsigned long nivcsw;
	int exit_signal;
	int pdeath_signal;
	struct files_struct *files;
};

struct files_struct {
	int next_fd;
};

struct mm_struct___bench {
	struct vm_area_struct *mmap;
	unsigned long hiwater_rss;
	unsigned long hiwater_vm;
	int map_count;
};

struct oom_control {
	struct task_struct *chosen;
	unsigned long totalpages;
	long chosen_points;
	gfp_t gfp_mask;
	int order;
};

struct trace_event_raw_sched_switch {
	char prev_comm[16];
	pid_t prev_pid;
	int prev_prio;
	long prev_state;
	char next_comm[16];
	pid_t next_pid;
	int next_prio;
};

struct trace_event_raw_sched_wakeup_template {
	char comm[16];
	pid_t pid;
	int prio;
	int target_cpu;
};

struct trace_event_raw_sched_process_exit {
	char comm[16];
	pid_t pid;
	int prio;
};

struct trace_event_raw_sys_enter {
	long id;
	unsigned long args[6];
};

struct trace_event_raw_sys_exit {
	long id;
	long ret;
};

struct trace_event_raw_irq_handler_entry {
	int irq;
	unsigned int __data_loc_name;
};

struct trace_event_raw_softirq {
	unsigned int vec;
};

struct trace_event_raw_block_rq_complete {
	dev_t dev;
	sector_t sector;
	unsigned int nr_sector;
	int error;
	char rwbs[8];
};

struct trace_event_raw_inet_sock_set_state {
	const void *skaddr;
	int oldstate;
	int newstate;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 protocol;
	__u8 saddr[4];
	__u8 daddr[4];
};

struct trace_event_raw_signal_generate {
	int sig;
	int errno;
	int code;
	char comm[16];
	pid_t pid;
	int group;
	int result;
};

struct trace_event_raw_mm_vmscan_direct_reclaim_begin_template {
	int order;
	gfp_t gfp_flags;
};

#pragma clang attribute pop

/* Kernel enums the tools ask about. */
enum cgroup_subsys_id {
	cpu_cgrp_id = 1,
	memory_cgrp_id = 4,
};

enum net_device_flags___bench {
	IFF_UP = 1,
};

enum {
	TCP_ESTABLISHED___bench = 1,
};

enum tcp_ca_state {
	TCP_CA_Open = 0,
	TCP_CA_Loss = 4,
};

enum req_opf {
	REQ_OP_READ = 0,
	REQ_OP_WRITE = 1,
	REQ_OP_FLUSH = 2,
	REQ_OP_DISCARD = 3,
};

#define BENCH_EVENTS(name)                              \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_RINGBUF);     \
		__uint(max_entries, 64 * 1024);         \
	} name SEC(".maps")

#define BENCH_SUBMIT(value)                                              \
	do {                                                             \
		__u64 __v = (value);                                     \
		bpf_ringbuf_output(&events, &__v, sizeof(__v), 0);       \
	} while (0)

#endif /* BTFKIT_BENCH_TYPES_H */
