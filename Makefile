SHELL := /bin/bash
# refbpf: an eBPF sampling profiler for running CPython processes.
#
#   make            build ./refbpf
#   make test       build, fetch the test interpreters, run every test
#   make test-loaded  the same with every CPU kept busy by a CPU hog
#   make test-asan  the tests of every parser and writer on the ASan build
#   make pythons    fetch Debian's interpreters of other releases for the tests
#   make node-tools fetch speedscope's npm package (its schema) and
#                   playwright-core (browser tests) for the tests
#   make deps       install the Debian build and test dependencies
#   make demo       profile the bundled demo server for a few seconds
#   make asan       build ./build-asan/refbpf with ASan + UBSan
#   make static     build ./build-static/refbpf, linked statically (glibc
#                   too) for older userspace: Debian 11, Amazon Linux 2
#   make ARCH=arm64 cross-build ./build-arm64/refbpf for aarch64 on x86-64
#                   (STATIC=1: linked statically), against Debian's arm64
#                   libraries (scripts/arm64-sysroot.sh); on an arm64
#                   machine a plain `make` builds for it natively
#   make test-arm64 boot Debian's arm64 kernels under qemu and run the
#                   checks inside each (docs/support.md: Architectures)
#   make test-kernels  boot Debian's kernels 5.10-sid under qemu and run
#                   the checks inside each (docs/support.md: Kernels)
#   make vmlinux    regenerate vmlinux/$(ARCH)/vmlinux.h from the running
#                   kernel (another ARCH: Debian's kernel of that architecture)
#   make man       build the man page refbpf(8) from docs/refbpf.8.rst
#   make install PREFIX=/usr/local
#
# V=1 shows the commands.

# ARCH: the kernel's name of the target architecture (x86, arm64); the
# machine's own by default. Another one is cross-built into build-ARCH.
HOST_ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
ARCH ?= $(HOST_ARCH)
ifneq ($(ARCH),$(HOST_ARCH))
BUILD ?= build-$(ARCH)
CROSS_COMPILE ?= $(if $(filter arm64,$(ARCH)),aarch64-linux-gnu-,$(if $(filter x86,$(ARCH)),x86_64-linux-gnu-))
CC := $(CROSS_COMPILE)gcc
# Debian's libraries of the target architecture, unpacked by
# scripts/arm64-sysroot.sh: headers and libraries only, the C library is
# the cross compiler's
SYSROOT ?= /var/cache/refbpf/$(ARCH)/sysroot
CROSS_TRIPLET := $(patsubst %-,%,$(CROSS_COMPILE))
CROSS_CFLAGS := -I$(SYSROOT)/usr/include -I$(SYSROOT)/usr/include/$(CROSS_TRIPLET)
CROSS_LDFLAGS := -L$(SYSROOT)/usr/lib/$(CROSS_TRIPLET) -L$(SYSROOT)/lib/$(CROSS_TRIPLET) \
	-Wl,-rpath-link,$(SYSROOT)/usr/lib/$(CROSS_TRIPLET):$(SYSROOT)/lib/$(CROSS_TRIPLET)
# arm64's sysroot is fetched when missing (once; as root)
CROSS_SYSROOT_READY := $(if $(filter arm64,$(ARCH)),$(SYSROOT)/usr/include/elfutils/libdwfl.h)
endif
BUILD ?= build
PREFIX ?= /usr/local
CLANG ?= clang
CC ?= gcc
BPFTOOL ?= bpftool
LLVM_STRIP ?= llvm-strip
PYTHON ?= /usr/bin/python3
RST2MAN ?= rst2man
SANITIZE ?=
# Extra clang flags for the BPF objects (-DREFBPF_WALK_BPF_LOOP: the walks
# by bpf_loop(), for bench/ab.py; 5.17+ only)
BPF_CFLAGS ?=

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

VMLINUX_H := vmlinux/$(ARCH)/vmlinux.h

# Use the same system include directories as the host compiler, so BPF code
# sees asm/ headers for the target architecture.
CLANG_BPF_SYS_INCLUDES := $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)| -idirafter \1|p }')

WARNINGS := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 \
	-Wstrict-prototypes -Wmissing-prototypes
CFLAGS ?= -O2 -g
ALL_CFLAGS := $(CFLAGS) $(WARNINGS) -std=gnu11 -D_GNU_SOURCE -I$(BUILD) -I. -Iuser \
	$(CROSS_CFLAGS) $(SANITIZE) -MMD -MP
LDLIBS := -lbpf -ldw -lelf -lz -lm
LDFLAGS ?=
ALL_LDFLAGS := $(LDFLAGS) $(CROSS_LDFLAGS) $(SANITIZE)
# make static: everything linked in, glibc too, so one binary runs on the
# userspace of older distributions (Debian 11's glibc 2.31, Amazon Linux
# 2's 2.26) as well as on this one.
STATIC ?=
ifeq ($(STATIC),1)
LDLIBS := -lbpf -ldw -lelf -lz -llzma -lbz2 -lm
ALL_LDFLAGS += -static
endif

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

# Every C file under user/, folders included (user/static/ is the static
# build's alone); objects mirror the tree under $(BUILD)/user/.
# user/base/arch/ holds one file per architecture (by uname -m's name):
# the target's only.
USER_ARCH := $(if $(filter x86,$(ARCH)),x86_64,$(if $(filter arm64,$(ARCH)),aarch64,$(ARCH)))
USER_SRCS := $(sort $(shell find user -name '*.c' -not -path 'user/static/*' \
	-not -path 'user/base/arch/*') user/base/arch/$(USER_ARCH).c)
USER_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(USER_SRCS))
ifeq ($(STATIC),1)
USER_OBJS += $(BUILD)/user/static/no_dlopen.o
endif
# Everything but main() goes into a library the test tools link too.
LIB_OBJS := $(filter-out $(BUILD)/user/app/main.o,$(USER_OBJS))

TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(TOOL_SRCS))

ifeq ($(BUILD),build)
BIN := refbpf
else
BIN := $(BUILD)/refbpf
endif

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all clean test test-unit test-loaded test-asan test-tools deps demo asan static install vmlinux \
	bench pythons fuzz fuzz-run node-tools test-kernels kernels man test-arm64

all: $(BIN)

$(BUILD) $(BUILD)/user $(BUILD)/tests:
	$(Q)mkdir -p $@

# Headers a BPF object includes come from clang's -MMD list (included below).
$(BUILD)/%.bpf.o: bpf/%.bpf.c $(VMLINUX_H) | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror -MMD -MP $(BPF_CFLAGS) \
		-I$(BUILD) -Ibpf -Ivmlinux/$(ARCH) $(CLANG_BPF_SYS_INCLUDES) -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# Scripts and styles the SVG and HTML outputs embed, as C string constants:
# user/output/assets/NAME.EXT -> $(BUILD)/assets/NAME_EXT.h defining asset_NAME_EXT.
ASSET_SRCS := $(wildcard user/output/assets/*.js user/output/assets/*.css)
ASSET_HDRS := $(patsubst user/output/assets/%,$(BUILD)/assets/%.h,$(subst .,_,$(ASSET_SRCS)))

$(BUILD)/assets/%_js.h: user/output/assets/%.js
	$(call msg,ASSET,$@)
	$(Q)mkdir -p $(@D)
	$(Q){ printf 'static const char asset_%s_js[] =\n' '$*'; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$$/\\n"/' $<; printf ';\n'; } > $@

$(BUILD)/assets/%_css.h: user/output/assets/%.css
	$(call msg,ASSET,$@)
	$(Q)mkdir -p $(@D)
	$(Q){ printf 'static const char asset_%s_css[] =\n' '$*'; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$$/\\n"/' $<; printf ';\n'; } > $@

# User objects include the skeletons and assets, so they must exist first.
$(USER_OBJS): | $(SKELS) $(ASSET_HDRS) $(CROSS_SYSROOT_READY)

ifneq ($(CROSS_SYSROOT_READY),)
$(CROSS_SYSROOT_READY):
	./scripts/arm64-sysroot.sh $(SYSROOT) >/dev/null
endif

$(BUILD)/user/%.o: user/%.c | $(BUILD)/user
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BIN): $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/tools/%.c $(LIB_OBJS) | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $< $(LIB_OBJS) $(LDLIBS) -o $@

test-tools: $(TOOLS)

# The man page, from reStructuredText as bpftool builds its own; a warning
# of rst2man fails the build.
MAN := $(BUILD)/refbpf.8

man: $(MAN)

$(MAN): docs/refbpf.8.rst | $(BUILD)
	$(call msg,RST2MAN,$@)
	$(Q)$(RST2MAN) --halt=warning $< > $@

# Debian's interpreters from other releases (bullseye 3.9, trixie 3.13,
# sid 3.14 and 3.15) into /var/cache/refbpf/pythons. A failed fetch stops
# make here, saying why: it is not left to turn into skipped tests.
pythons:
	./scripts/fetch-pythons.sh

# speedscope's npm package (the schema of its file format) and
# playwright-core into /var/cache/refbpf/node; as pythons, a failure stops make.
node-tools:
	./scripts/fetch-node-tools.sh >/dev/null
	./scripts/fetch-browser-tools.sh >/dev/null

# The one test command: every test, unit and integration. Root-only tests
# say "skipped: <reason>" when run without privileges.
test: $(BIN) $(TOOLS) $(MAN) pythons node-tools
	$(PYTHON) -m pytest -ra -v tests/

# The kernel matrix: Debian's cloud kernels (5.10, 6.1, 6.12, sid's)
# booted under qemu, the static build and two interpreters in an
# initramfs, refbpf's checks run inside each (tests/kernels/matrix.py).
KERNEL_PYTHONS ?= bullseye-3.9 trixie-3.13
PYTHONS_DIR ?= /var/cache/refbpf/pythons

kernels:
	./scripts/fetch-kernels.sh

test-kernels: pythons kernels
	$(MAKE) static
	./scripts/kernel-initramfs.sh $(BUILD)/kernels/initramfs.cpio build-static/refbpf \
		$(addprefix $(PYTHONS_DIR)/,$(KERNEL_PYTHONS))
	$(PYTHON) -m pytest -ra -v tests/kernels/matrix.py; status=$$?; \
		cat $(BUILD)/kernels/*/time; exit $$status

# The same checks on arm64 (tests/kernels/matrix.py, REFBPF_KERNEL_ARCH):
# Debian's arm64 cloud kernels booted under qemu-system-aarch64 (TCG), the
# cross-built static refbpf, Debian's arm64 interpreters; and, on the host,
# the arm64 build's layouts against those interpreters' DWARF (its
# layout_dump, under qemu-aarch64 on other hosts).
ARM64_KERNELS ?= bookworm bullseye
ARM64_PYTHONS ?= bullseye-3.9 bookworm-3.11 trixie-3.13
ARM64_CACHE := /var/cache/refbpf/arm64

test-arm64:
	./scripts/arm64-sysroot.sh >/dev/null
	REFBPF_KERNEL_ARCH=arm64 ./scripts/fetch-kernels.sh $(ARM64_CACHE)/kernels $(ARM64_KERNELS)
	REFBPF_PYTHON_ARCH=arm64 ./scripts/fetch-pythons.sh $(ARM64_CACHE)/pythons
	$(MAKE) ARCH=arm64 static
	$(MAKE) ARCH=arm64 BUILD=build-arm64-static STATIC=1 build-arm64-static/tests/layout_dump
	./scripts/kernel-initramfs.sh $(BUILD)/kernels-arm64/initramfs.cpio build-arm64-static/refbpf \
		$(addprefix $(ARM64_CACHE)/pythons/,$(ARM64_PYTHONS))
	REFBPF_KERNEL_ARCH=arm64 REFBPF_KERNELS="$(ARM64_KERNELS)" REFBPF_KERNEL_PYTHONS="$(ARM64_PYTHONS)" \
		$(PYTHON) -m pytest -ra -v tests/kernels/matrix.py; status=$$?; \
		cat $(BUILD)/kernels-arm64/*/time; exit $$status

test-unit: $(BIN) $(TOOLS) $(MAN) node-tools
	$(PYTHON) -m pytest -ra -v -m "not root" tests/

# (ARCH=arm64: build-arm64-static)
STATIC_BUILD := build$(if $(filter $(HOST_ARCH),$(ARCH)),,-$(ARCH))-static

static:
	$(MAKE) BUILD=$(STATIC_BUILD) STATIC=1 $(STATIC_BUILD)/refbpf

# The same tests with every CPU kept busy by a CPU hog at normal priority
# (scripts/with-cpu-hogs.sh): a user's machine is rarely idle, and timing
# checks compare with what the kernel gave the target, not with an idle
# machine's wall clock.
test-loaded: $(BIN) $(TOOLS) $(MAN) pythons node-tools
	./scripts/with-cpu-hogs.sh $(PYTHON) -m pytest -ra -v --durations=40 tests/

asan:
	$(MAKE) BUILD=build-asan SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		CFLAGS="-O1 -g" build-asan/refbpf $(patsubst $(BUILD)/%,build-asan/%,$(TOOLS))

# The ASan + UBSan build through the tests that feed every parser of
# untrusted bytes and every writer: ELF, DWARF, _Py_DebugOffsets, line
# tables and strings read from targets (their stacks, names and layouts on
# every interpreter), code keys, locals' values, thread names, native
# stacks, kallsyms, raw files; every output format. The rest of the suite
# tests behaviour the sanitizers add nothing to.
ASAN_TESTS := tests/test_writers.py tests/test_formats.py tests/test_raw.py tests/test_outputs.py \
	tests/test_linetable.py tests/test_layout_dwarf.py tests/test_native_merge.py \
	tests/test_dump.py tests/test_peers.py tests/test_kernel.py tests/test_layout_runtime.py \
	tests/test_record.py::test_known_stack_exact tests/test_record.py::test_mixed_frame_kinds_exact \
	tests/test_record.py::test_long_and_wide_names_read_whole \
	tests/test_record.py::test_deep_stack_kept_and_marked_truncated \
	tests/test_native.py::test_mixed_stack_in_every_output \
	tests/test_wall.py::test_wall_mode_every_output_agrees tests/test_gil.py \
	tests/test_locals.py tests/test_values.py tests/test_thread_names.py \
	tests/test_code_identity.py::test_exec_of_sources_that_differ_in_lines_only tests/test_tlbc.py

test-asan: asan pythons node-tools
	REFBPF_BUILD=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(PYTHON) -m pytest -ra -q $(ASAN_TESTS)

# libFuzzer targets for every parser of untrusted bytes, built with clang
# and ASan + UBSan into build-fuzz/, each run FUZZ_SECONDS from the seed
# corpus in tests/fuzz/corpus/NAME (new inputs go to a scratch copy).
FUZZ_SRCS := $(wildcard tests/fuzz/*.c)
FUZZERS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 20

fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang CFLAGS="-O1 -g" \
		SANITIZE="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" fuzz-run

$(BUILD)/fuzz:
	$(Q)mkdir -p $@

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_OBJS) | $(BUILD)/fuzz
	$(call msg,FUZZ,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer $< $(LIB_OBJS) $(LDLIBS) -fsanitize=fuzzer \
		-fsanitize=address,undefined -o $@

fuzz-run: $(FUZZERS)
	set -e; for f in $(FUZZERS); do \
		name=$$(basename $$f); scratch=$$(mktemp -d); \
		echo "== $$name: $(FUZZ_SECONDS) s from tests/fuzz/corpus/$$name"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 $$scratch tests/fuzz/corpus/$$name 2>&1 | tail -4; \
		test $${PIPESTATUS[0]} -eq 0; rm -rf $$scratch; done

deps:
	./scripts/install-deps.sh

# Not after $(BIN): on a fresh machine demo.sh installs the build deps first.
demo:
	./scripts/demo.sh

bench: $(BIN)
	$(PYTHON) bench/run.py

# vmlinux.h from the running kernel's BTF; for another architecture, from
# Debian bookworm's cloud kernel's (scripts/fetch-kernels.sh,
# REFBPF_KERNEL_ARCH=$(ARCH)).
VMLINUX_BTF ?= $(if $(filter $(HOST_ARCH),$(ARCH)),/sys/kernel/btf/vmlinux,/var/cache/refbpf/$(ARCH)/kernels/bookworm/vmlinux.btf)

vmlinux:
	mkdir -p $(dir $(VMLINUX_H))
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $(VMLINUX_H)

install: $(BIN) $(MAN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/refbpf
	install -D -m 0644 $(MAN) $(DESTDIR)$(PREFIX)/share/man/man8/refbpf.8

clean:
	rm -rf build build-asan build-fuzz build-static build-arm64 build-arm64-static refbpf

-include $(USER_OBJS:.o=.d) $(TOOLS:=.d) $(BPF_OBJS:.o=.d)
