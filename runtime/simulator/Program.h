//===- Program.h - a PE-array program, as the simulator sees it -*- C++ -*-===//
//
// The plain-C++ form of a `spatial` dialect program (dialects/spatial): which
// array runs each Einsum of a tiled cascade, how many points it computes per
// epoch (one epoch = one m1 step of one p1 tile, a P0 x M0 tile of scores),
// which actions each point costs, and in which pipeline stage it runs. The
// compiler produces it from the spatial dialect
// (compiler/targets/spatial/ToSimProgram.h); the benchmark also builds the
// reference programs directly (Programs.h). No LLVM, no MLIR.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_RUNTIME_SIMULATOR_PROGRAM_H
#define ATTNC_RUNTIME_SIMULATOR_PROGRAM_H

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace attn::sim {

/// The two arrays of a FuseMax-style accelerator.
enum class ArrayKind { TwoD, OneD };

/// How many points an Einsum computes, and how often.
enum class Extent {
  Tile,      ///< P0 x M0 points per epoch (LM, SLN, SLD)
  TileE,     ///< P0 x M0 x E per epoch (QK)
  TileF,     ///< P0 x M0 x F per epoch (SLNV)
  Row,       ///< P0 points per epoch (RM, PRM, RD)
  RowF,      ///< P0 x F per epoch (RNV, SPNV)
  RowFinal,  ///< P0 points per p tile, after its last epoch
  RowFinalF, ///< P0 x F per p tile (the final division AV = RNV / RD)
};

/// Actions per point (fractions allowed: an average over a body).
struct OpMix {
  double mac = 0, add = 0, max = 0, div = 0, exp = 0;
};

/// One Einsum bound to an array.
struct Binding {
  std::string name;
  ArrayKind array = ArrayKind::TwoD;
  Extent extent = Extent::Tile;
  OpMix ops;
  /// Pipeline stage within an epoch: Einsums of one stage on different arrays
  /// overlap; stages follow each other (FuseMax's waterfall).
  unsigned stage = 0;
  /// The pass over K/V this Einsum belongs to (1-based).
  unsigned pass = 1;
  /// Per-row state carried across epochs in the global buffer (RM, RD, RNV).
  bool state = false;
  /// Evaluated only on partially masked tiles (the mask of a tile that the
  /// interval analysis proved full or empty is never computed).
  bool partialOnly = false;
};

/// A whole mapping: loop order p2 > m1 > p1 > p0 (parallel) > m0 (parallel).
struct Program {
  std::string name;
  unsigned passes = 1;   ///< passes over K/V (1: online; 3: FLAT softmax)
  bool pipelined = true; ///< 2D and 1D work of one stage overlap
  /// Stage-0 work of the 1D array (the previous epoch's accumulations)
  /// overlaps the next epoch's first 2D stage; without it, it runs last.
  bool interleave = true;
  int64_t p0 = 0;        ///< query tile; 0 = the 2D array's rows
  int64_t m0 = 0;        ///< key tile; 0 = the 2D array's columns
  bool skipEmptyTiles = true;
  std::vector<Binding> einsums;
};

/// Index-only masks whose tiles the model classifies by interval reasoning
/// (i = q_offset + row, j = key).
enum class MaskKind {
  None,      ///< every pair kept
  Causal,    ///< j <= i
  Window,    ///< j <= i && i - j < window
  Streaming, ///< j <= i && (j < sinks || i - j < window)
  Document,  ///< same document (fixed length docLen) && j <= i
};

struct MaskSpec {
  MaskKind kind = MaskKind::None;
  int64_t window = 0, sinks = 0, docLen = 0;
};

/// Whether a tile of the score matrix has no kept pair, some, or all.
enum class TileClass { Empty, Partial, Full };

/// One call: batch, heads, sequence lengths, head dims, mask.
struct Workload {
  int64_t batch = 1, heads = 1;
  /// K/V heads (GQA / MQA); 0 = heads. The query heads of a group run back
  /// to back in one p2 chunk and share each streamed K/V tile.
  int64_t kvHeads = 0;
  int64_t sq = 1, skv = 1;
  int64_t e = 64, f = 64;
  int64_t qOffset = -1; ///< -1: Skv - Sq
  MaskSpec mask;
  /// A classifier of tiles (absolute rows [i0, i1] x keys [j0, j1],
  /// inclusive) that replaces `mask` when set: the compiler's interval
  /// analysis of the variant's own mask (compiler/Analysis/MaskClass.h).
  std::function<TileClass(int64_t i0, int64_t i1, int64_t j0, int64_t j1)> classify;
};

} // namespace attn::sim

#endif // ATTNC_RUNTIME_SIMULATOR_PROGRAM_H
