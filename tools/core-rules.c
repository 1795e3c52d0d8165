// core-rules: libbpf's own CO-RE type rules on two BTF files, for comparing BTFKit's with them.
//
//   core-rules LOCAL_BTF LOCAL_ID TARGET_BTF TARGET_ID   prints "compat R\nmatch R\n"
//   core-rules --essential NAME                          prints the essential name's length
//
// R is what bpf_core_types_are_compat and bpf_core_types_match return (1 yes, 0 no, <0 error).
// These functions (relo_core.c) are global in libbpf.a but not exported by libbpf.so, so this
// helper links libbpf statically:
//
//   cc -O2 tools/core-rules.c -o core-rules -Wl,-Bstatic -lbpf -Wl,-Bdynamic -lelf -lz
//
// No root needed: nothing is loaded into the kernel.

#include <bpf/btf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bpf_core_types_are_compat(const struct btf *local_btf, __u32 local_id,
			      const struct btf *targ_btf, __u32 targ_id);
int bpf_core_types_match(const struct btf *local_btf, __u32 local_id,
			 const struct btf *targ_btf, __u32 targ_id);
size_t bpf_core_essential_name_len(const char *name);

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--essential") == 0) {
		printf("%zu\n", bpf_core_essential_name_len(argv[2]));
		return 0;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: core-rules LOCAL_BTF LOCAL_ID TARGET_BTF TARGET_ID | --essential NAME\n");
		return 2;
	}
	struct btf *local = btf__parse(argv[1], NULL);
	struct btf *target = btf__parse(argv[3], NULL);
	if (!local || !target) {
		fprintf(stderr, "core-rules: cannot parse %s: %s\n", local ? argv[3] : argv[1], strerror(errno));
		return 2;
	}
	__u32 local_id = (__u32)strtoul(argv[2], NULL, 10), target_id = (__u32)strtoul(argv[4], NULL, 10);
	printf("compat %d\n", bpf_core_types_are_compat(local, local_id, target, target_id));
	printf("match %d\n", bpf_core_types_match(local, local_id, target, target_id));
	btf__free(local);
	btf__free(target);
	return 0;
}
