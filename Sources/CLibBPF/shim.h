#include <bpf/libbpf.h>
#include <bpf/btf.h>
#include <bpf/bpf.h>
