//===- ToSimProgram.cpp - spatial.program -> the simulator's form ---------===//
#include "compiler/targets/spatial/ToSimProgram.h"
#include "dialects/spatial/SpatialDialect.h"

#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
namespace sim = attn::sim;

llvm::Expected<sim::Program> spatial::toSimProgram(ProgramOp program) {
  sim::Program out;
  out.name = program.getBinding().str() + " binding";
  out.passes = static_cast<unsigned>(program.getPasses());
  out.pipelined = program.getPipelined();
  out.interleave = program.getInterleave();
  out.p0 = program.getP0();
  out.m0 = program.getM0();
  for (Operation &op : program.getBody().front()) {
    bool end = isa<TileEndOp>(op);
    if (!end && !isa<EpochOp>(op))
      continue;
    for (Operation &inner : op.getRegion(0).front()) {
      auto bind = dyn_cast<BindOp>(inner);
      if (!bind)
        continue;
      sim::Binding b;
      b.name = bind.getName().str();
      b.array = bind.getArray() == "2d" ? sim::ArrayKind::TwoD : sim::ArrayKind::OneD;
      std::string ext = bind.getExtent().str();
      if (end)
        b.extent = ext == "row_f" ? sim::Extent::RowFinalF : sim::Extent::RowFinal;
      else
        b.extent = llvm::StringSwitch<sim::Extent>(ext)
                       .Case("tile", sim::Extent::Tile)
                       .Case("tile_e", sim::Extent::TileE)
                       .Case("tile_f", sim::Extent::TileF)
                       .Case("row", sim::Extent::Row)
                       .Default(sim::Extent::RowF);
      for (NamedAttribute a : bind.getActions()) {
        double v = cast<FloatAttr>(a.getValue()).getValueAsDouble();
        StringRef n = a.getName().getValue();
        (n == "mac"   ? b.ops.mac
         : n == "add" ? b.ops.add
         : n == "max" ? b.ops.max
         : n == "div" ? b.ops.div
                      : b.ops.exp) = v;
      }
      b.stage = static_cast<unsigned>(bind.getStage());
      b.pass = static_cast<unsigned>(bind.getPass());
      b.state = bind.getState();
      b.partialOnly = bind.getPartialOnly();
      out.einsums.push_back(b);
    }
  }
  if (out.einsums.empty())
    return llvm::createStringError("spatial program '" + out.name + "' binds no Einsum");
  return out;
}
