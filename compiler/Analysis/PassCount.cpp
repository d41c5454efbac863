//===- PassCount.cpp - how many passes over K/V a cascade needs -----------===//
#include "compiler/Analysis/PassCount.h"

#include "dialects/cascade/CascadeDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/raw_ostream.h"

namespace cascade {
#define GEN_PASS_DEF_CASCADETESTPASSCOUNTPASS
#include "compiler/Analysis/Passes.h.inc"
} // namespace cascade

using namespace mlir;
using namespace cascade;

namespace {
/// When a value can be read by an Einsum that iterates a key rank.
struct Availability {
  /// The earliest pass in which a key-iterating consumer may read it.
  unsigned pass = 1;
  /// Why not earlier: "needs a full pass over m (max over m)" or
  /// "depends on GM, which needs ...". Empty for pass 1.
  std::string why;
};

bool isStreamingKeyRank(StringRef r) { return r == "m" || r == "m0" || r == "m1"; }

std::string joinRanks(ArrayRef<StringRef> ranks) {
  std::string s;
  for (auto [k, r] : llvm::enumerate(ranks))
    s += (k ? ", " : "") + r.str();
  return s;
}
} // namespace

cascade::PassInfo cascade::computePassCount(CascadeOp cascade) {
  cascade::PassInfo info;
  llvm::DenseMap<Value, Availability> avail;
  unsigned lastReasoned = 1;

  for (Operation &op : cascade.getBody().front()) {
    if (auto in = dyn_cast<InputOp>(op)) {
      avail[in.getResult()] = {};
      continue;
    }
    auto einsum = dyn_cast<EinsumOp>(op);
    auto iterate = dyn_cast<IterateOp>(op);
    if (!einsum && !iterate)
      continue;

    // The latest-available operand decides when this op can run.
    Availability need;
    Value culprit;
    for (Value v : op.getOperands()) {
      auto it = avail.find(v);
      if (it == avail.end() || it->second.pass <= need.pass)
        continue;
      need = it->second;
      culprit = v;
    }

    StringRef name = einsum ? einsum.getName() : iterate.getName();
    SmallVector<StringRef> space = rankNames(einsum ? einsum.getRanks() : iterate.getRanks());
    SmallVector<StringRef> reduced;
    if (einsum)
      reduced = rankNames(einsum.getReduceRanks());
    else
      space.push_back(iterate.getOver());
    space.append(reduced.begin(), reduced.end());
    bool iteratesKey = llvm::any_of(space, isStreamingKeyRank);

    if (!iteratesKey) {
      // Row-level: runs between passes, forwards its inputs' availability.
      info.einsums.push_back({name.str(), 0});
      Availability out;
      if (culprit) {
        out.pass = need.pass;
        out.why = "depends on " + fiberName(culprit) + ", which " + need.why;
      }
      for (Value r : op.getResults())
        avail[r] = out;
      continue;
    }

    unsigned pass = need.pass;
    info.einsums.push_back({name.str(), pass});
    if (pass > info.numPasses)
      info.numPasses = pass;
    if (pass > lastReasoned) {
      info.reasons.push_back("pass " + std::to_string(pass) + ": " + name.str() + " reads " +
                             fiberName(culprit) + ", which " + need.why);
      lastReasoned = pass;
    }

    Availability streaming{pass, need.why};
    if (einsum) {
      // Complete after this pass when it consumes a whole key rank (m, or m1).
      SmallVector<StringRef> whole;
      for (StringRef r : reduced)
        if (r == "m" || r == "m1")
          whole.push_back(r);
      if (whole.empty()) {
        avail[einsum.getResult()] = streaming;
        continue;
      }
      SmallVector<StringRef> keys;
      for (StringRef r : reduced)
        if (isStreamingKeyRank(r))
          keys.push_back(r);
      std::string kind = einsum.getReduce() ? stringifyCombineKind(*einsum.getReduce()).str()
                                            : std::string("reduce");
      avail[einsum.getResult()] = {pass + 1, "needs a full pass over " + joinRanks(keys) +
                                                 " (" + kind + " over " + joinRanks(keys) +
                                                 ")"};
      continue;
    }
    avail[iterate.getPrev()] = streaming;
    avail[iterate.getCur()] = streaming;
    if (isStreamingKeyRank(iterate.getOver()))
      avail[iterate.getFinal()] = {pass + 1, "needs a full pass over " +
                                                 iterate.getOver().str() +
                                                 " (the final value of " + name.str() +
                                                 ", iterated over " + iterate.getOver().str() +
                                                 ")"};
    else
      avail[iterate.getFinal()] = streaming;
  }
  return info;
}

void cascade::printPassInfo(const PassInfo &info, llvm::raw_ostream &os,
                            llvm::StringRef indent) {
  os << indent << info.numPasses << (info.numPasses == 1 ? " pass" : " passes")
     << " over K/V\n";
  auto list = [&](unsigned pass) {
    bool first = true;
    for (const EinsumPass &e : info.einsums)
      if (e.pass == pass) {
        os << (first ? " " : ", ") << e.name;
        first = false;
      }
    os << "\n";
  };
  for (unsigned p = 1; p <= info.numPasses; ++p) {
    os << indent << "  pass " << p << ":";
    list(p);
    // reasons[p - 2] explains pass p; drop its "pass p: " prefix.
    if (p >= 2 && p - 2 < info.reasons.size()) {
      StringRef r = info.reasons[p - 2];
      os << indent << "    because " << r.substr(r.find(": ") + 2) << "\n";
    }
  }
  if (llvm::any_of(info.einsums, [](const EinsumPass &e) { return e.pass == 0; })) {
    os << indent << "  row-level, between passes:";
    list(0);
  }
}

namespace {
struct TestPassCountPass
    : cascade::impl::CascadeTestPassCountPassBase<TestPassCountPass> {
  void runOnOperation() override {
    getOperation()->walk([](CascadeOp c) {
      cascade::PassInfo info = computePassCount(c);
      c.emitRemark() << info.numPasses << (info.numPasses == 1 ? " pass" : " passes");
      for (unsigned p = 1; p <= info.numPasses; ++p) {
        InFlightDiagnostic d = c.emitRemark() << "pass " << p << " runs:";
        for (const EinsumPass &e : info.einsums)
          if (e.pass == p)
            d << " " << e.name;
      }
      for (const std::string &r : info.reasons)
        c.emitRemark() << r;
    });
  }
};
} // namespace
