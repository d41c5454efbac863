//===- ToSimProgram.h - spatial.program -> the simulator's form -*- C++ -*-===//
#ifndef ATTNC_COMPILER_TARGETS_SPATIAL_TOSIMPROGRAM_H
#define ATTNC_COMPILER_TARGETS_SPATIAL_TOSIMPROGRAM_H

#include "runtime/simulator/Program.h"

#include "llvm/Support/Error.h"

namespace spatial {
class ProgramOp;

/// The plain-C++ program the simulator times (runtime/simulator/Program.h).
llvm::Expected<attn::sim::Program> toSimProgram(ProgramOp program);

} // namespace spatial

#endif
