//===- SplitKV.cpp - cascade-split-kv -------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/Utils.h"

namespace cascade {
#define GEN_PASS_DEF_CASCADESPLITKV
#include "compiler/Transforms/Passes.h.inc"
} // namespace cascade

using namespace mlir;
using namespace cascade;

namespace {
struct SplitKVPass : public cascade::impl::CascadeSplitKVBase<SplitKVPass> {
  using CascadeSplitKVBase::CascadeSplitKVBase;
  void runOnOperation() override {}
};
} // namespace

std::unique_ptr<Pass> cascade::createSplitKVPass(int64_t workers) {
  CascadeSplitKVOptions opts;
  opts.workers = workers;
  return std::make_unique<SplitKVPass>(opts);
}
