//===- Online.cpp - cascade-online ----------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/Utils.h"

namespace cascade {
#define GEN_PASS_DEF_CASCADEONLINE
#include "compiler/Transforms/Passes.h.inc"
} // namespace cascade

using namespace mlir;
using namespace cascade;

namespace {
struct OnlinePass : public cascade::impl::CascadeOnlineBase<OnlinePass> {
  void runOnOperation() override {}
};
} // namespace

std::unique_ptr<Pass> cascade::createOnlinePass() { return std::make_unique<OnlinePass>(); }
