# Born — build everything with `make`, run the suite with `make test`.
#
#   make                 libborn.a, libborn.so and the `born` command in build/
#   make test            the unit suite; ends with one line "N passed, N failed"
#   make test SAN=1      the same suite under ASan + UBSan + LSan (build/san/)
#   make test-arm64      the suite cross-built for arm64 (NEON) and run under qemu-user
#   make BUILD=dir ...   build somewhere else (several builds can run side by side)
#   make demo            the main job, on data shipped in the repo
#   make bench           benchmark programs (need libopenblas-dev for the peer figures)
#
# Files named *_avx2.c / *_avx512.c / *_vnni.c (AVX-512 + VNNI) / *_amx.c (AVX-512 + AMX) /
# *_shani.c hold code for one instruction set; they are compiled with that set enabled and chosen at run time
# (src/core/cpu_features.c), so one binary runs anywhere. *_neon.c files are built for arm64
# only (NEON is part of every AArch64 CPU).

CC      ?= cc
SAN     ?= 0
ifeq ($(SAN),1)
BUILD   ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
BUILD   ?= build
endif

ARCH := $(shell $(CC) -dumpmachine)
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
        -Wpointer-arith -Wformat=2 -Wno-format-nonliteral
CFLAGS ?= -O2 -g
BASE_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -pthread -fPIC -fvisibility=hidden \
        -Iinclude -Isrc -I. -Itests $(WARN) $(SANFLAGS)
LDLIBS := -lm -pthread

ISA_AVX2   := -mavx2 -mfma -mf16c
ISA_AVX512 := -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma -mf16c
ISA_VNNI   := $(ISA_AVX512) -mavx512vnni
ISA_AMX    := $(ISA_AVX512) -mamx-tile -mamx-bf16 -mamx-int8
ISA_SHANI  := -msha -msse4.1

LIB_SRC := $(shell find src -name '*.c' -not -path 'src/backend/cuda/*' | sort)
ifeq ($(findstring x86_64,$(ARCH)),)
LIB_SRC := $(filter-out %_avx2.c %_avx512.c %_vnni.c %_amx.c %_shani.c,$(LIB_SRC))
endif
ifeq ($(findstring aarch64,$(ARCH)),)
LIB_SRC := $(filter-out %_neon.c,$(LIB_SRC))
endif
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)

CLI_SRC  := $(sort $(wildcard tools/born/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(shell find tests -name '*.c' -not -path 'tests/conformance/*' | sort)
ifeq ($(findstring x86_64,$(ARCH)),)
TEST_SRC := $(filter-out %_avx2.c %_avx512.c %_vnni.c %_amx.c %_shani.c,$(TEST_SRC))
endif
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)

EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLES    := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)

LIB_A  := $(BUILD)/libborn.a
LIB_SO := $(BUILD)/libborn.so
CLI    := $(BUILD)/born
TESTS  := $(BUILD)/born_tests

.PHONY: all test test-arm64 demo bench clean format conformance fuzz llm-conformance
all: $(LIB_A) $(LIB_SO) $(CLI) $(EXAMPLES)

# CPU kernels are built with -O3 (loop vectorization with runtime alias checks) and without
# errno for math functions (so sqrt and friends vectorize); NaN/Inf semantics stay IEEE.
$(BUILD)/src/backend/cpu/%.o: KFLAGS := -O3 -fno-math-errno

# V=1 shows the full command lines.
V ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
endif

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(KFLAGS) $(ISA_AVX2) -MMD -MP -c $< -o $@

$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(KFLAGS) $(ISA_AVX512) -MMD -MP -c $< -o $@

$(BUILD)/%_vnni.o: %_vnni.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(KFLAGS) $(ISA_VNNI) -MMD -MP -c $< -o $@

$(BUILD)/%_amx.o: %_amx.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(KFLAGS) $(ISA_AMX) -MMD -MP -c $< -o $@

$(BUILD)/%_shani.o: %_shani.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(KFLAGS) $(ISA_SHANI) -MMD -MP -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(KFLAGS) -MMD -MP -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)ar rcs $@ $^

$(LIB_SO): $(LIB_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(CLI): $(CLI_OBJ) $(LIB_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SANFLAGS) -o $@ $(CLI_OBJ) $(LIB_A) $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -MMD -MP -o $@ $< $(LIB_A) $(LDLIBS)

# The tests also link the CLI's pieces (all of tools/born but its main), so commands are tested.
CLI_LIB_OBJ := $(filter-out $(BUILD)/tools/born/main.o,$(CLI_OBJ))

$(TESTS): $(TEST_OBJ) $(CLI_LIB_OBJ) $(LIB_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(SANFLAGS) -o $@ $(TEST_OBJ) $(CLI_LIB_OBJ) $(LIB_A) $(LDLIBS)

# The suite runs from the repository root so that tests find tests/fixtures/.
test: $(TESTS) $(CLI)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 ./$(TESTS)

# The suite for arm64 (its NEON kernels) from an x86-64 machine: cross-built into build/arm64 and
# run under qemu-user (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user).
# On an arm64 machine `make test` runs it natively.
ARM64_CC ?= aarch64-linux-gnu-gcc
test-arm64:
	$(MAKE) CC=$(ARM64_CC) BUILD=build/arm64 SAN=0 build/arm64/born_tests
	qemu-aarch64 -L /usr/aarch64-linux-gnu build/arm64/born_tests

demo: $(CLI)
	./$(CLI) demo --out $(BUILD)/mnist-cnn.born

# JSONTestSuite: every y_ file accepted, every n_ file rejected (docs/formats/json.md).
CONFORMANCE := $(BUILD)/json_conformance
$(CONFORMANCE): $(BUILD)/tests/conformance/json_conformance.o $(LIB_A)
	$(Q)$(CC) $(SANFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

# ONNX backend node tests (apt-get install libonnx-testdata; docs/formats/onnx.md).
ONNX_CONFORMANCE := $(BUILD)/onnx_conformance
ONNX_NODE_DIR ?= /usr/share/libonnx-testdata/data/node
ONNX_CONFORMANCE_RUN = @if [ -d $(ONNX_NODE_DIR) ]; then ./$(ONNX_CONFORMANCE) $(ONNX_NODE_DIR) > $(BUILD)/onnx_conformance.log; \
	st=$$?; tail -1 $(BUILD)/onnx_conformance.log; [ $$st -eq 0 ] || exit $$st; \
	else echo "onnx node tests: $(ONNX_NODE_DIR) missing (apt-get install libonnx-testdata)"; fi
$(ONNX_CONFORMANCE): $(BUILD)/tests/conformance/onnx_conformance.o $(LIB_A)
	$(Q)$(CC) $(SANFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)
# The real models against onnxruntime fixtures (docs/formats/onnx.md).
ONNX_MODELS := $(BUILD)/onnx_models
ONNX_MODEL_DIR ?= data/onnx-models
$(ONNX_MODELS): $(BUILD)/tests/conformance/onnx_models.o $(LIB_A)
	$(Q)$(CC) $(SANFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

# SmolLM2-135M-Instruct against llama.cpp's fixtures (tests/fixtures/llm/smollm2): the Q4_1 file
# (fetched into $(MODELS) by tools/fetch_smollm2.sh) and its Q8_0 made by `born quantize`.
LLM_CONFORMANCE := $(BUILD)/llm_conformance
MODELS ?= build/models
SMOLLM2 := $(MODELS)/SmolLM2-135M-Instruct
$(LLM_CONFORMANCE): $(BUILD)/tests/conformance/llm_conformance.o $(LIB_A)
	$(Q)$(CC) $(SANFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)
llm-conformance: $(LLM_CONFORMANCE) $(CLI)
	tools/fetch_smollm2.sh $(MODELS)
	./$(CLI) quantize $(SMOLLM2).Q4_1.gguf $(SMOLLM2).Q8_0.gguf q8_0
	./$(LLM_CONFORMANCE) $(SMOLLM2).Q4_1.gguf q4_1
	./$(LLM_CONFORMANCE) $(SMOLLM2).Q8_0.gguf q8_0

conformance: $(CONFORMANCE) $(ONNX_CONFORMANCE) $(ONNX_MODELS)
	./$(CONFORMANCE) tests/conformance/jsontestsuite
	$(ONNX_CONFORMANCE_RUN)
	@if [ -d $(ONNX_MODEL_DIR) ]; then ./$(ONNX_MODELS) $(ONNX_MODEL_DIR) tests/fixtures/onnx/models; fi

# libFuzzer harnesses (fuzz/*.c) against a clang build of the library in build/fuzz/; run them
# with fuzz/run.sh SECONDS.
FUZZ_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined \
        -fno-omit-frame-pointer
FUZZ_BIN   := $(patsubst fuzz/%.c,build/fuzz/%,$(wildcard fuzz/*.c))

fuzz:
	$(MAKE) BUILD=build/fuzz CC=clang CFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" \
	        build/fuzz/libborn.a
	$(MAKE) $(FUZZ_BIN)

$(FUZZ_BIN): build/fuzz/%: fuzz/%.c build/fuzz/libborn.a
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)clang $(BASE_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< build/fuzz/libborn.a $(LDLIBS)

# The CUDA backend: build/libborn-cuda.so, a plugin that libborn loads with dlopen when it is
# there (src/backend/registry.c), built whenever nvcc is found. CUDA_ARCH picks the GPUs it
# carries code for. `make test-cuda` runs the CUDA tests (each op on the GPU against the CPU, new
# device memory poisoned); without a GPU they say "skipped: no GPU".
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
# nvcc builds for the machine it runs on: a cross build (CC for another architecture, e.g.
# CC=aarch64-linux-gnu-gcc on x86-64) leaves the plugin out
ifeq ($(findstring $(shell uname -m),$(ARCH)),)
NVCC :=
endif
CUDA_PLUGIN := $(BUILD)/libborn-cuda.so
ifneq ($(strip $(NVCC)),)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]
CUDA_C_SRC  := $(sort $(wildcard src/backend/cuda/*.c))
CUDA_CU_SRC := $(sort $(wildcard src/backend/cuda/*.cu))
CUDA_OBJ := $(CUDA_C_SRC:%.c=$(BUILD)/cuda-plugin/%.o) $(CUDA_CU_SRC:%.cu=$(BUILD)/cuda-plugin/%.o)
CUDA_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -pthread -fPIC -fvisibility=hidden -Iinclude -Isrc \
        -isystem $(CUDA_HOME)/include $(WARN) -O2 -g
NVCC_FLAGS := -std=c++17 -O3 $(CUDA_ARCH) --Werror all-warnings -Xcompiler -fPIC,-fvisibility=hidden \
        -Iinclude -Isrc

all: $(CUDA_PLUGIN)

$(BUILD)/cuda-plugin/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CUDA_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/cuda-plugin/%.o: %.cu
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NVCC    $<")
	$(Q)$(NVCC) $(NVCC_FLAGS) $(NVCC_FILE_ARCH) -MMD -MP -c $< -o $@

# Hopper's attention kernels use wgmma, which only sm_90a code has: that file carries sm_90a code
# alone (its kernels run where the device is compute capability 9.0, attention_hopper.cu checks),
# or, with an nvcc that does not know sm_90a (before CUDA 12), nvcc's default code, in which the
# kernels are empty and never launched.
HOPPER_ARCH ?= $(if $(shell $(NVCC) -gencode arch=compute_90a$(comma)code=sm_90a --dryrun -x cu -c /dev/null -o /dev/null >/dev/null 2>&1 && echo y),-gencode arch=compute_90a$(comma)code=sm_90a)
comma := ,
$(BUILD)/cuda-plugin/src/backend/cuda/attention_hopper.o: NVCC_FLAGS := $(filter-out $(CUDA_ARCH),$(NVCC_FLAGS))
$(BUILD)/cuda-plugin/src/backend/cuda/attention_hopper.o: NVCC_FILE_ARCH := $(HOPPER_ARCH)

$(CUDA_PLUGIN): $(CUDA_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(NVCC) -shared $(CUDA_ARCH) -o $@ $(CUDA_OBJ) -L$(CUDA_HOME)/lib64 -lcublasLt \
	        -Xlinker -rpath,$(CUDA_HOME)/lib64 -Xlinker --no-undefined

-include $(CUDA_OBJ:.o=.d)
else
$(CUDA_PLUGIN):
	@echo "  nvcc not found: $(CUDA_PLUGIN) is not built"
endif

.PHONY: test-cuda
test-cuda: $(TESTS) $(CLI) $(CUDA_PLUGIN)
	@BORN_CUDA_POISON=1 ./$(TESTS) cuda

bench: $(LIB_A)
	$(MAKE) -C bench BUILD=../$(BUILD)

clean:
	rm -rf build

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) include/born/*.h $(shell find src tests -name '*.h')

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/tests/conformance/json_conformance.d \
         $(BUILD)/tests/conformance/onnx_conformance.d $(BUILD)/tests/conformance/onnx_models.d \
         $(BUILD)/tests/conformance/llm_conformance.d
