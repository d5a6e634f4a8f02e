# Thin front door over meson.  Two build trees:
#   build/        host binaries, libraries and tests (glibc)
#   build-agent/  the static kata-agent for the guest (musl)
PREFIX ?= /opt/kata
DESTDIR ?=
BUILD ?= build
AGENT_BUILD ?= build-agent
MUSL_INC := $(AGENT_BUILD)-include

.PHONY: all host agent install test clean format format-check asan fuzz

all: host agent

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX)

host: $(BUILD)/build.ninja
	ninja -C $(BUILD)

# musl has no kernel headers of its own: give it Linux's and protobuf-c's.
$(MUSL_INC)/.done:
	mkdir -p $(MUSL_INC)/protobuf-c
	ln -sfn /usr/include/linux $(MUSL_INC)/linux
	ln -sfn /usr/include/asm-generic $(MUSL_INC)/asm-generic
	ln -sfn /usr/include/x86_64-linux-gnu/asm $(MUSL_INC)/asm
	ln -sfn /usr/include/protobuf-c/protobuf-c.h $(MUSL_INC)/protobuf-c/protobuf-c.h
	touch $@

# libseccomp's headers (a stamp of their own so existing trees pick them up).
$(MUSL_INC)/.seccomp: $(MUSL_INC)/.done
	ln -sfn /usr/include/seccomp.h $(MUSL_INC)/seccomp.h
	ln -sfn /usr/include/seccomp-syscalls.h $(MUSL_INC)/seccomp-syscalls.h
	touch $@

$(AGENT_BUILD)/build.ninja: $(MUSL_INC)/.done
	CC=musl-gcc CFLAGS="-isystem $(abspath $(MUSL_INC))" meson setup $(AGENT_BUILD) \
	    --prefix=$(PREFIX) -Dagent_only=true -Dbuildtype=minsize -Db_lto=true -Dstrip=true

agent: $(AGENT_BUILD)/build.ninja $(MUSL_INC)/.seccomp
	ninja -C $(AGENT_BUILD) src/agent/kata-agent

# Binaries to $(PREFIX)/bin; the guest kernel, initrd and image to
# $(PREFIX)/share/kata-containers under Kata's names.
GUEST_DIR := $(DESTDIR)$(PREFIX)/share/kata-containers
install: all
	DESTDIR=$(DESTDIR) meson install -C $(BUILD) --no-rebuild
	assets=$$(bash guest/build-assets.sh | tail -1) && \
	install -D -m 0644 $$assets/vmlinux $(GUEST_DIR)/vmlinux.container && \
	install -D -m 0644 $$assets/bzImage $(GUEST_DIR)/vmlinuz.container && \
	install -D -m 0644 $$assets/kata-agent-initrd.img $(GUEST_DIR)/kata-containers-initrd.img && \
	install -D -m 0644 $$assets/kata-agent-rootfs.img $(GUEST_DIR)/kata-containers.img

build-asan/build.ninja:
	meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false --prefix=$(PREFIX)

asan: build-asan/build.ninja
	ninja -C build-asan

# The library is instrumented for coverage too (fuzzer-no-link); only the
# targets link libFuzzer's main.
build-fuzz/build.ninja:
	CC=clang CFLAGS=-fsanitize=fuzzer-no-link meson setup build-fuzz -Dfuzz=true \
	    -Db_sanitize=address,undefined -Db_lundef=false --prefix=$(PREFIX)

fuzz: build-fuzz/build.ninja
	ninja -C build-fuzz

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD) $(AGENT_BUILD) $(MUSL_INC) build-asan build-fuzz
