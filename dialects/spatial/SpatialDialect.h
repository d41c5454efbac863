//===- SpatialDialect.h - PE-array programs ---------------------*- C++ -*-===//
#ifndef ATTNC_DIALECTS_SPATIAL_SPATIALDIALECT_H
#define ATTNC_DIALECTS_SPATIAL_SPATIALDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"

#include "dialects/spatial/SpatialDialect.h.inc"

#define GET_OP_CLASSES
#include "dialects/spatial/SpatialOps.h.inc"

#endif // ATTNC_DIALECTS_SPATIAL_SPATIALDIALECT_H
