//===- Arch.h - a spatial accelerator's description (arch/*.json) -*- C++ -*-===//
//
// The parameters the analytical model needs: a 2D PE array, a 1D PE array,
// clock, word size, DRAM bandwidth, global-buffer capacity, the cycles and
// energy of each compute action, and the energy of each storage access.
// Defaults are FuseMax's cloud configuration (arch/fusemax.json; the sources
// of the numbers are in docs/spatial.md).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_RUNTIME_SIMULATOR_ARCH_H
#define ATTNC_RUNTIME_SIMULATOR_ARCH_H

#include <cstdint>
#include <optional>
#include <string>

namespace attn::sim {

/// Cycles and energy of one compute action on one PE.
struct OpCost {
  double cycles = 1;
  double energyPj = 0;
};

/// A spatial accelerator: FuseMax's cloud configuration by default.
struct ArchConfig {
  std::string name = "fusemax";
  int64_t rows2d = 256;             ///< 2D array rows (the P0 tile)
  int64_t cols2d = 256;             ///< 2D array columns (the M0 tile)
  int64_t pes1d = 256;              ///< 1D array PEs
  double clockHz = 940e6;
  int64_t wordBytes = 2;            ///< 16-bit words
  double dramBytesPerSec = 400.0 * (1ull << 30); ///< the artifact's 400 * 2^30
  int64_t globalBufferBytes = 16ll << 20;
  /// Largest query block (in rows) a multi-pass mapping keeps resident
  /// (FLAT's row granularity; 1024 in the FLAT artifact).
  int64_t maxRowBlock = 1024;
  OpCost mac{1, 17.1645};
  OpCost add{1, 8.3395};
  OpCost max{1, 0.028036};
  OpCost div{1, 36.2512};
  OpCost exp{6, 6 * 17.1645};       ///< exp = 6 sequential MACs
  /// exp(a - b) costs only `exp` (a fused subtract-exponent unit, FLAT).
  bool subExpFused = false;
  double regReadPj = 0.6534, regWritePj = 0.5696;  ///< 1D PE registers, per word
  double reg2dReadPj = 0.025, reg2dWritePj = 0.0;  ///< 2D PE registers, per word
  double gbReadPj = 8.9317, gbWritePj = 10.7791;  ///< per word
  double dramPjPerWord = 128.0;
  /// Pipeline fill + drain, paid once per run (streams of epochs follow each
  /// other without bubbles).
  int64_t fillDrainCycles = 512;
};

/// Reads an architecture from JSON text (docs/spatial.md lists the fields);
/// missing fields keep FuseMax's values. Returns an error message.
std::optional<std::string> parseArch(const std::string &json, ArchConfig &out);

/// Reads an architecture file. Returns an error message naming the file.
std::optional<std::string> loadArch(const std::string &path, ArchConfig &out);

} // namespace attn::sim

#endif // ATTNC_RUNTIME_SIMULATOR_ARCH_H
