// reloc_count: libbpf's own view of a BPF object's CO-RE relocations, for BPFObjectTests.
//
//   reloc_count OBJECT [TARGET_BTF]
//
// Opens OBJECT with libbpf (btf_custom_path = TARGET_BTF when given, else the running kernel's
// BTF) and loads it, which makes libbpf resolve every CO-RE relocation before any program
// reaches the verifier. Prints on standard output:
//
//   program NAME SECTION           one line per program in the object
//   libbpf: ...                    libbpf's complete debug log, verbatim (the "sec '...': found N
//                                  CO-RE relocations" and "relo #i: kind <...>" lines are what the
//                                  tests read)
//   load ok | load failed ERRNO TEXT
//
// Exit status: 0 when the object loaded, 1 when libbpf or the kernel refused it, 2 on usage or
// open errors. Loading needs root (CAP_BPF).
//
// Build: cc -O2 reloc_count.c -o reloc_count -lbpf -lelf -lz

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

// libbpf's messages already start with "libbpf: "; pass them through untouched.
static int print_everything(enum libbpf_print_level level, const char *format, va_list args)
{
	(void)level;
	return vfprintf(stdout, format, args);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: reloc_count OBJECT [TARGET_BTF]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(print_everything);

	struct bpf_object_open_opts opts;
	memset(&opts, 0, sizeof(opts));
	opts.sz = sizeof(opts);
	opts.btf_custom_path = argc == 3 ? argv[2] : NULL;

	struct bpf_object *object = bpf_object__open_file(argv[1], &opts);
	if (!object) {
		int err = errno;
		char text[256];
		libbpf_strerror(err, text, sizeof(text));
		fprintf(stderr, "reloc_count: libbpf cannot open %s: %s (errno %d)\n", argv[1], text, err);
		return 2;
	}
	struct bpf_program *program;
	bpf_object__for_each_program(program, object)
		printf("program %s %s\n", bpf_program__name(program), bpf_program__section_name(program));

	int err = bpf_object__load(object);
	if (err) {
		char text[256];
		libbpf_strerror(-err, text, sizeof(text));
		printf("load failed %d %s\n", -err, text);
	} else {
		printf("load ok\n");
	}
	bpf_object__close(object);
	return err ? 1 : 0;
}
