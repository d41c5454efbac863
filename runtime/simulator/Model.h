//===- Model.h - analytical timing, traffic and energy model ----*- C++ -*-===//
//
// Times a Program on an ArchConfig for a Workload without visiting every
// element: it counts epochs (P0 x M0 tiles; empty ones skipped by interval
// reasoning on the mask), sums each array's cycles per pipeline stage, lets
// the 2D and 1D arrays overlap within a stage (FuseMax's waterfall), and
// bounds the result by DRAM bandwidth. docs/spatial.md derives every formula.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_RUNTIME_SIMULATOR_MODEL_H
#define ATTNC_RUNTIME_SIMULATOR_MODEL_H

#include "Arch.h"
#include "Program.h"

#include <optional>
#include <string>
#include <vector>

namespace attn::sim {

/// Busy cycles of one Einsum over the whole run.
struct EinsumStat {
  std::string name;
  ArrayKind array;
  double cycles = 0;
};

/// What the model found.
struct Report {
  // Tiling, per (batch, head).
  int64_t p0 = 0, m0 = 0, pTiles = 0, mTiles = 0;
  int64_t epochs = 0;        ///< non-empty (p tile, m tile) pairs
  int64_t emptyEpochs = 0, partialEpochs = 0, fullEpochs = 0;
  int64_t p1 = 0;            ///< p tiles resident at once (one p2 chunk)
  int64_t p2 = 0;            ///< chunks: K/V are streamed once per chunk
  // Time, whole run.
  double busy2d = 0, busy1d = 0; ///< cycles each array computes
  double computeCycles = 0;      ///< pipelined compute time (FuseMax's waterfall)
  /// Compute time with a barrier after every stage of every epoch (slack
  /// never moves between epochs): an upper bound that equals computeCycles
  /// when all epochs are alike.
  double barrierCycles = 0;
  double computeSeconds = 0, memSeconds = 0, seconds = 0;
  bool memoryBound = false;
  double util2d = 0, util1d = 0; ///< busy cycles / total cycles
  // Storage.
  double dramBytes = 0;
  double spillBytes = 0;   ///< part of dramBytes: intermediates of a multi-pass program
  double bufferBytes = 0;  ///< global buffer the mapping needs
  bool fitsBuffer = true;
  // Energy (pJ), whole run.
  double energy2d = 0, energy1d = 0, energyReg = 0, energyGb = 0, energyDram = 0;
  double energyTotal = 0;
  std::vector<EinsumStat> perEinsum;
};

/// Cycles of one point of `ops` on `arch` (exp as `arch.exp.cycles`; with
/// `subExpFused`, the subtraction feeding an exp is free).
double pointCycles(const ArchConfig &arch, const OpMix &ops);

/// Runs the model. Errors: a tile larger than the array, empty shapes, a
/// program without Einsums.
std::optional<std::string> simulate(const ArchConfig &arch, const Program &program,
                                    const Workload &work, Report &report);

} // namespace attn::sim

#endif // ATTNC_RUNTIME_SIMULATOR_MODEL_H
