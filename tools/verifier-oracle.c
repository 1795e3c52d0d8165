// verifier-oracle: what this machine's verifier says about each program of a BPF object once
// libbpf has applied the CO-RE relocations of another kernel's BTF.
//
//   verifier-oracle OBJECT TARGET_BTF...
//
// For each TARGET_BTF and each program of OBJECT: opens OBJECT with btf_custom_path = TARGET_BTF,
// sets every other program not to autoload, prepares the maps the way libbpf-tools front ends do
// (max_entries 0 becomes 1; a ring buffer becomes a perf event array when the target BTF has no
// struct bpf_ringbuf, as their probe_ringbuf() fallback does), loads, and prints one line:
//
//   TARGET_BTF PROG accepted                    the verifier accepted it
//   TARGET_BTF PROG poisoned  INSN              rejected at a poisoned CO-RE instruction
//                                               ("invalid CO-RE relocation", call 195896080)
//   TARGET_BTF PROG relo-failed ERR             libbpf failed a CO-RE relocation before the verifier
//   TARGET_BTF PROG rejected  ERR MESSAGE       rejected for another reason (last verifier line)
//   TARGET_BTF PROG skipped   REASON            needs the kernel's own BTF (fentry, tp_btf, lsm ...)
//
// Fields are separated by tabs. Loading needs root (CAP_BPF and CAP_PERFMON).
//
// Build: cc -O2 tools/verifier-oracle.c -o verifier-oracle -lbpf -lelf -lz

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// libbpf's messages of one load, joined (the verifier log comes through here on failure).
static char *log_text;
static size_t log_length, log_capacity;

static int capture(enum libbpf_print_level level, const char *format, va_list args)
{
	(void)level;
	char line[8192];
	int n = vsnprintf(line, sizeof(line), format, args);
	if (n < 0)
		return 0;
	size_t len = strlen(line);
	if (log_length + len + 1 > log_capacity) {
		log_capacity = (log_length + len + 1) * 2;
		log_text = realloc(log_text, log_capacity);
		if (!log_text)
			exit(3);
	}
	memcpy(log_text + log_length, line, len + 1);
	log_length += len;
	return 0;
}

// The attach types whose programs libbpf resolves against the running kernel's own BTF.
static int needs_kernel_btf(const struct bpf_program *prog)
{
	switch (bpf_program__type(prog)) {
	case BPF_PROG_TYPE_TRACING:
	case BPF_PROG_TYPE_LSM:
	case BPF_PROG_TYPE_EXT:
	case BPF_PROG_TYPE_STRUCT_OPS:
		return 1;
	default:
		return 0;
	}
}

// The verifier's complaint: the last line of its log before the "processed N insns" statistics
// and libbpf's "-- END PROG LOAD LOG --".
static void last_verifier_line(char *out, size_t size)
{
	snprintf(out, size, "-");
	const char *end = log_text ? strstr(log_text, "-- END PROG LOAD LOG --") : NULL;
	if (!end)
		return;
	const char *stop = end;
	for (;;) {
		while (stop > log_text && (stop[-1] == '\n' || stop[-1] == ' '))
			stop--;
		const char *start = stop;
		while (start > log_text && start[-1] != '\n')
			start--;
		if (strncmp(start, "processed ", 10) == 0 || strncmp(start, "verification time", 17) == 0 ||
		    strncmp(start, "stack depth", 11) == 0) {
			stop = start;
			continue;
		}
		snprintf(out, size, "%.*s", (int)(stop - start), start);
		return;
	}
}

static void verify(const char *object, const char *target, const char *name, int ringbuf_as_perf)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = target);
	log_length = 0;
	if (log_text)
		log_text[0] = 0;
	struct bpf_object *obj = bpf_object__open_file(object, &opts);
	if (!obj) {
		printf("%s\t%s\tskipped\tlibbpf cannot open the object: %s\n", target, name, strerror(errno));
		return;
	}
	struct bpf_program *prog, *chosen = NULL;
	bpf_object__for_each_program(prog, obj) {
		int mine = strcmp(bpf_program__name(prog), name) == 0;
		bpf_program__set_autoload(prog, mine);
		if (mine)
			chosen = prog;
	}
	if (!chosen || needs_kernel_btf(chosen)) {
		printf("%s\t%s\tskipped\t%s\n", target, name, chosen ? "needs the kernel's own BTF" : "no such program");
		bpf_object__close(obj);
		return;
	}
	struct bpf_map *map;
	bpf_object__for_each_map(map, obj) {
		if (bpf_map__type(map) == BPF_MAP_TYPE_RINGBUF && ringbuf_as_perf) {
			bpf_map__set_type(map, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
			bpf_map__set_key_size(map, 4);
			bpf_map__set_value_size(map, 4);
			bpf_map__set_max_entries(map, 0);
		} else if (bpf_map__max_entries(map) == 0 && bpf_map__type(map) != BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
			bpf_map__set_max_entries(map, 1);
		}
	}
	int err = bpf_object__load(obj);
	if (!err) {
		printf("%s\t%s\taccepted\n", target, name);
	} else if (strstr(log_text, "failed to perform CO-RE relocations") || strstr(log_text, "failed to relocate")) {
		printf("%s\t%s\trelo-failed\t%d\n", target, name, err);
	} else if (strstr(log_text, "invalid CO-RE relocation") || strstr(log_text, "195896080")) {
		// libbpf rewrites the verifier's "invalid func unknown#195896080" into
		// "<invalid CO-RE relocation>" preceded by the instruction index.
		const char *at = strstr(log_text, "invalid CO-RE relocation");
		if (!at)
			at = strstr(log_text, "195896080");
		const char *line = at;
		while (line > log_text && line[-1] != '\n')
			line--;
		printf("%s\t%s\tpoisoned\t%d\n", target, name, atoi(line));
	} else {
		char last[1024];
		last_verifier_line(last, sizeof(last));
		printf("%s\t%s\trejected\t%d\t%s\n", target, name, err, last);
	}
	if (getenv("VERIFIER_ORACLE_LOG"))
		fprintf(stderr, "%s\n", log_text);
	bpf_object__close(obj);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: verifier-oracle OBJECT TARGET_BTF...\n");
		return 2;
	}
	libbpf_set_print(capture);
	// The program names, once, from an open without a target.
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "verifier-oracle: libbpf cannot open %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	char *names[1024];
	int count = 0;
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, obj) {
		if (count < 1024)
			names[count++] = strdup(bpf_program__name(prog));
	}
	bpf_object__close(obj);
	for (int t = 2; t < argc; t++) {
		struct btf *btf = btf__parse(argv[t], NULL);
		if (!btf) {
			fprintf(stderr, "verifier-oracle: cannot parse %s: %s\n", argv[t], strerror(errno));
			return 2;
		}
		int ringbuf_as_perf = btf__find_by_name_kind(btf, "bpf_ringbuf", BTF_KIND_STRUCT) < 0;
		btf__free(btf);
		for (int i = 0; i < count; i++)
			verify(argv[1], argv[t], names[i], ringbuf_as_perf);
		fflush(stdout);
	}
	return 0;
}
