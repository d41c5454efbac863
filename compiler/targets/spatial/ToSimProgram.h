//===- ToSimProgram.h - spatial.program -> the simulator's form -*- C++ -*-===//
#ifndef ATTNC_COMPILER_TARGETS_SPATIAL_TOSIMPROGRAM_H
#define ATTNC_COMPILER_TARGETS_SPATIAL_TOSIMPROGRAM_H

#include "runtime/simulator/Program.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>

namespace spatial {
class ProgramOp;

/// The plain-C++ program the simulator times (runtime/simulator/Program.h).
llvm::Expected<attn::sim::Program> toSimProgram(ProgramOp program);

/// Parses a mask class: none, causal, window=W, document=L, streaming=S,W.
/// Returns an error message.
std::optional<std::string> parseMaskSpec(llvm::StringRef text, attn::sim::MaskSpec &mask);

} // namespace spatial

#endif
