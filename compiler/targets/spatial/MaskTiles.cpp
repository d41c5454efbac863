//===- MaskTiles.cpp - the model's tile classes from a variant's mask -----===//
#include "compiler/targets/spatial/MaskTiles.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include <memory>

using namespace mlir;
namespace sim = attn::sim;

llvm::Expected<std::function<sim::TileClass(int64_t, int64_t, int64_t, int64_t)>>
attn::maskTileClassifier(VariantOp variant, const MaskTileEnv &env) {
  cascade::EinsumOp keep;
  variant.getBody().walk([&](cascade::EinsumOp e) {
    if (!keep && !e.getReduce() && e.getInputs().empty() &&
        cast<cascade::FiberType>(e.getType()).getElementType().isInteger(1))
      keep = e;
  });
  using Fn = std::function<sim::TileClass(int64_t, int64_t, int64_t, int64_t)>;
  if (!keep)
    return Fn();
  llvm::Expected<cascade::MaskClassifier> built =
      cascade::MaskClassifier::build(keep.getBody().front());
  if (!built)
    return built.takeError();
  auto classifier = std::make_shared<cascade::MaskClassifier>(std::move(*built));
  auto maskEnv = std::make_shared<cascade::MaskEnv>();
  for (const auto &s : env.sizes)
    maskEnv->sizes[s.getKey()] = s.getValue();
  // The variant's param defaults, then the caller's values.
  for (auto param : variant.getBody().getOps<attn::ParamOp>())
    if (auto def = param.getDefaultValueAttr()) {
      if (auto i = dyn_cast<IntegerAttr>(def))
        maskEnv->params[param.getSymName()] = static_cast<double>(i.getInt());
      else if (auto f = dyn_cast<FloatAttr>(def))
        maskEnv->params[param.getSymName()] = f.getValueAsDouble();
      else if (auto b = dyn_cast<BoolAttr>(def))
        maskEnv->params[param.getSymName()] = b.getValue() ? 1 : 0;
    }
  for (const auto &p : env.params)
    maskEnv->params[p.getKey()] = p.getValue();
  maskEnv->tensorRange = env.tensorRange;
  return Fn([classifier, maskEnv](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    cascade::Tile tile{i0, i1 + 1, j0, j1 + 1, std::nullopt, std::nullopt};
    switch (classifier->classify(tile, *maskEnv)) {
    case cascade::TileClass::Empty: return sim::TileClass::Empty;
    case cascade::TileClass::Full: return sim::TileClass::Full;
    case cascade::TileClass::Partial: return sim::TileClass::Partial;
    }
    return sim::TileClass::Partial;
  });
}
