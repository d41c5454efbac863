//===- attn-opt.cpp - mlir-opt for attnc's dialects and passes ------------===//
//
// Registers exactly the project's dialects and passes plus the upstream
// dialects their IR uses (builtin, arith, math).
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "compiler/Analysis/PassCount.h"
#include "compiler/Conversion/AttnToCascade/AttnToCascade.h"
#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"
#include "compiler/targets/spatial/CascadeToSpatial.h"
#include "dialects/spatial/SpatialDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<attn::AttnDialect, cascade::CascadeDialect, mlir::arith::ArithDialect,
                  mlir::math::MathDialect, spatial::SpatialDialect>();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  attn::registerAttnToCascadePasses();
  cascade::registerCascadeAnalysisPasses();
  cascade::registerCascadeTransformsPasses();
  spatial::registerSpatialTargetPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "attnc optimizer driver\n", registry));
}
