# The two commands a new user needs (see README.md):
#   make demo   installs what is missing, builds, runs the Fashion-MNIST simulation
#               (1,000 clients, secure aggregation + differential privacy)
#   make test   installs what is missing, builds, runs every test with ctest
# Both are idempotent: packages already installed are not touched, and the
# build is incremental.

# make test SANITIZE=address,undefined (or SANITIZE=thread) builds and tests
# the whole tree instrumented, in its own build directory.
SANITIZE  ?=
comma     := ,
ifneq ($(SANITIZE),)
BUILD_DIR ?= build-$(subst $(comma),-,$(SANITIZE))
BUILD_TYPE ?= RelWithDebInfo
endif
BUILD_DIR ?= build
BUILD_TYPE ?= Release
# Sanitizer reports end the test that triggers them, with a stack.
SANITIZER_ENV := $(if $(SANITIZE),ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1)
JOBS      ?= $(shell nproc)
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Every dependency is a Debian 12 package.
# Except kubectl, for the K8s.* manifest tests (tests/deploy): Debian 12's
# kubernetes-client 1.20 embeds kustomize 2.0, older than the manifests'
# kustomization fields (labels, patches): install a current kubectl (the
# tests ran with 1.32, kustomize 5.5) from Kubernetes' apt repository,
# pkgs.k8s.io. Without it those tests fail; they do not skip.
DEB_PACKAGES := cmake make g++ pkg-config zlib1g-dev \
  libtorch-dev libopenblas0-pthread \
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
  libssl-dev libboost-dev libgtest-dev libgmock-dev libbenchmark-dev \
  libspdlog-dev libcli11-dev nlohmann-json3-dev libtomlplusplus-dev \
  libcsv-dev dataset-fashion-mnist prometheus chromium \
  systemd clang-format python3 python3-yaml python3-torch shellcheck git \
  clang libfuzzer-14-dev

# make install: programs into $(PREFIX)/bin, units into
# $(PREFIX)/lib/systemd/system, examples into $(PREFIX)/share/fedlearn, all
# under $(DESTDIR) when set. See deploy/systemd/README.md.
PREFIX  ?= /usr/local
DESTDIR ?=

.PHONY: all deps build test format demo demo-small bank-demo finetune-demo bench clean install install-systemd fuzz fuzz-ci

all: build

deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD_DIR)/CMakeCache.txt: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DFEDLEARN_SANITIZE=$(SANITIZE)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j$(JOBS)

test: build
	cd $(BUILD_DIR) && $(SANITIZER_ENV) ctest --output-on-failure -j$(JOBS) --timeout 600

# Reformat every tracked C++ file (the check runs in `make test`:
# SourceShape.format).
format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

# The main job: 1,000 virtual Fashion-MNIST clients, about 100 per round by
# Poisson sampling, every update clipped, noised by the clients (distributed
# DP) and masked (secure aggregation), over mutual TLS on loopback; epsilon
# is printed every round and the budget enforced (deploy/dp-demo.toml).
# Certificates persist in demo-certs/; every run starts afresh in demo-state/.
# Then writes the run report, demo-state/report.html (fedlearn-report).
demo: build
	rm -rf demo-state
	$(BUILD_DIR)/bin/fedlearn-sim --config deploy/dp-demo.toml \
	  --state-dir demo-state --certs demo-certs
	$(BUILD_DIR)/bin/fedlearn-report demo-state

# Ten clients, Dirichlet(0.5) label skew, LeNet-5, secure aggregation without
# differential privacy (client-level DP needs cohorts far larger than ten).
demo-small: build
	rm -rf demo-small-state
	$(BUILD_DIR)/bin/fedlearn-sim --config deploy/demo.toml \
	  --state-dir demo-small-state --certs demo-small-certs

# Five banks train a synthetic card-fraud detector (examples/bank/), each a
# separate fedlearn-client process with its own CSV, secure aggregation on;
# every round the banks evaluate the model on their held-out rows and the
# coordinator prints the securely aggregated PR-AUC (federated evaluation).
# Certificates, state and logs in bank-demo/; the report is
# bank-demo/state/report.html.
bank-demo: build
	examples/bank/run_bank_demo.sh $(BUILD_DIR) bank-demo

# Fine-tuning a pre-trained model (examples/finetune/, README "Fine-tuning
# pre-trained models"): PyTorch pre-trains LeNet-5 on Fashion-MNIST classes
# 0-4, then 10 virtual sites fine-tune it on classes 5-9 with secure
# aggregation five ways (from scratch, full, last layer, last two layers,
# LoRA) and the table is printed (~2 min). Everything in finetune-demo/.
finetune-demo: build
	examples/finetune/run_finetune.sh $(BUILD_DIR) finetune-demo

# Quick benchmarks (~15 s). The secure-aggregation cost table takes ~7 min:
# $(BUILD_DIR)/bin/secagg_bench
bench: build
	$(BUILD_DIR)/bin/aggregation_bench
	$(BUILD_DIR)/bin/mask_prg_bench

install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD_DIR) --prefix "$(PREFIX)"

# The fedlearn user, /etc/fedlearn, /var/lib/fedlearn, the example configs
# (never overwriting) and daemon-reload; idempotent (deploy/systemd/install.sh).
install-systemd: install
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" sh deploy/systemd/install.sh

# libFuzzer targets (tests/fuzz/README.md): every decoder and coordinator
# message handler, built with clang, ASan and UBSan in their own directory
# (no LibTorch, no tests), seeded with real messages, each run for
# FUZZ_SECONDS, FUZZ_PARALLEL at a time. Fails if any target crashes.
FUZZ_DIR      ?= build-fuzz
FUZZ_SECONDS  ?= 600
FUZZ_PARALLEL ?= 1
FUZZERS := coordinator_service_fuzzer secagg_server_fuzzer secagg_client_fuzzer \
  masked_values_fuzzer float32_le_fuzzer wire_proto_fuzzer model_file_fuzzer \
  input_encoding_fuzzer private_input_codec_fuzzer csv_parser_fuzzer \
  idx_reader_fuzzer table_loader_fuzzer coordinator_config_fuzzer \
  client_config_fuzzer certificate_fuzzer safetensors_reader_fuzzer \
  eval_report_fuzzer

$(FUZZ_DIR)/CMakeCache.txt: CMakeLists.txt
	cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=Release -DFEDLEARN_FUZZ=ON \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++

fuzz: deps $(FUZZ_DIR)/CMakeCache.txt
	cmake --build $(FUZZ_DIR) -j$(JOBS) --target fuzzers
	$(FUZZ_DIR)/bin/fuzz_seed_corpus $(FUZZ_DIR)/corpus
	cp deploy/coordinator.toml deploy/demo.toml deploy/dp-demo.toml \
	  examples/hospital/hospital.toml $(FUZZ_DIR)/corpus/coordinator_config_fuzzer/
	cp deploy/client.toml $(FUZZ_DIR)/corpus/client_config_fuzzer/
	tests/fuzz/run_fuzzers.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_PARALLEL) $(FUZZERS)

# CI: 30 s per target, all cores.
fuzz-ci:
	$(MAKE) fuzz FUZZ_SECONDS=30 FUZZ_PARALLEL=$(JOBS)

clean:
	rm -rf $(BUILD_DIR) demo-state demo-small-state bank-demo finetune-demo
