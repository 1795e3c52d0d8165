// core-oracle: libbpf's own CO-RE relocation decisions for a BPF object against a target BTF.
//
//   core-oracle OBJECT TARGET_BTF
//
// Opens OBJECT with bpf_object_open_opts.btf_custom_path = TARGET_BTF and calls bpf_object__load,
// which resolves every CO-RE relocation (bpf_object__relocate_core) before any program reaches the
// verifier; a verifier rejection afterwards does not matter. Loading needs root: maps are created
// before relocation. libbpf's debug log is captured and turned into one line per relocation:
//
//   relo SEC IDX PROG INSN patched NEW        "prog 'P': relo #I: patched insn #N (...) A -> NEW"
//   relo SEC IDX PROG INSN poisoned -         "prog 'P': relo #I: substituting insn #N w/ invalid insn"
//   relo SEC IDX PROG -    failed ERR MSG     "prog 'P': relo #I: failed to relocate|patch ...: ERR";
//                                             MSG is the last warning libbpf printed for that relo
//   cand SEC IDX CAND TYPEID RAW              "prog 'P': relo #I: matching candidate #C <kind> [ID] ...
//                                             (RAW @ offset ...)"; RAW is "-" for type and enum relos
//   disabled PROG                             PROG failed; it was set not to autoload and the load rerun
//   load ok | load failed ERR                 the last load attempt (after relocation: verifier etc.)
//
// Fields are separated by tabs. SEC is the ELF section of the relocation ("sec 'S': found N CO-RE
// relocations" precedes each section's relocations); IDX is the record index inside that section
// (libbpf's "relo #IDX"); INSN is the instruction index inside the program.
//
// libbpf stops relocating at the first failure. To see past it, the failing program is set not to
// autoload and the object is loaded again (relocations of programs that do not autoload are
// skipped by libbpf), until a load gets past relocation or the failing program is a subprogram
// (which cannot be disabled). The first outcome seen for a relocation wins. A disabled program's
// relocations no longer prune the shared candidate cache in later passes: an exotic difference.
//
// With CORE_ORACLE_LOG set in the environment, libbpf's raw log goes to standard error.
//
// Exit status: 0 when relocation finished (whatever the verifier said), 1 when it did not,
// 2 on usage or open errors.
//
// Build: cc -O2 tools/core-oracle.c -o core-oracle -lbpf -lelf -lz

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 4096
#define MAX_DISABLED 1024

// The captured log of one load attempt.
static char **log_lines;
static size_t log_count, log_capacity;

static int capture(enum libbpf_print_level level, const char *format, va_list args)
{
	(void)level;
	char line[MAX_LINE];
	vsnprintf(line, sizeof(line), format, args);
	size_t n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = 0;
	if (log_count == log_capacity) {
		log_capacity = log_capacity ? log_capacity * 2 : 1024;
		log_lines = realloc(log_lines, log_capacity * sizeof(*log_lines));
		if (!log_lines)
			exit(3);
	}
	// libbpf prefixes most of its messages with "libbpf: ".
	log_lines[log_count++] = strdup(strncmp(line, "libbpf: ", 8) == 0 ? line + 8 : line);
	return 0;
}

static void clear_log(void)
{
	for (size_t i = 0; i < log_count; i++)
		free(log_lines[i]);
	log_count = 0;
}

// Relocations already reported, so that a rerun does not report them twice.
struct seen {
	char *section;
	int index;
};
static struct seen *seen;
static size_t seen_count, seen_capacity;

static int was_seen(const char *section, int index)
{
	for (size_t i = 0; i < seen_count; i++)
		if (seen[i].index == index && strcmp(seen[i].section, section) == 0)
			return 1;
	return 0;
}

static void mark_seen(const char *section, int index)
{
	if (seen_count == seen_capacity) {
		seen_capacity = seen_capacity ? seen_capacity * 2 : 256;
		seen = realloc(seen, seen_capacity * sizeof(*seen));
		if (!seen)
			exit(3);
	}
	seen[seen_count].section = strdup(section);
	seen[seen_count].index = index;
	seen_count++;
}

// Parses "prog 'NAME': relo #I: REST"; returns REST or NULL.
static const char *relo_line(const char *line, char *prog, size_t prog_size, int *index)
{
	if (strncmp(line, "prog '", 6) != 0)
		return NULL;
	const char *name = line + 6;
	const char *end = strstr(name, "': relo #");
	if (!end || (size_t)(end - name) >= prog_size)
		return NULL;
	memcpy(prog, name, end - name);
	prog[end - name] = 0;
	char *after;
	long value = strtol(end + 9, &after, 10);
	if (after == end + 9 || strncmp(after, ": ", 2) != 0)
		return NULL;
	*index = (int)value;
	return after + 2;
}

// Reads the log of one attempt; prints new outcomes; returns the name of the program whose
// relocation failed (malloc'd) or NULL.
static char *report(void)
{
	char section[MAX_LINE] = "";
	char failed_prog[MAX_LINE] = "";
	char last_warning[MAX_LINE] = "";
	int last_warning_index = -1;
	char prog[MAX_LINE];
	int index;

	for (size_t i = 0; i < log_count; i++) {
		const char *line = log_lines[i];
		if (strncmp(line, "sec '", 5) == 0 && strstr(line, "': found ") && strstr(line, "CO-RE relocations")) {
			const char *end = strstr(line + 5, "': found ");
			snprintf(section, sizeof(section), "%.*s", (int)(end - line - 5), line + 5);
			continue;
		}
		const char *rest = relo_line(line, prog, sizeof(prog), &index);
		if (!rest)
			continue;
		int insn;
		const char *arrow;
		if (strncmp(rest, "patched insn #", 14) == 0 && sscanf(rest + 14, "%d", &insn) == 1) {
			if (strstr(rest, "mem_sz"))
				continue;  // the size change of an already reported patch
			arrow = strstr(rest, " -> ");
			if (!arrow || was_seen(section, index))
				continue;
			mark_seen(section, index);
			printf("relo\t%s\t%d\t%s\t%d\tpatched\t%s\n", section, index, prog, insn, arrow + 4);
		} else if (strncmp(rest, "substituting insn #", 19) == 0 && sscanf(rest + 19, "%d", &insn) == 1) {
			// ldimm64 poisons insn+1 first, then insn: report the last line.
			if (i + 1 < log_count) {
				char next_prog[MAX_LINE];
				int next_index;
				const char *next = relo_line(log_lines[i + 1], next_prog, sizeof(next_prog), &next_index);
				if (next && next_index == index && strcmp(next_prog, prog) == 0 &&
				    strncmp(next, "substituting insn #", 19) == 0)
					continue;
			}
			if (was_seen(section, index))
				continue;
			mark_seen(section, index);
			printf("relo\t%s\t%d\t%s\t%d\tpoisoned\t-\n", section, index, prog, insn);
		} else if (strncmp(rest, "matching candidate #", 20) == 0) {
			int cand;
			unsigned type_id;
			const char *bracket = strchr(rest, '[');
			if (sscanf(rest + 20, "%d", &cand) != 1 || !bracket || sscanf(bracket + 1, "%u", &type_id) != 1)
				continue;
			if (was_seen(section, index))
				continue;
			// Field specs end with "(RAW @ offset N)"; the spec text may contain '(' only there.
			char raw[MAX_LINE] = "-";
			const char *open = strrchr(rest, '(');
			const char *at = open ? strstr(open, " @ offset") : NULL;
			if (open && at)
				snprintf(raw, sizeof(raw), "%.*s", (int)(at - open - 1), open + 1);
			printf("cand\t%s\t%d\t%d\t%u\t%s\n", section, index, cand, type_id, raw);
		} else if (strncmp(rest, "failed to relocate: ", 20) == 0 || strncmp(rest, "failed to patch insn #", 22) == 0) {
			const char *colon = strrchr(rest, ':');
			int err = colon ? atoi(colon + 1) : 0;
			if (!was_seen(section, index)) {
				mark_seen(section, index);
				printf("relo\t%s\t%d\t%s\t-\tfailed\t%d\t%s\n", section, index, prog, err,
				       last_warning_index == index ? last_warning : rest);
			}
			snprintf(failed_prog, sizeof(failed_prog), "%s", prog);
		} else {
			// Remember the latest message about this relocation: the reason for a failure.
			snprintf(last_warning, sizeof(last_warning), "%s", rest);
			last_warning_index = index;
		}
	}
	return failed_prog[0] ? strdup(failed_prog) : NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: core-oracle OBJECT TARGET_BTF\n");
		return 2;
	}
	char *disabled[MAX_DISABLED];
	int disabled_count = 0;
	libbpf_set_print(capture);

	for (;;) {
		LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = argv[2]);
		clear_log();
		struct bpf_object *obj = bpf_object__open_file(argv[1], &opts);
		if (!obj) {
			int err = errno;
			fprintf(stderr, "core-oracle: libbpf cannot open %s: %s (errno %d)\n", argv[1], strerror(err), err);
			for (size_t i = 0; i < log_count; i++)
				fprintf(stderr, "libbpf: %s\n", log_lines[i]);
			return 2;
		}
		for (int i = 0; i < disabled_count; i++) {
			struct bpf_program *prog = bpf_object__find_program_by_name(obj, disabled[i]);
			if (prog)
				bpf_program__set_autoload(prog, false);
		}
		int err = bpf_object__load(obj);
		if (getenv("CORE_ORACLE_LOG"))
			for (size_t i = 0; i < log_count; i++)
				fprintf(stderr, "libbpf: %s\n", log_lines[i]);
		char *failed = report();
		bpf_object__close(obj);
		if (!failed) {
			if (err)
				printf("load failed\t%d\n", err);
			else
				printf("load ok\n");
			return 0;
		}
		// A relocation failed: rerun without that program, if it is one that can be disabled.
		int can_disable = 0;
		clear_log();
		obj = bpf_object__open_file(argv[1], &opts);
		if (obj) {
			can_disable = bpf_object__find_program_by_name(obj, failed) != NULL;
			bpf_object__close(obj);
		}
		if (!can_disable || disabled_count == MAX_DISABLED) {
			printf("load failed\t%d\n", err);
			return 1;
		}
		printf("disabled\t%s\n", failed);
		disabled[disabled_count++] = failed;
	}
}
