//===- CascadeDialect.cpp - cascade dialect registration ------------------===//
#include "dialects/cascade/CascadeDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace cascade;

#include "dialects/cascade/CascadeDialect.cpp.inc"
#include "dialects/cascade/CascadeEnums.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "dialects/cascade/CascadeTypes.cpp.inc"

void CascadeDialect::initialize() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "dialects/cascade/CascadeTypes.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialects/cascade/CascadeOps.cpp.inc"
      >();
}
