//===- Problem.h - one attention call, in float64, for oracles --*- C++ -*-===//
//
// The inputs and outputs of one call of a variant as plain float64 arrays
// (row-major), shared by the reference evaluators (the direct evaluation of
// LANGUAGE.md's semantics from the AST, and the cascade interpreter), the
// `attnc run` command and the tests. No MLIR here.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_COMPILER_REFERENCE_PROBLEM_H
#define ATTNC_COMPILER_REFERENCE_PROBLEM_H

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace attn::ref {

/// A dense row-major array of doubles (integer tensors hold exact integers).
struct Array {
  std::vector<int64_t> shape;
  std::vector<double> data;

  int64_t numElements() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
  }
};

/// One call: q [B,H,Sq,D], k/v [B,Hkv,Skv,D], extra tensors by name, params
/// by name (ints and bools as exact doubles), optional q_offset.
struct Problem {
  Array q, k, v;
  std::map<std::string, Array> tensors;
  std::map<std::string, double> params; ///< missing params take their default
  std::optional<int64_t> qOffset;       ///< default Skv - Sq
};

/// The result: o [B,H,Sq,D] and the natural-log log-sum-exp [B,H,Sq]
/// (only for softmax norms; -inf for rows with no kept key).
struct Result {
  Array o;
  std::optional<Array> lse;
};

} // namespace attn::ref

#endif // ATTNC_COMPILER_REFERENCE_PROBLEM_H
