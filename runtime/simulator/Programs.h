//===- Programs.h - reference PE-array programs (FuseMax, FLAT) -*- C++ -*-===//
//
// The bindings that `cascade-to-spatial` produces for the standard cascades,
// written out by hand: the benchmark uses them directly, and the compiler's
// tests check that the lowering reproduces them.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_RUNTIME_SIMULATOR_PROGRAMS_H
#define ATTNC_RUNTIME_SIMULATOR_PROGRAMS_H

#include "Program.h"

namespace attn::sim {

/// Extra per-point work of a variant on the 2D array, besides QK.
struct ScoreWork {
  OpMix score;  ///< score + bias map actions on every computed point
  OpMix mask;   ///< the mask, evaluated only on partially masked tiles
  bool sink = false; ///< softmax(sink = ...): RM and RD start from the sink
};

/// FuseMax's binding of the 1-pass softmax cascade: QK, LM, SLN, SLD, SLNV on
/// the 2D array; RM, PRM, SPD, RD, SPNV, RNV and the final division on the 1D
/// array; four pipeline stages per epoch (the waterfall of FuseMax Fig. 5).
Program onePassSoftmax(const ScoreWork &work = {});

/// The 3-pass softmax cascade as FLAT maps it: QK and AV on the 2D array,
/// GM, SN, SD, A on the 1D array, every operator overlapped (row-granularity
/// fusion), the scores of a row block kept between passes (or spilled).
Program threePassSoftmax(const ScoreWork &work = {});

/// A norm without row reduction (sigmoid): QK, S, A and SLNV on the 2D array,
/// only the running sum RNV on the 1D array; no final division.
Program onePassSigmoid(const ScoreWork &work = {});

/// FLAT's binding of a norm without row reduction: QK and AV on the 2D
/// array, the elementwise norm `normOps` on the 1D array, overlapped.
Program flatElementwise(const OpMix &normOps, const ScoreWork &work = {});

} // namespace attn::sim

#endif // ATTNC_RUNTIME_SIMULATOR_PROGRAMS_H
