//===- MaskClass.h - Empty / Full / Partial tiles of a mask ----*- C++ -*-===//
//
// Classifies a tile [i0, i1) x [j0, j1) of a keep predicate (the body of a
// `KEEP` einsum or of an `attn.mask`: a block over b, h, i, j : i64 yielding
// i1) by interval arithmetic over its ops. The classifier is built once per
// variant and evaluated per tile with the runtime values of the params, so a
// param change never recompiles. The answer is sound: Empty means no point
// of the tile is kept, Full means every point is; anything the arithmetic
// cannot decide is Partial.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_ANALYSIS_MASKCLASS_H
#define ATTNC_COMPILER_ANALYSIS_MASKCLASS_H

#include "mlir/IR/Block.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cascade {

/// A closed interval of values; integers and i1 (0/1) are held exactly as
/// doubles (indices stay far below 2^53). Unbounded ends are +-infinity.
struct Interval {
  double lo, hi;

  static Interval point(double v) { return {v, v}; }
  static Interval unknown();
  static Interval boolean() { return {0, 1}; }
  bool isPoint() const { return lo == hi; }
};

/// Whether a tile of the mask is all masked, all kept or mixed (unknown).
enum class TileClass { Empty, Full, Partial };

/// Printable name ("empty", "full", "partial").
const char *tileClassName(TileClass c);

/// A tile of one (b, h) slice, or of every slice when b / h are absent.
struct Tile {
  int64_t i0, i1; ///< absolute query positions [i0, i1)
  int64_t j0, j1; ///< key positions [j0, j1)
  std::optional<int64_t> b, h;
};

/// What the classifier reads at run time.
struct MaskEnv {
  /// `attn.size` values: B, H, Hkv, Sq, Skv, D (missing ones are unknown).
  llvm::StringMap<int64_t> sizes;
  /// Param values by name (ints and bools as exact numbers); a missing param
  /// is unknown (the tile is classified for every value).
  llvm::StringMap<double> params;
  /// Optional per-tile summary of a tensor: the range of `tensor` over the
  /// box of index ranges; nullopt (or no callback) = unknown.
  std::function<std::optional<Interval>(llvm::StringRef tensor,
                                        llvm::ArrayRef<Interval> indices)>
      tensorRange;
};

/// A keep predicate compiled into a flat interval program.
class MaskClassifier {
public:
  /// Compiles `body` (arguments b, h, i, j : i64; a terminator yielding one
  /// i1). Ops it does not know become unknown intervals, never errors; fails
  /// only on a malformed block.
  static llvm::Expected<MaskClassifier> build(mlir::Block &body);

  /// The classifier of a variant's keep predicate (`variant` is an
  /// attn.variant): the body of its cascade's `KEEP` einsum, else of its
  /// attn.mask; without a mask every tile is Full.
  static llvm::Expected<MaskClassifier> forVariant(mlir::Operation *variant);

  /// The class of `tile` under `env`.
  TileClass classify(const Tile &tile, const MaskEnv &env) const;

  /// The interval of the kept predicate over the tile (for tests: {0,0},
  /// {1,1} or {0,1}).
  Interval evaluate(const Tile &tile, const MaskEnv &env) const;

  /// One instruction of the program (public for the implementation).
  struct Instr {
    enum Kind {
      Arg, Const, Param, Size, Load, Unknown, Unknown1,
      AddI, SubI, MulI, FloorDiv, FloorMod, TruncDiv, TruncRem, MinI, MaxI, AbsI, NegI,
      AddF, SubF, MulF, DivF, MinF, MaxF, AbsF, NegF, Cast,
      CmpLT, CmpLE, CmpGT, CmpGE, CmpEQ, CmpNE, And, Or, Xor, Select, Exp, Tanh
    } kind;
    std::vector<int> operands;
    double value = 0;  ///< Const: the value; Arg: 0..3 (b, h, i, j)
    std::string name;  ///< Param / Size / Load: the symbol
  };

private:
  std::vector<Instr> program;
  int result = -1;
};

} // namespace cascade

#endif // ATTNC_COMPILER_ANALYSIS_MASKCLASS_H
