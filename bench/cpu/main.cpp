//===- main.cpp - attn-bench-cpu with the hand-written reference kernels --===//
//
// The table of Harness.h with the kernels of ReferenceKernels.h. A binary for
// attnc's own kernels has the same main with another KernelProvider.
//
//===----------------------------------------------------------------------===//
#include "bench/cpu/Harness.h"
#include "bench/cpu/ReferenceKernels.h"

int main(int argc, char **argv) {
  return attn::bench::benchMain(argc, argv, "reference",
                                [](const std::string &variant, int64_t) {
                                  return attn::bench::referenceKernel(variant);
                                });
}
