//===- Programs.cpp - reference PE-array programs (FuseMax, FLAT) ---------===//
#include "Programs.h"

namespace attn::sim {

namespace {
OpMix ops(double mac, double add, double max, double div, double exp) {
  OpMix m;
  m.mac = mac;
  m.add = add;
  m.max = max;
  m.div = div;
  m.exp = exp;
  return m;
}

bool any(const OpMix &m) { return m.mac + m.add + m.max + m.div + m.exp > 0; }

Binding bind(const char *name, ArrayKind array, Extent extent, OpMix mix, unsigned stage,
             unsigned pass = 1, bool state = false, bool partialOnly = false) {
  Binding b;
  b.name = name;
  b.array = array;
  b.extent = extent;
  b.ops = mix;
  b.stage = stage;
  b.pass = pass;
  b.state = state;
  b.partialOnly = partialOnly;
  return b;
}

/// The score/bias and mask map actions, next to QK in stage 0.
void addScoreWork(Program &p, const ScoreWork &work, unsigned stage) {
  if (any(work.score))
    p.einsums.push_back(bind("S", ArrayKind::TwoD, Extent::Tile, work.score, stage));
  if (any(work.mask))
    p.einsums.push_back(
        bind("KEEP", ArrayKind::TwoD, Extent::Tile, work.mask, stage, 1, false, true));
}

constexpr ArrayKind D2 = ArrayKind::TwoD, D1 = ArrayKind::OneD;
} // namespace

Program onePassSoftmax(const ScoreWork &work) {
  Program p;
  p.name = "1-pass softmax (FuseMax binding)";
  p.passes = 1;
  // Stage 0: QK and LM on the 2D array while the 1D array finishes the
  // previous epoch's RD and RNV (and a finished tile's division).
  p.einsums.push_back(bind("QK", D2, Extent::TileE, ops(1, 0, 0, 0, 0), 0));
  addScoreWork(p, work, 0);
  p.einsums.push_back(bind("LM", D2, Extent::Tile, ops(0, 0, 1, 0, 0), 0));
  p.einsums.push_back(bind("RD", D1, Extent::Row, ops(0, 1, 0, 0, 0), 0, 1, true));
  p.einsums.push_back(bind("RNV", D1, Extent::RowF, ops(0, 1, 0, 0, 0), 0, 1, true));
  p.einsums.push_back(bind("AV", D1, Extent::RowFinalF, ops(0, 0, 0, 1, 0), 0));
  // Stage 1: the new running max.
  p.einsums.push_back(bind("RM", D1, Extent::Row, ops(0, 0, 1, 0, 0), 1, 1, true));
  // Stage 2: exponentials on both arrays.
  p.einsums.push_back(bind("SLN", D2, Extent::Tile, ops(0, 1, 0, 0, 1), 2));
  p.einsums.push_back(bind("SLD", D2, Extent::Tile, ops(0, 1, 0, 0, 0), 2));
  p.einsums.push_back(bind("PRM", D1, Extent::Row, ops(0, 1, 0, 0, 1), 2));
  p.einsums.push_back(bind("SPD", D1, Extent::Row, ops(1, 0, 0, 0, 0), 2));
  // Stage 3: the value products and the rescaled running numerator.
  p.einsums.push_back(bind("SLNV", D2, Extent::TileF, ops(1, 0, 0, 0, 0), 3));
  p.einsums.push_back(bind("SPNV", D1, Extent::RowF, ops(1, 0, 0, 0, 0), 3));
  if (work.sink) {
    // RM starts at the sink, RD at exp(sink - RM) = 1: once per row.
    p.einsums.push_back(bind("SINK", D1, Extent::RowFinal, ops(0, 1, 0, 0, 1), 1));
  }
  return p;
}

Program threePassSoftmax(const ScoreWork &work) {
  Program p;
  p.name = "3-pass softmax (FLAT binding)";
  p.passes = 3;
  p.einsums.push_back(bind("QK", D2, Extent::TileE, ops(1, 0, 0, 0, 0), 0, 1));
  addScoreWork(p, work, 0);
  p.einsums.push_back(bind("GM", D1, Extent::Tile, ops(0, 0, 1, 0, 0), 0, 1));
  p.einsums.push_back(bind("SN", D1, Extent::Tile, ops(0, 1, 0, 0, 1), 0, 2));
  p.einsums.push_back(bind("SD", D1, Extent::Tile, ops(0, 1, 0, 0, 0), 0, 2));
  p.einsums.push_back(bind("A", D1, Extent::Tile, ops(0, 0, 0, 1, 0), 0, 3));
  p.einsums.push_back(bind("AV", D2, Extent::TileF, ops(1, 0, 0, 0, 0), 0, 3));
  if (work.sink)
    p.einsums.push_back(bind("SINK", D1, Extent::RowFinal, ops(0, 1, 0, 0, 1), 0, 2));
  return p;
}

Program onePassSigmoid(const ScoreWork &work) {
  Program p;
  p.name = "1-pass sigmoid";
  p.passes = 1;
  p.einsums.push_back(bind("QK", D2, Extent::TileE, ops(1, 0, 0, 0, 0), 0));
  addScoreWork(p, work, 0);
  p.einsums.push_back(bind("RNV", D1, Extent::RowF, ops(0, 1, 0, 0, 0), 0, 1, true));
  // sigmoid(s) = 1 / (1 + exp(-s)).
  p.einsums.push_back(bind("A", D2, Extent::Tile, ops(0, 1, 0, 1, 1), 1));
  p.einsums.push_back(bind("SLNV", D2, Extent::TileF, ops(1, 0, 0, 0, 0), 2));
  return p;
}

Program flatElementwise(const OpMix &normOps, const ScoreWork &work) {
  Program p;
  p.name = "1-pass elementwise norm (FLAT binding)";
  p.passes = 1;
  p.einsums.push_back(bind("QK", D2, Extent::TileE, ops(1, 0, 0, 0, 0), 0));
  addScoreWork(p, work, 0);
  p.einsums.push_back(bind("A", D1, Extent::Tile, normOps, 0));
  p.einsums.push_back(bind("AV", D2, Extent::TileF, ops(1, 0, 0, 0, 0), 0));
  return p;
}

} // namespace attn::sim
