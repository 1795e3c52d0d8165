/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* <linux/errno.h> (included by libbpf's usdt.bpf.h) wants the architecture's <asm/errno.h>,
 * which -target bpf has no directory for; every architecture BPF runs on uses the generic one. */
#include <asm-generic/errno.h>
