//===- Model.cpp - analytical timing, traffic and energy model ------------===//
#include "Model.h"
#include "Mask.h"

#include <algorithm>
#include <cmath>

namespace attn::sim {

double pointCycles(const ArchConfig &arch, const OpMix &ops) {
  double add = ops.add;
  if (arch.subExpFused && ops.exp > 0)
    add = std::max(0.0, add - ops.exp);
  return ops.mac * arch.mac.cycles + add * arch.add.cycles + ops.max * arch.max.cycles +
         ops.div * arch.div.cycles + ops.exp * arch.exp.cycles;
}

namespace {
double pointEnergy(const ArchConfig &arch, const OpMix &ops) {
  return ops.mac * arch.mac.energyPj + ops.add * arch.add.energyPj +
         ops.max * arch.max.energyPj + ops.div * arch.div.energyPj +
         ops.exp * arch.exp.energyPj;
}

/// Register-file words touched by one point: two operand reads and one
/// result write per PE action (an exp is `exp.cycles` MAC steps).
double pointRegEnergy(const ArchConfig &arch, ArrayKind array, const OpMix &ops) {
  double actions = ops.mac + ops.add + ops.max + ops.div + ops.exp * arch.exp.cycles;
  if (array == ArrayKind::TwoD)
    return actions * (2 * arch.reg2dReadPj + arch.reg2dWritePj);
  return actions * (2 * arch.regReadPj + arch.regWritePj);
}

/// The largest divisor of n that is at most limit (at least 1).
int64_t largestDivisorAtMost(int64_t n, int64_t limit) {
  for (int64_t d = std::min(n, limit); d > 1; --d)
    if (n % d == 0)
      return d;
  return 1;
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
} // namespace

std::optional<std::string> simulate(const ArchConfig &arch, const Program &program,
                                    const Workload &work, Report &r) {
  r = Report();
  if (program.einsums.empty())
    return std::string("the program binds no Einsum");
  if (work.sq <= 0 || work.skv <= 0 || work.e <= 0 || work.f <= 0 || work.batch <= 0 ||
      work.heads <= 0)
    return std::string("every extent of the workload must be positive");
  const int64_t p0 = program.p0 ? program.p0 : arch.rows2d;
  const int64_t m0 = program.m0 ? program.m0 : arch.cols2d;
  if (p0 > arch.rows2d || m0 > arch.cols2d)
    return "tile " + std::to_string(p0) + "x" + std::to_string(m0) +
           " does not fit the " + std::to_string(arch.rows2d) + "x" +
           std::to_string(arch.cols2d) + " array";
  const double w = static_cast<double>(arch.wordBytes);
  const int64_t e = work.e, f = work.f, sq = work.sq, skv = work.skv;
  const int64_t qOff = work.qOffset >= 0 ? work.qOffset : skv - sq;
  const int64_t bh = work.batch * work.heads;
  const bool masked = work.classify || work.mask.kind != MaskKind::None;
  auto classOf = [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    return work.classify ? work.classify(i0, i1, j0, j1)
                         : classifyTile(work.mask, i0, i1, j0, j1);
  };
  r.p0 = p0;
  r.m0 = m0;
  r.pTiles = ceilDiv(sq, p0);
  r.mTiles = ceilDiv(skv, m0);

  // Buffer and chunking (p2 > m1 > p1): how many p tiles are resident.
  const double gbWords = static_cast<double>(arch.globalBufferBytes) / w;
  const double kvTileWords = static_cast<double>(m0 * (e + f));
  bool multiPass = program.passes > 1;
  if (!multiPass) {
    double rowState = static_cast<double>(e); // the row's Q
    for (const Binding &b : program.einsums)
      if (b.state)
        rowState += (b.extent == Extent::RowF || b.extent == Extent::RowFinalF) ? f : 1;
    double p1max = std::floor((gbWords - kvTileWords) / (rowState * p0));
    r.fitsBuffer = p1max >= 1;
    r.p1 = largestDivisorAtMost(r.pTiles, std::max<int64_t>(1, static_cast<int64_t>(
                                              std::min<double>(p1max, r.pTiles))));
    r.bufferBytes = (kvTileWords + r.p1 * p0 * rowState) * w;
  } else {
    // The scores of a block of rows stay resident between passes.
    // With empty tiles skipped, a row keeps only its non-empty tiles.
    int64_t maxP1 = std::max<int64_t>(1, arch.maxRowBlock / p0);
    int64_t widest = r.mTiles;
    if (masked && program.skipEmptyTiles) {
      widest = 0;
      for (int64_t t = 0; t < r.pTiles; ++t) {
        int64_t i0 = qOff + t * p0, i1 = qOff + std::min(sq, (t + 1) * p0) - 1, kept = 0;
        for (int64_t u = 0; u < r.mTiles; ++u)
          kept += classOf(i0, i1, u * m0, std::min(skv, (u + 1) * m0) - 1) != TileClass::Empty;
        widest = std::max(widest, kept);
      }
    }
    double rowWords = static_cast<double>(std::min(skv, std::max<int64_t>(1, widest) * m0));
    // As in the FLAT artifact, the streamed K/V tile is not charged against
    // the score buffer (it overbooks by one tile, 64 KiB at most).
    r.fitsBuffer = p0 * rowWords <= gbWords;
    int64_t limit = maxP1;
    if (r.fitsBuffer)
      limit = std::min<int64_t>(limit, static_cast<int64_t>(gbWords / (p0 * rowWords)));
    r.p1 = largestDivisorAtMost(r.pTiles, std::max<int64_t>(1, limit));
    r.bufferBytes = (r.p1 * p0 * rowWords + kvTileWords) * w;
  }
  r.p2 = r.pTiles / r.p1;

  // Epochs: classify every (p tile, m tile) by intervals; count the K/V
  // tiles each chunk must stream (those non-empty for some p tile in it).
  double kvKeysStreamed = 0; // keys streamed from DRAM, summed over chunks
  // For the barrier schedule: the class of each p tile's last epoch (its
  // tile-end work runs with it), and p tiles without any epoch.
  int64_t lastPartial = 0, lastFull = 0, noEpochTiles = 0;
  if (!masked || !program.skipEmptyTiles) {
    r.epochs = r.pTiles * r.mTiles;
    r.fullEpochs = !masked ? r.epochs : 0;
    r.partialEpochs = r.epochs - r.fullEpochs;
    (masked ? lastPartial : lastFull) = r.pTiles;
    kvKeysStreamed = static_cast<double>(r.p2) * skv;
  } else {
    std::vector<char> needed(r.mTiles);
    for (int64_t c = 0; c < r.p2; ++c) {
      std::fill(needed.begin(), needed.end(), 0);
      for (int64_t t = c * r.p1; t < (c + 1) * r.p1; ++t) {
        int64_t i0 = qOff + t * p0, i1 = qOff + std::min(sq, (t + 1) * p0) - 1;
        TileClass last = TileClass::Empty;
        for (int64_t u = 0; u < r.mTiles; ++u) {
          int64_t j0 = u * m0, j1 = std::min(skv, (u + 1) * m0) - 1;
          TileClass cls = classOf(i0, i1, j0, j1);
          switch (cls) {
          case TileClass::Empty: ++r.emptyEpochs; continue;
          case TileClass::Partial: ++r.partialEpochs; break;
          case TileClass::Full: ++r.fullEpochs; break;
          }
          last = cls;
          needed[u] = 1;
        }
        ++(last == TileClass::Empty ? noEpochTiles
           : last == TileClass::Partial ? lastPartial
                                        : lastFull);
      }
      for (int64_t u = 0; u < r.mTiles; ++u)
        if (needed[u])
          kvKeysStreamed += std::min(skv, (u + 1) * m0) - u * m0;
    }
    r.epochs = r.partialEpochs + r.fullEpochs;
  }

  // Compute: busy cycles per array and stage, per (batch, head).
  unsigned stages = 0;
  for (const Binding &b : program.einsums)
    stages = std::max(stages, b.stage + 1);
  // Without interleaving, the 1D array's stage-0 work gets a stage of its own
  // after the last one.
  const unsigned lastStage = stages;
  auto stageOf = [&](const Binding &b) {
    return !program.interleave && b.stage == 0 && b.array == ArrayKind::OneD ? lastStage
                                                                              : b.stage;
  };
  if (!program.interleave)
    ++stages;
  std::vector<double> stage2d(stages, 0.0), stage1d(stages, 0.0);
  // One epoch's cycles per array and stage: [partial][with the tile end].
  std::vector<double> epoch2d[2][2], epoch1d[2][2];
  for (int k = 0; k < 4; ++k) {
    epoch2d[k / 2][k % 2].assign(stages, 0.0);
    epoch1d[k / 2][k % 2].assign(stages, 0.0);
  }
  double opsEnergy2d = 0, opsEnergy1d = 0, regEnergy = 0, stateWords = 0;
  for (const Binding &b : program.einsums) {
    double units = 0, points = 0;
    switch (b.extent) {
    case Extent::Tile: case Extent::TileE: case Extent::TileF:
    case Extent::Row: case Extent::RowF:
      units = static_cast<double>(b.partialOnly ? r.partialEpochs : r.epochs);
      break;
    case Extent::RowFinal: case Extent::RowFinalF:
      units = static_cast<double>(r.pTiles);
      break;
    }
    switch (b.extent) {
    case Extent::Tile: points = p0 * m0; break;
    case Extent::TileE: points = p0 * m0 * e; break;
    case Extent::TileF: points = p0 * m0 * f; break;
    case Extent::Row: case Extent::RowFinal: points = p0; break;
    case Extent::RowF: case Extent::RowFinalF: points = p0 * f; break;
    }
    double pes = b.array == ArrayKind::TwoD ? arch.rows2d * arch.cols2d : arch.pes1d;
    double perUnit = std::ceil(points / pes) * pointCycles(arch, b.ops);
    double cycles = units * perUnit;
    (b.array == ArrayKind::TwoD ? stage2d : stage1d)[stageOf(b)] += cycles;
    bool tileEnd = b.extent == Extent::RowFinal || b.extent == Extent::RowFinalF;
    for (int partial = 0; partial < 2; ++partial)
      for (int end = 0; end < 2; ++end)
        if ((tileEnd ? end == 1 : true) && (!b.partialOnly || partial == 1))
          (b.array == ArrayKind::TwoD ? epoch2d : epoch1d)[partial][end][stageOf(b)] += perUnit;
    r.perEinsum.push_back({b.name, b.array, cycles * bh});
    double count = units * points * bh;
    (b.array == ArrayKind::TwoD ? opsEnergy2d : opsEnergy1d) += count * pointEnergy(arch, b.ops);
    regEnergy += count * pointRegEnergy(arch, b.array, b.ops);
    if (b.state)
      stateWords += count;
  }
  double perHead = 0;
  for (unsigned s = 0; s < stages; ++s) {
    r.busy2d += stage2d[s] * bh;
    r.busy1d += stage1d[s] * bh;
    perHead += program.pipelined ? std::max(stage2d[s], stage1d[s]) : stage2d[s] + stage1d[s];
  }
  r.computeCycles = perHead * bh + arch.fillDrainCycles;
  // The same work with a barrier after every stage of every epoch: no slack
  // moves from one epoch to the next (equal to the above when all epochs
  // are alike, as without a mask).
  auto epochCost = [&](int partial, int end, bool only1d) {
    double c = 0;
    for (unsigned st = 0; st < stages; ++st) {
      double a = only1d ? 0.0 : epoch2d[partial][end][st];
      double b = epoch1d[partial][end][st] - (only1d ? epoch1d[partial][0][st] : 0.0);
      c += program.pipelined ? std::max(a, b) : a + b;
    }
    return c;
  };
  double barrierPerHead =
      (r.fullEpochs - lastFull) * epochCost(0, 0, false) + lastFull * epochCost(0, 1, false) +
      (r.partialEpochs - lastPartial) * epochCost(1, 0, false) +
      lastPartial * epochCost(1, 1, false) + noEpochTiles * epochCost(0, 1, true);
  r.barrierCycles = barrierPerHead * bh + arch.fillDrainCycles;
  r.computeSeconds = r.computeCycles / arch.clockHz;

  // DRAM: Q in, O out, K/V once per chunk, plus spilled scores.
  double scoresPerHead = static_cast<double>(r.epochs) * p0 * m0;
  double spillWords = 0, scoresOnChip = 0;
  if (multiPass) {
    double moves = 2.0 * (program.passes - 1) * scoresPerHead; // write + read back
    (r.fitsBuffer ? scoresOnChip : spillWords) = moves;
  }
  const double kvShare = work.kvHeads > 0 && work.kvHeads < work.heads
                             ? static_cast<double>(work.kvHeads) / work.heads
                             : 1.0;
  double dramWordsPerHead = static_cast<double>(sq) * e + static_cast<double>(sq) * f +
                            kvKeysStreamed * (e + f) * kvShare + spillWords;
  r.dramBytes = dramWordsPerHead * w * bh;
  r.spillBytes = spillWords * w * bh;
  r.memSeconds = r.dramBytes / arch.dramBytesPerSec;
  r.seconds = std::max(r.computeSeconds, r.memSeconds);
  r.memoryBound = r.memSeconds > r.computeSeconds;
  double totalCycles = r.seconds * arch.clockHz;
  r.util2d = r.busy2d / totalCycles;
  r.util1d = r.busy1d / totalCycles;

  // Energy.
  double tileReads = static_cast<double>(r.epochs) * (p0 * e + m0 * e + m0 * f) * bh;
  double gbReads = tileReads + stateWords + scoresOnChip / 2 * bh + static_cast<double>(sq) * f * bh;
  double gbWrites = (dramWordsPerHead - spillWords - static_cast<double>(sq) * f) * bh +
                    stateWords + scoresOnChip / 2 * bh + static_cast<double>(sq) * f * bh;
  r.energy2d = opsEnergy2d;
  r.energy1d = opsEnergy1d;
  r.energyReg = regEnergy;
  r.energyGb = gbReads * arch.gbReadPj + gbWrites * arch.gbWritePj;
  r.energyDram = dramWordsPerHead * bh * arch.dramPjPerWord;
  r.energyTotal = r.energy2d + r.energy1d + r.energyReg + r.energyGb + r.energyDram;
  return std::nullopt;
}

} // namespace attn::sim
