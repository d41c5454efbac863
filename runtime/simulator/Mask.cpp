//===- Mask.cpp - tile classes of index-only masks by intervals -----------===//
#include "Mask.h"

namespace attn::sim {

namespace {
int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
} // namespace

bool isKept(const MaskSpec &mask, int64_t i, int64_t j) {
  switch (mask.kind) {
  case MaskKind::None: return true;
  case MaskKind::Causal: return j <= i;
  case MaskKind::Window: return j <= i && i - j < mask.window;
  case MaskKind::Streaming: return j <= i && (j < mask.sinks || i - j < mask.window);
  case MaskKind::Document:
    return j <= i && floorDiv(i, mask.docLen) == floorDiv(j, mask.docLen);
  }
  return true;
}

TileClass classifyTile(const MaskSpec &mask, int64_t i0, int64_t i1, int64_t j0,
                       int64_t j1) {
  // Causal part, shared by every masked kind: some j <= i iff j0 <= i1; all
  // iff j1 <= i0.
  bool causalEmpty = j0 > i1, causalFull = j1 <= i0;
  switch (mask.kind) {
  case MaskKind::None:
    return TileClass::Full;
  case MaskKind::Causal:
    return causalEmpty ? TileClass::Empty
                       : causalFull ? TileClass::Full : TileClass::Partial;
  case MaskKind::Window: {
    // Kept iff i - window < j <= i. The smallest i - j is i0 - j1, the
    // largest i1 - j0.
    if (causalEmpty || i0 - j1 >= mask.window)
      return TileClass::Empty;
    return causalFull && i1 - j0 < mask.window ? TileClass::Full : TileClass::Partial;
  }
  case MaskKind::Streaming: {
    bool sinkNone = j0 >= mask.sinks, sinkAll = j1 < mask.sinks;
    bool winNone = i0 - j1 >= mask.window, winAll = i1 - j0 < mask.window;
    if (causalEmpty || (sinkNone && winNone))
      return TileClass::Empty;
    return causalFull && (sinkAll || winAll) ? TileClass::Full : TileClass::Partial;
  }
  case MaskKind::Document: {
    int64_t L = mask.docLen;
    int64_t di0 = floorDiv(i0, L), di1 = floorDiv(i1, L);
    int64_t dj0 = floorDiv(j0, L), dj1 = floorDiv(j1, L);
    if (causalEmpty || dj1 < di0 || dj0 > di1)
      return TileClass::Empty;
    return causalFull && di0 == di1 && dj0 == dj1 && di0 == dj0 ? TileClass::Full
                                                                : TileClass::Partial;
  }
  }
  return TileClass::Partial;
}

} // namespace attn::sim
