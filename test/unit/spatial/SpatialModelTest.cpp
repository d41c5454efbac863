//===- SpatialModelTest.cpp - hand-counted checks of the spatial model ----===//
//
// A 4x4 2D array and a 4-PE 1D array (arch/tiny4x4.json: 1 GHz, exp = 6
// cycles, 8 cycles of fill/drain, 2-byte words, 4 KiB buffer, 10 GB/s), head
// dims E = F = 2, Sq = Skv = 8, one batch and head: P0 = M0 = 4, two p tiles,
// two m tiles, four epochs. Every expectation below is derived in a comment.
//
//===----------------------------------------------------------------------===//
#include "runtime/simulator/Arch.h"
#include "runtime/simulator/Json.h"
#include "runtime/simulator/Mask.h"
#include "runtime/simulator/Model.h"
#include "runtime/simulator/Programs.h"

#include <gtest/gtest.h>

using namespace attn::sim;

namespace {
ArchConfig tiny() {
  ArchConfig arch;
  auto err = loadArch(ATTNC_ARCH_DIR "/tiny4x4.json", arch);
  EXPECT_FALSE(err) << *err;
  return arch;
}

Workload small(MaskKind mask = MaskKind::None) {
  Workload w;
  w.sq = w.skv = 8;
  w.e = w.f = 2;
  w.qOffset = 0;
  w.mask.kind = mask;
  return w;
}

double cyclesOf(const Report &r, const std::string &name) {
  for (const EinsumStat &s : r.perEinsum)
    if (s.name == name)
      return s.cycles;
  return -1;
}
} // namespace

TEST(SpatialArch, FuseMaxDefaultsMatchTheFile) {
  ArchConfig file;
  auto err = loadArch(ATTNC_ARCH_DIR "/fusemax.json", file);
  ASSERT_FALSE(err) << *err;
  ArchConfig defaults;
  EXPECT_EQ(file.rows2d, 256);
  EXPECT_EQ(file.cols2d, 256);
  EXPECT_EQ(file.pes1d, 256);
  EXPECT_DOUBLE_EQ(file.clockHz, 940e6);
  EXPECT_EQ(file.wordBytes, 2);
  EXPECT_EQ(file.globalBufferBytes, 16 << 20);
  EXPECT_DOUBLE_EQ(file.exp.cycles, 6);
  EXPECT_DOUBLE_EQ(file.dramBytesPerSec, defaults.dramBytesPerSec);
  EXPECT_DOUBLE_EQ(file.mac.energyPj, defaults.mac.energyPj);
}

TEST(SpatialArch, ErrorsAreValues) {
  ArchConfig arch;
  auto err = parseArch("{\"array2d\": {\"rows\": -4}}", arch);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("rows"), std::string::npos);
  err = parseArch("{\"clock_mhz\": 940,\n \"word_bytes\": }", arch);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->rfind("line 2", 0), 0u) << *err;
  err = loadArch("/nonexistent/arch.json", arch);
  ASSERT_TRUE(err);
}

TEST(SpatialJson, ParsesNestedValues) {
  JsonValue v;
  ASSERT_FALSE(parseJson("{\"a\": [1, 2.5e1, true, null, \"x\\ny\"], \"b\": {}}", v));
  ASSERT_TRUE(v.get("a"));
  EXPECT_EQ(v.get("a")->array.size(), 5u);
  EXPECT_DOUBLE_EQ(v.get("a")->array[1].number, 25);
  EXPECT_EQ(v.get("a")->array[4].string, "x\ny");
  EXPECT_TRUE(v.get("b")->isObject());
}

// One pass, no mask. Per epoch (one 4x4 tile of scores):
//   stage 0: 2D QK = 4*4*E points / 16 PEs = 2 cycles, LM = 1     -> 3
//            1D RD = 4 rows / 4 PEs = 1, RNV = 4*F / 4 = 2          -> 3
//            + per p tile, 1D AV = 4*F / 4 = 2 cycles (a division)
//   stage 1: 1D RM = 1
//   stage 2: 2D SLN = sub + exp = 1 + 6 = 7, SLD = 1               -> 8
//            1D PRM = 7, SPD = 1                                   -> 8
//   stage 3: 2D SLNV = F = 2; 1D SPNV = 2
// Over 4 epochs and 2 p tiles: stage 0 max(12, 12 + 4) = 16; stage 1 4;
// stage 2 max(32, 32) = 32; stage 3 max(8, 8) = 8; total 60 + 8 fill = 68.
// 2D busy = 12 + 32 + 8 = 52; 1D busy = 16 + 4 + 32 + 8 = 60.
TEST(SpatialModel, OnePassHandCounted) {
  Report r;
  auto err = simulate(tiny(), onePassSoftmax(), small(), r);
  ASSERT_FALSE(err) << *err;
  EXPECT_EQ(r.pTiles, 2);
  EXPECT_EQ(r.mTiles, 2);
  EXPECT_EQ(r.epochs, 4);
  EXPECT_DOUBLE_EQ(cyclesOf(r, "QK"), 8);
  EXPECT_DOUBLE_EQ(cyclesOf(r, "SLN"), 28);
  EXPECT_DOUBLE_EQ(cyclesOf(r, "AV"), 4);
  EXPECT_DOUBLE_EQ(r.computeCycles, 68);
  EXPECT_DOUBLE_EQ(r.barrierCycles, 68); // all epochs alike
  EXPECT_DOUBLE_EQ(r.busy2d, 52);
  EXPECT_DOUBLE_EQ(r.busy1d, 60);
  // Buffer: 2048 words; a K/V tile is 4 * (E + F) = 16 words; a row keeps
  // Q (2), RM, RD (1 each) and RNV (2) = 6 words, so 84 p tiles would fit:
  // both are resident (P1 = 2, P2 = 1): (16 + 2 * 4 * 6) * 2 B = 128 B.
  EXPECT_EQ(r.p1, 2);
  EXPECT_EQ(r.p2, 1);
  EXPECT_DOUBLE_EQ(r.bufferBytes, 128);
  // DRAM: Q 8*2 + O 8*2 + K/V once 8*(2+2) = 64 words = 128 B, 12.8 ns at
  // 10 GB/s: below the 68 ns of compute.
  EXPECT_DOUBLE_EQ(r.dramBytes, 128);
  EXPECT_FALSE(r.memoryBound);
  EXPECT_NEAR(r.seconds, 68e-9, 1e-15);
  EXPECT_NEAR(r.util2d, 52.0 / 68.0, 1e-12);
  // Energy with 1 pJ per action (exp 6) and 1 pJ per DRAM word, nothing
  // else: 2D QK 64*2 + LM 64 + SLN 64*7 + SLD 64 + SLNV 64*2 = 832;
  // 1D per epoch RD 4 + RNV 8 + RM 4 + PRM 28 + SPD 4 + SPNV 8 = 56, * 4 =
  // 224, AV 2 * 8 = 16 -> 240; DRAM 64.
  EXPECT_DOUBLE_EQ(r.energy2d, 832);
  EXPECT_DOUBLE_EQ(r.energy1d, 240);
  EXPECT_DOUBLE_EQ(r.energyDram, 64);
}

// Not pipelined: the stages of both arrays add up: 2D 52 + 1D 60 + 8 = 120.
TEST(SpatialModel, NoOverlapWithoutPipelining) {
  Program p = onePassSoftmax();
  p.pipelined = false;
  Report r;
  ASSERT_FALSE(simulate(tiny(), p, small(), r));
  EXPECT_DOUBLE_EQ(r.computeCycles, 120);
}

// GQA: 4 query heads sharing 2 K/V heads stream each K/V tile once per
// group: per query head Q 16 + O 16 words and half of K/V's 32 = 48 words,
// x 4 heads x 2 B = 384 B (MHA: 4 x 64 x 2 = 512 B).
TEST(SpatialModel, GroupedHeadsShareKV) {
  Workload w = small();
  w.heads = 4;
  w.kvHeads = 2;
  Report r;
  ASSERT_FALSE(simulate(tiny(), onePassSoftmax(), w, r));
  EXPECT_DOUBLE_EQ(r.dramBytes, 384);
  w.kvHeads = 0;
  ASSERT_FALSE(simulate(tiny(), onePassSoftmax(), w, r));
  EXPECT_DOUBLE_EQ(r.dramBytes, 512);
}

// Without interleaving, the 1D array's stage-0 work (RD, RNV, the final
// division: 16 cycles) gets a stage of its own after stage 3 instead of
// hiding behind QK and LM: 12 + 4 + 32 + 8 + 16 + 8 = 80.
TEST(SpatialModel, NoInterleaving) {
  Program p = onePassSoftmax();
  p.interleave = false;
  Report r;
  ASSERT_FALSE(simulate(tiny(), p, small(), r));
  EXPECT_DOUBLE_EQ(r.computeCycles, 80);
}

// Causal, q_offset 0: tile (rows 0-3, keys 0-3) partial, (0-3, 4-7) empty,
// (4-7, 0-3) full, (4-7, 4-7) partial: 3 epochs, 1 skipped. K/V: both key
// tiles are needed by the single chunk, so traffic is unchanged.
TEST(SpatialModel, CausalSkipsEmptyTiles) {
  Report r;
  ASSERT_FALSE(simulate(tiny(), onePassSoftmax(), small(MaskKind::Causal), r));
  EXPECT_EQ(r.epochs, 3);
  EXPECT_EQ(r.emptyEpochs, 1);
  EXPECT_EQ(r.partialEpochs, 2);
  EXPECT_EQ(r.fullEpochs, 1);
  // stage 0: max(3 * 3, 3 * 3 + 2 * 2) = 13; stage 1: 3; stage 2: 24;
  // stage 3: 6; + 8 = 54.
  EXPECT_DOUBLE_EQ(r.computeCycles, 54);
  // With a barrier per stage and epoch: each p tile's last epoch carries its
  // division (1D stage 0: 3 + 2 = 5 against 2D 3); every epoch costs
  // 3 + 1 + 8 + 2 = 14 without and 16 with it: 14 + 2 * 16 + 8 = 54.
  EXPECT_DOUBLE_EQ(r.barrierCycles, 54);
  // With a partial-only mask action of 4 cycles (2D stage 0 of partial
  // epochs: 3 + 4 = 7): the aggregate is max(3 * 3 + 2 * 4, 13) = 17 in
  // stage 0 -> 58; with barriers the partial epochs (the tiles' last ones)
  // cost max(7, 5) + 1 + 8 + 2 = 18 and the full one 14: 50 + 8 = 58.
  ScoreWork sw;
  sw.mask.add = 4;
  ASSERT_FALSE(simulate(tiny(), onePassSoftmax(sw), small(MaskKind::Causal), r));
  EXPECT_DOUBLE_EQ(r.computeCycles, 58);
  EXPECT_DOUBLE_EQ(r.barrierCycles, 58);
}

// Three passes, FLAT binding, everything overlapped. Per epoch: 2D QK 2 +
// AV 2 = 4; 1D (16 points on 4 PEs = 4 rounds) GM 4 + SN 4 * 7 + SD 4 + A 4
// = 40. Total max(16, 160) + 8 = 168. The scores of a block of rows stay
// resident: P1 = min(max_row_block 8 / 4 = 2, ...) = 2 tiles of 4 rows x 8
// keys + a K/V tile: (2 * 4 * 8 + 16) * 2 B = 160 B; nothing spills.
TEST(SpatialModel, ThreePassHandCounted) {
  Report r;
  ASSERT_FALSE(simulate(tiny(), threePassSoftmax(), small(), r));
  EXPECT_DOUBLE_EQ(r.computeCycles, 168);
  EXPECT_DOUBLE_EQ(r.busy2d, 16);
  EXPECT_DOUBLE_EQ(r.busy1d, 160);
  EXPECT_EQ(r.p1, 2);
  EXPECT_DOUBLE_EQ(r.bufferBytes, 160);
  EXPECT_DOUBLE_EQ(r.spillBytes, 0);
  EXPECT_TRUE(r.fitsBuffer);
}

// With a 48-byte buffer (24 words) one row block of scores (4 * 8 = 32
// words) does not fit: the scores spill, written and
// read back at each of the two pass boundaries: 4 epochs * 16 scores * 4 =
// 256 words = 512 B on top of the 128 B of Q, K, V, O.
TEST(SpatialModel, ThreePassSpills) {
  ArchConfig arch = tiny();
  arch.globalBufferBytes = 48;
  Report r;
  ASSERT_FALSE(simulate(arch, threePassSoftmax(), small(), r));
  EXPECT_FALSE(r.fitsBuffer);
  EXPECT_DOUBLE_EQ(r.spillBytes, 512);
  EXPECT_DOUBLE_EQ(r.dramBytes, 640);
}

// Bandwidth-bound: at 1 GB/s the 128 B of the one-pass run take 128 ns,
// more than its 68 ns of compute; utilisation is 52 / 128.
TEST(SpatialModel, BandwidthBound) {
  ArchConfig arch = tiny();
  arch.dramBytesPerSec = 1e9;
  Report r;
  ASSERT_FALSE(simulate(arch, onePassSoftmax(), small(), r));
  EXPECT_TRUE(r.memoryBound);
  EXPECT_NEAR(r.seconds, 128e-9, 1e-15);
  EXPECT_NEAR(r.util2d, 52.0 / 128.0, 1e-12);
}

// FuseMax's configuration, BERT-Base at 1K (B 64, H 12, E = F = 64): per
// epoch the waterfall is max(QK+LM = 65, RD+RNV = 65, plus the division
// 64 cycles once per 4 epochs) + RM 1 + max(SLN+SLD = 8, PRM+SPD = 8) +
// max(SLNV 64, SPNV 64) = 81 + 1 + 8 + 64 = 154 cycles on average, of which
// the 2D array computes 65 + 8 + 64 = 137: 137 / 154 = 88.96% (published
// 0.8896, FPSG-UIUC/micro24-fusemax-artifact attn-proposal.csv). The 512
// cycles of fill/drain (absent from the artifact) cost 0.03% of 1.9M cycles.
TEST(SpatialModel, FuseMaxBert1K) {
  Workload w;
  w.batch = 64;
  w.heads = 12;
  w.sq = w.skv = 1024;
  Report r;
  ASSERT_FALSE(simulate(ArchConfig(), onePassSoftmax(), w, r));
  EXPECT_NEAR(r.util2d, 137.0 / 154.0, 5e-4);
  EXPECT_NEAR(r.seconds, 0.002013140425531915, 1e-6);
  EXPECT_DOUBLE_EQ(r.dramBytes, 4.0 * 64 * 12 * 1024 * 64 * 2); // Q, K, V, O once
}

TEST(SpatialMask, IntervalsAgreeWithPoints) {
  MaskSpec masks[5];
  masks[0].kind = MaskKind::Causal;
  masks[1].kind = MaskKind::Window;
  masks[1].window = 5;
  masks[2].kind = MaskKind::Streaming;
  masks[2].sinks = 2;
  masks[2].window = 3;
  masks[3].kind = MaskKind::Document;
  masks[3].docLen = 6;
  masks[4].kind = MaskKind::None;
  for (const MaskSpec &m : masks)
    for (int64_t i0 = 0; i0 < 24; i0 += 4)
      for (int64_t j0 = 0; j0 < 24; j0 += 4) {
        int kept = 0;
        for (int64_t i = i0; i < i0 + 4; ++i)
          for (int64_t j = j0; j < j0 + 4; ++j)
            kept += isKept(m, i, j);
        TileClass c = classifyTile(m, i0, i0 + 3, j0, j0 + 3);
        if (c == TileClass::Empty)
          EXPECT_EQ(kept, 0);
        if (c == TileClass::Full)
          EXPECT_EQ(kept, 16);
        if (m.kind != MaskKind::Document) // the document rule is conservative
          EXPECT_EQ(c == TileClass::Partial, kept > 0 && kept < 16)
              << int(m.kind) << " " << i0 << " " << j0;
      }
}
