/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The record execsnoop.bpf.c sends through its ring buffer; user space reads the same layout. */
#ifndef BTFKIT_EXECSNOOP_H
#define BTFKIT_EXECSNOOP_H

#define EXECSNOOP_COMM_LEN 16

struct execsnoop_event {
	int ppid;                       /* task->real_parent->tgid */
	int pid;                        /* task->tgid */
	char comm[EXECSNOOP_COMM_LEN];  /* task->comm */
};

#endif
