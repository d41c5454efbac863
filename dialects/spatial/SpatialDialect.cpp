//===- SpatialDialect.cpp - spatial dialect registration and verifiers ----===//
#include "dialects/spatial/SpatialDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace spatial;

#include "dialects/spatial/SpatialDialect.cpp.inc"

void SpatialDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/spatial/SpatialOps.cpp.inc"
      >();
}

LogicalResult ProgramOp::verify() {
  if (getBinding() != "fusemax" && getBinding() != "flat")
    return emitOpError("binding must be \"fusemax\" or \"flat\", got \"") << getBinding() << "\"";
  if (getPasses() < 1)
    return emitOpError("needs at least one pass");
  if (getP0() < 0 || getM0() < 0)
    return emitOpError("tile sizes must be non-negative (0 = the array's size)");
  static const char *order[] = {"p2", "m1", "p1", "p0", "m0"};
  ArrayAttr lo = getLoopOrder();
  bool ok = lo.size() == 5;
  for (unsigned k = 0; ok && k < 5; ++k) {
    auto s = dyn_cast<StringAttr>(lo[k]);
    ok = s && s.getValue() == order[k];
  }
  if (!ok)
    return emitOpError("loop order must be [\"p2\", \"m1\", \"p1\", \"p0\", \"m0\"]");
  unsigned epochs = 0;
  for (Operation &op : getBody().front())
    epochs += isa<EpochOp>(op);
  if (epochs != 1)
    return emitOpError("must hold exactly one spatial.epoch");
  return success();
}

LogicalResult StreamOp::verify() {
  if (getDirection() != "load" && getDirection() != "store" && getDirection() != "keep" &&
      getDirection() != "spill")
    return emitOpError("direction must be load, store, keep or spill");
  if (getPer() != "p1" && getPer() != "m1" && getPer() != "pass")
    return emitOpError("per must be p1, m1 or pass");
  return success();
}

LogicalResult BindOp::verify() {
  if (getArray() != "2d" && getArray() != "1d")
    return emitOpError("array must be \"2d\" or \"1d\", got \"") << getArray() << "\"";
  bool inEpoch = isa<EpochOp>((*this)->getParentOp());
  bool known = llvm::StringSwitch<bool>(getExtent())
                   .Cases({"tile", "tile_e", "tile_f"}, inEpoch)
                   .Cases({"row", "row_f"}, true)
                   .Default(false);
  if (!known)
    return emitOpError("extent \"") << getExtent() << "\" is not valid "
           << (inEpoch ? "in an epoch" : "at the end of a tile");
  for (NamedAttribute a : getActions()) {
    StringRef n = a.getName().getValue();
    if (n != "mac" && n != "add" && n != "max" && n != "div" && n != "exp")
      return emitOpError("unknown action '") << n << "'";
    auto f = dyn_cast<FloatAttr>(a.getValue());
    if (!f || f.getValueAsDouble() < 0)
      return emitOpError("action '") << n << "' needs a non-negative float count";
  }
  if (getStage() < 0 || getPass() < 1)
    return emitOpError("stage must be >= 0 and pass >= 1");
  return success();
}

#define GET_OP_CLASSES
#include "dialects/spatial/SpatialOps.cpp.inc"
