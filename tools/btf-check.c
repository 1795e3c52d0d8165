// btf-check: libbpf as the reference oracle for BTFKit's tests and benchmarks.
//
//   btf-check parse FILE          btf__parse; prints "types N" (N counts void, like btf__type_cnt)
//   btf-check parse-time FILE N   btf__parse N times; prints the type count, best and median ms
//   btf-check load FILE           btf__parse, then BPF_BTF_LOAD into the running kernel (needs root);
//                                 prints the kernel verifier log on failure
//
// Exit status: 0 success, 1 rejected by libbpf or the kernel (reason on stderr), 2 usage error.
// libbpf's own warnings (it explains why it rejects a BTF) go to stderr through its default printer.
//
// Build: cc -O2 tools/btf-check.c -o btf-check -lbpf -lelf -lz

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: btf-check parse FILE\n"
			"       btf-check parse-time FILE RUNS\n"
			"       btf-check load FILE\n");
	return 2;
}

// btf__parse returns NULL and sets errno (libbpf 1.0 error convention).
static struct btf *parse_or_report(const char *path)
{
	struct btf *btf = btf__parse(path, NULL);
	if (!btf) {
		int err = errno;
		char text[256];
		libbpf_strerror(err, text, sizeof(text)); // knows libbpf's own codes (4001 "Invalid BTF format"...)
		fprintf(stderr, "btf-check: libbpf rejects %s: %s (errno %d)\n", path, text, err);
	}
	return btf;
}

static int cmd_parse(const char *path)
{
	struct btf *btf = parse_or_report(path);
	if (!btf)
		return 1;
	printf("types %u\n", btf__type_cnt(btf));
	btf__free(btf);
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int cmd_parse_time(const char *path, const char *runs_text)
{
	char *end = NULL;
	long runs = strtol(runs_text, &end, 10);
	if (!end || *end || runs < 1 || runs > 100000) {
		fprintf(stderr, "btf-check: RUNS must be a number from 1 to 100000, not '%s'\n", runs_text);
		return 2;
	}
	double *times = calloc(runs, sizeof(*times));
	if (!times)
		return 1;
	unsigned types = 0;
	for (long i = 0; i < runs; i++) {
		// Timed: open, read and parse the file, as btf__parse does it. Freeing is not timed.
		double start = now_ms();
		struct btf *btf = parse_or_report(path);
		times[i] = now_ms() - start;
		if (!btf) {
			free(times);
			return 1;
		}
		types = btf__type_cnt(btf);
		btf__free(btf);
	}
	qsort(times, runs, sizeof(*times), compare_doubles);
	double median = runs % 2 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
	printf("types %u runs %ld best_ms %.3f median_ms %.3f\n", types, runs, times[0], median);
	free(times);
	return 0;
}

static int cmd_load(const char *path)
{
	struct btf *btf = parse_or_report(path);
	if (!btf)
		return 1;
	__u32 size = 0;
	const void *raw = btf__raw_data(btf, &size);
	if (!raw) {
		fprintf(stderr, "btf-check: libbpf cannot serialize %s: %s\n", path, strerror(errno));
		btf__free(btf);
		return 1;
	}
	// BPF_BTF_LOAD with a log buffer so that a rejection comes with the kernel's reason.
	size_t log_size = 16 << 20;
	char *log = calloc(1, log_size);
	if (!log) {
		btf__free(btf);
		return 1;
	}
	LIBBPF_OPTS(bpf_btf_load_opts, opts, .log_buf = log, .log_size = log_size, .log_level = 1);
	int fd = bpf_btf_load(raw, size, &opts);
	int status = 0;
	if (fd < 0) {
		int err = errno;
		fprintf(stderr, "btf-check: the kernel rejects %s (BPF_BTF_LOAD): %s (errno %d)\n", path, strerror(err), err);
		fprintf(stderr, "kernel log:\n%s\n", log[0] ? log : "(empty)");
		status = 1;
	} else {
		printf("loaded types %u bytes %u\n", btf__type_cnt(btf), size);
		close(fd);
	}
	free(log);
	btf__free(btf);
	return status;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "parse") == 0)
		return cmd_parse(argv[2]);
	if (argc == 4 && strcmp(argv[1], "parse-time") == 0)
		return cmd_parse_time(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "load") == 0)
		return cmd_load(argv[2]);
	return usage();
}
