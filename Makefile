# wirebox: `make run` boots the appliance, `make test` runs every test.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -s -w -X github.com/wirebox/wirebox/internal/buildinfo.Version=$(VERSION)
# Everything we ship is static; only the race detector needs cgo.
BUILD := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'

.PHONY: all build image run test deps-test lint fmt-check vet staticcheck unit bench bench-core bench-capture bench-replay bench-mirror bench-snmp bench-tap bench-drmon bench-ha bench-soak clean

all: build

build:
	$(BUILD) -o bin/wirebox ./cmd/wirebox

# `make image` builds out/vmlinuz (and its unpacked out/vmlinux), out/initramfs.cpio.zst and out/wirebox.iso
# (and the guest API's CA and token, out/api-ca.pem, out/api-token).
image:
	scripts/deps.sh image
	$(MAKE) build
	bin/wirebox image --out out
	@touch out/.image-stamp

# The image is out of date when a source file, go.mod/go.sum or the
# Makefile is newer than the last build (untracked new .go files too).
IMAGE_INPUTS := $(shell git ls-files -co --exclude-standard '*.go' go.mod go.sum 'internal/config/*.yaml' 2>/dev/null) Makefile
# `make run` skips the ISO (grub-mkrescue), which it does not boot.
out/.image-stamp: $(IMAGE_INPUTS)
	scripts/deps.sh image
	$(MAKE) build
	bin/wirebox image --out out --iso=false
	@touch out/.image-stamp

# `make run` boots the appliance in QEMU with its console on this terminal
# (q leaves the console for the shell; Ctrl-A X quits QEMU). The image is
# rebuilt only when its inputs changed, so a second `make run` boots at once.
run: out/.image-stamp
	scripts/deps.sh run
	bin/wirebox qemu --out out

test: deps-test lint unit

deps-test:
	scripts/deps.sh test

lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	CGO_ENABLED=0 $(GO) vet ./...

staticcheck:
	CGO_ENABLED=0 $(GO) tool staticcheck ./...

# -race needs cgo; the binaries the tests build themselves stay static.
unit:
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 25m ./...

# Benchmarks run the named peers side by side with wirebox and print ratios
# (docs/BENCHMARKS.md). They need root and a quiet machine; they are not tests.
bench: bench-core bench-capture bench-replay

bench-core:
	scripts/deps.sh bench
	bench/core.sh

bench-capture:
	scripts/deps.sh bench
	$(GO) run ./bench/capture

bench-replay:
	scripts/deps.sh bench
	$(GO) run ./bench/replay

# The subsystems' benchmarks (docs/BENCHMARKS.md has each one's peers and aims).
bench-mirror bench-snmp bench-tap bench-drmon bench-ha bench-soak:
	scripts/deps.sh bench
	$(GO) run ./bench/$(@:bench-%=%)

clean:
	rm -rf bin out
