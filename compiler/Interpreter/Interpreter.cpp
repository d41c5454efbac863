//===- Interpreter.cpp - float64 interpreter of a variant's cascade -------===//
//
// Each map action is compiled once into a flat list of scalar instructions
// over numbered slots (constants, sizes and params are folded into the slots
// before the first point), then run at every point of the Einsum's iteration
// space. Fibers are dense row-major arrays of doubles over their ranks.
//
//===----------------------------------------------------------------------===//
#include "compiler/Interpreter/Interpreter.h"

#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Threading.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/Sequence.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FormatVariadic.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

using namespace mlir;
using attn::ref::Array;
using attn::ref::Problem;
using attn::ref::Result;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

std::string shapeStr(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t k = 0; k < shape.size(); ++k)
    s += (k ? ", " : "") + std::to_string(shape[k]);
  return s + "]";
}

/// The double a user most likely meant by an f32 value: its shortest
/// round-tripping decimal form read as a double (0.1f -> 0.1).
double f32ToDouble(float f) {
  if (!std::isfinite(f))
    return f;
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf) - 1, f);
  *res.ptr = '\0';
  return std::strtod(buf, nullptr);
}

double apFloatToDouble(const llvm::APFloat &v) {
  if (&v.getSemantics() == &llvm::APFloat::IEEEsingle())
    return f32ToDouble(v.convertToFloat());
  bool lost = false;
  llvm::APFloat d = v;
  d.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven, &lost);
  return d.convertToDouble();
}

/// Integer width of a scalar type (index = 64), 0 for floats.
unsigned intWidth(Type t) {
  if (auto it = dyn_cast<IntegerType>(t))
    return it.getWidth();
  if (isa<IndexType>(t))
    return 64;
  return 0;
}

/// Normalises a 64-bit pattern to a `w`-bit integer (sign-extended; i1 as 0/1).
int64_t normInt(int64_t v, unsigned w) {
  if (w >= 64 || w == 0)
    return v;
  if (w == 1)
    return v & 1;
  unsigned sh = 64 - w;
  return static_cast<int64_t>(static_cast<uint64_t>(v) << sh) >> sh;
}
int64_t signedOf(int64_t v, unsigned w) { return w == 1 ? -(v & 1) : v; }
uint64_t unsignedOf(int64_t v, unsigned w) {
  if (w >= 64)
    return static_cast<uint64_t>(v);
  return static_cast<uint64_t>(v) & ((uint64_t(1) << w) - 1);
}

int64_t wrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
int64_t wrapSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
int64_t wrapMul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
int64_t truncDiv(int64_t a, int64_t b) {
  if (b == 0)
    return 0;
  if (b == -1)
    return wrapSub(0, a);
  return a / b;
}
int64_t truncRem(int64_t a, int64_t b) {
  if (b == 0 || b == -1)
    return 0;
  return a % b;
}
/// Floor division and modulo as in Python; 0 for a zero divisor.
int64_t floorDiv(int64_t a, int64_t b) {
  if (b == 0)
    return 0;
  int64_t q = truncDiv(a, b);
  if (b != -1 && (a % b != 0) && ((a < 0) != (b < 0)))
    q -= 1;
  return q;
}
int64_t floorMod(int64_t a, int64_t b) {
  if (b == 0 || b == -1)
    return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}
int64_t ceilDiv(int64_t a, int64_t b) {
  if (b == 0)
    return 0;
  int64_t q = truncDiv(a, b);
  if (b != -1 && (a % b != 0) && ((a < 0) == (b < 0)))
    q += 1;
  return q;
}

//===----------------------------------------------------------------------===//
// Scalar programs
//===----------------------------------------------------------------------===//

/// A scalar: a double or a 64-bit integer (by the SSA type), plus a poison id
/// (0 = clean, else 1 + the index of an out-of-range read's message).
struct Slot {
  union {
    double f;
    int64_t i;
  };
  uint32_t poison = 0;
  Slot() : i(0) {}
};

enum class Opc : uint8_t {
  // float binary
  AddF, SubF, MulF, DivF, RemF, MaximumF, MinimumF, MaxNumF, MinNumF, PowF,
  CopySign, Atan2,
  // float unary
  NegF, Exp, Exp2, Expm1, Log, Log2, Log10, Log1p, Sqrt, Rsqrt, Cbrt, Tanh, Sin,
  Cos, Tan, Atan, Asin, Acos, Sinh, Cosh, Asinh, Acosh, Atanh, Erf, Erfc, AbsF,
  Floor, Ceil, Round, RoundEven, TruncF, CopyF,
  // integer binary (result width in `width`)
  AddI, SubI, MulI, DivSI, RemSI, DivUI, RemUI, FloorDivSI, CeilDivSI, AndI,
  OrI, XorI, ShlI, ShrSI, ShrUI, MaxSI, MinSI, MaxUI, MinUI, FloorDiv, FloorMod,
  // integer unary
  AbsI, ExtSI, ExtUI, TruncI, CopyI,
  // conversions, others
  SIToFP, UIToFP, FPToSI, FPToUI, FPowI, IPowI, Fma, CmpI, CmpF, Select, Load,
};

struct Instr {
  Opc op;
  uint8_t width = 64;  ///< result integer width (integer ops)
  uint8_t aWidth = 64; ///< operand integer width (extensions, compares)
  uint8_t pred = 0;    ///< cmpi / cmpf predicate
  uint32_t dst = 0, a = 0, b = 0, c = 0;
};

/// One `attn.load`: the tensor, its slots of indices.
struct LoadDesc {
  std::string name;
  const Array *array = nullptr;
  bool isInt = false;
  std::vector<uint32_t> indices;
};

/// What the whole interpretation shares: the problem, sizes, params, the
/// messages of poisoned (out-of-range) reads.
struct Env {
  const Problem *problem = nullptr;
  int64_t B = 0, H = 0, Hkv = 0, Sq = 0, Skv = 0, D = 0, qOffset = 0;
  llvm::StringMap<attn::ParamOp> params;
  llvm::StringMap<attn::TensorOp> tensors;
  std::vector<std::string> poisonMessages;

  /// Records an out-of-range read; returns its poison id.
  uint32_t poison(std::string msg) {
    constexpr size_t kMaxMessages = 256;
    std::lock_guard<std::mutex> lock(poisonMutex);
    if (poisonMessages.size() < kMaxMessages)
      poisonMessages.push_back(std::move(msg));
    return static_cast<uint32_t>(poisonMessages.size());
  }
  std::string message(uint32_t id) {
    std::lock_guard<std::mutex> lock(poisonMutex);
    return poisonMessages[id - 1];
  }

private:
  std::mutex poisonMutex; ///< slices may run in parallel
};

/// A compiled map action: slots for every SSA value, constants preset, a
/// prologue for values defined outside the body (run once) and the body.
class Program {
public:
  /// Compiles `body` whose first `numArgs` block arguments are set per point.
  static llvm::Expected<Program> compile(Block &body, Env &env);

  /// Runs the prologue once; then `run` per point.
  void prepare() {
    regs = init;
    exec(prologue);
  }
  Slot *args() { return regs.data(); }
  const Slot &run() {
    exec(code);
    return regs[result];
  }

private:
  llvm::Expected<uint32_t> slotOf(Value v, bool inBody);
  llvm::Error compileOp(Operation &op, std::vector<Instr> &out, bool inBody);
  void exec(const std::vector<Instr> &instrs);

  Env *env = nullptr;
  Block *body = nullptr;
  llvm::DenseMap<Value, uint32_t> slots;
  std::vector<Slot> init;
  std::vector<Slot> regs;
  std::vector<Instr> prologue, code;
  std::vector<LoadDesc> loads;
  uint32_t result = 0;
};

llvm::Expected<Program> Program::compile(Block &body, Env &env) {
  Program p;
  p.env = &env;
  p.body = &body;
  for (BlockArgument arg : body.getArguments()) {
    p.slots[arg] = p.init.size();
    p.init.emplace_back();
  }
  for (Operation &op : body) {
    if (auto y = dyn_cast<cascade::YieldOp>(op)) {
      auto r = p.slotOf(y.getValue(), /*inBody=*/true);
      if (!r)
        return r.takeError();
      p.result = *r;
      return std::move(p);
    }
    if (llvm::Error e = p.compileOp(op, p.code, /*inBody=*/true))
      return std::move(e);
  }
  return err("a map action's body does not end in cascade.yield");
}

llvm::Expected<uint32_t> Program::slotOf(Value v, bool inBody) {
  auto it = slots.find(v);
  if (it != slots.end())
    return it->second;
  Operation *def = v.getDefiningOp();
  if (!def)
    return err("a map action reads a block argument of an enclosing region");
  if (def->getBlock() == body)
    return err(llvm::formatv("'{0}' is used before it is defined",
                             def->getName().getStringRef()));
  // A value defined outside the body (a constant hoisted by a pass): it does
  // not depend on the point, so it is computed once in the prologue.
  if (llvm::Error e = compileOp(*def, prologue, /*inBody=*/false))
    return std::move(e);
  it = slots.find(v);
  if (it == slots.end())
    return err("internal: no slot after compiling an op");
  return it->second;
}

llvm::Error Program::compileOp(Operation &op, std::vector<Instr> &out, bool inBody) {
  StringRef name = op.getName().getStringRef();
  if (op.getNumRegions() != 0)
    return err(llvm::formatv("the cascade interpreter does not support '{0}' "
                             "(an op with regions) in a map action", name));
  if (op.getNumResults() != 1)
    return err(llvm::formatv("the cascade interpreter does not support '{0}' "
                             "({1} results)", name, op.getNumResults()));
  Value res = op.getResult(0);
  Type resTy = res.getType();
  if (!resTy.isIntOrIndexOrFloat())
    return err(llvm::formatv("'{0}' yields {1}; the cascade interpreter only "
                             "handles scalars", name, resTy));
  unsigned rw = intWidth(resTy);
  auto newSlot = [&](Slot s) {
    uint32_t id = init.size();
    init.push_back(s);
    slots[res] = id;
    return id;
  };
  auto constF = [&](double d) {
    Slot s;
    s.f = d;
    return newSlot(s);
  };
  auto constI = [&](int64_t i) {
    Slot s;
    s.i = normInt(i, rw);
    return newSlot(s);
  };

  // Constants and per-call values become preset slots.
  if (auto c = dyn_cast<arith::ConstantOp>(op)) {
    Attribute a = c.getValue();
    if (auto fa = dyn_cast<FloatAttr>(a)) {
      constF(apFloatToDouble(fa.getValue()));
      return llvm::Error::success();
    }
    if (auto ia = dyn_cast<IntegerAttr>(a)) {
      llvm::APInt v = ia.getValue();
      constI(v.getBitWidth() == 1 ? int64_t(v.getZExtValue()) : v.getSExtValue());
      return llvm::Error::success();
    }
    return err("arith.constant of a non-scalar attribute");
  }
  if (auto s = dyn_cast<attn::SizeOp>(op)) {
    int64_t v = 0;
    switch (s.getSize()) {
    case attn::SizeKind::B: v = env->B; break;
    case attn::SizeKind::H: v = env->H; break;
    case attn::SizeKind::Hkv: v = env->Hkv; break;
    case attn::SizeKind::Sq: v = env->Sq; break;
    case attn::SizeKind::Skv: v = env->Skv; break;
    case attn::SizeKind::D: v = env->D; break;
    }
    constI(v);
    return llvm::Error::success();
  }
  if (auto g = dyn_cast<attn::GetParamOp>(op)) {
    StringRef pname = g.getParam();
    auto pit = env->params.find(pname);
    if (pit == env->params.end())
      return err(llvm::formatv("attn.get_param: no attn.param @{0} in the variant", pname));
    attn::ParamOp decl = pit->second;
    double value;
    auto given = env->problem->params.find(pname.str());
    if (given != env->problem->params.end()) {
      value = given->second;
    } else if (auto def = decl.getDefaultValueAttr()) {
      if (auto fa = dyn_cast<FloatAttr>(def))
        value = apFloatToDouble(fa.getValue());
      else if (auto ia = dyn_cast<IntegerAttr>(def))
        value = ia.getValue().getBitWidth() == 1 ? double(ia.getValue().getZExtValue())
                                                  : double(ia.getValue().getSExtValue());
      else
        return err(llvm::formatv("param '{0}' has a default of unknown kind", pname));
    } else {
      return err(llvm::formatv("param '{0}' has no default and was not given", pname));
    }
    if (rw) {
      if (value != std::floor(value) || !std::isfinite(value))
        return err(llvm::formatv("param '{0}' must be an integer, got {1}", pname, value));
      constI(static_cast<int64_t>(value));
    } else {
      constF(value);
    }
    return llvm::Error::success();
  }

  // Everything else: operands into slots, then one instruction.
  llvm::SmallVector<uint32_t, 4> ops;
  for (Value v : op.getOperands()) {
    auto s = slotOf(v, inBody);
    if (!s)
      return s.takeError();
    ops.push_back(*s);
  }
  Instr in;
  in.width = rw ? rw : 64;
  unsigned aw = op.getNumOperands() ? intWidth(op.getOperand(0).getType()) : 0;
  in.aWidth = aw ? aw : 64;
  auto arity = [&](unsigned n) -> llvm::Error {
    if (ops.size() != n)
      return err(llvm::formatv("'{0}' has {1} operands, expected {2}", name, ops.size(), n));
    in.a = n > 0 ? ops[0] : 0;
    in.b = n > 1 ? ops[1] : 0;
    in.c = n > 2 ? ops[2] : 0;
    return llvm::Error::success();
  };

  std::optional<Opc> bin = llvm::StringSwitch<std::optional<Opc>>(name)
      .Case("arith.addf", Opc::AddF).Case("arith.subf", Opc::SubF)
      .Case("arith.mulf", Opc::MulF).Case("arith.divf", Opc::DivF)
      .Case("arith.remf", Opc::RemF).Case("arith.maximumf", Opc::MaximumF)
      .Case("arith.minimumf", Opc::MinimumF).Case("arith.maxnumf", Opc::MaxNumF)
      .Case("arith.minnumf", Opc::MinNumF).Case("math.powf", Opc::PowF)
      .Case("math.copysign", Opc::CopySign).Case("math.atan2", Opc::Atan2)
      .Case("arith.addi", Opc::AddI).Case("arith.subi", Opc::SubI)
      .Case("arith.muli", Opc::MulI).Case("arith.divsi", Opc::DivSI)
      .Case("arith.remsi", Opc::RemSI).Case("arith.divui", Opc::DivUI)
      .Case("arith.remui", Opc::RemUI).Case("arith.floordivsi", Opc::FloorDivSI)
      .Case("arith.ceildivsi", Opc::CeilDivSI).Case("arith.andi", Opc::AndI)
      .Case("arith.ori", Opc::OrI).Case("arith.xori", Opc::XorI)
      .Case("arith.shli", Opc::ShlI).Case("arith.shrsi", Opc::ShrSI)
      .Case("arith.shrui", Opc::ShrUI).Case("arith.maxsi", Opc::MaxSI)
      .Case("arith.minsi", Opc::MinSI).Case("arith.maxui", Opc::MaxUI)
      .Case("arith.minui", Opc::MinUI).Case("attn.floordiv", Opc::FloorDiv)
      .Case("attn.floormod", Opc::FloorMod).Case("math.fpowi", Opc::FPowI)
      .Case("math.ipowi", Opc::IPowI)
      .Default(std::nullopt);
  std::optional<Opc> un = llvm::StringSwitch<std::optional<Opc>>(name)
      .Case("arith.negf", Opc::NegF).Case("math.exp", Opc::Exp)
      .Case("math.exp2", Opc::Exp2).Case("math.expm1", Opc::Expm1)
      .Case("math.log", Opc::Log).Case("math.log2", Opc::Log2)
      .Case("math.log10", Opc::Log10).Case("math.log1p", Opc::Log1p)
      .Case("math.sqrt", Opc::Sqrt).Case("math.rsqrt", Opc::Rsqrt)
      .Case("math.cbrt", Opc::Cbrt).Case("math.tanh", Opc::Tanh)
      .Case("math.sin", Opc::Sin).Case("math.cos", Opc::Cos)
      .Case("math.tan", Opc::Tan).Case("math.atan", Opc::Atan)
      .Case("math.asin", Opc::Asin).Case("math.acos", Opc::Acos)
      .Case("math.sinh", Opc::Sinh).Case("math.cosh", Opc::Cosh)
      .Case("math.asinh", Opc::Asinh).Case("math.acosh", Opc::Acosh)
      .Case("math.atanh", Opc::Atanh).Case("math.erf", Opc::Erf)
      .Case("math.erfc", Opc::Erfc).Case("math.absf", Opc::AbsF)
      .Case("math.floor", Opc::Floor).Case("math.ceil", Opc::Ceil)
      .Case("math.round", Opc::Round).Case("math.roundeven", Opc::RoundEven)
      .Case("math.trunc", Opc::TruncF).Case("arith.extf", Opc::CopyF)
      .Case("arith.truncf", Opc::CopyF).Case("math.absi", Opc::AbsI)
      .Case("arith.extsi", Opc::ExtSI).Case("arith.extui", Opc::ExtUI)
      .Case("arith.trunci", Opc::TruncI).Case("arith.index_cast", Opc::ExtSI)
      .Case("arith.index_castui", Opc::ExtUI).Case("arith.sitofp", Opc::SIToFP)
      .Case("arith.uitofp", Opc::UIToFP).Case("arith.fptosi", Opc::FPToSI)
      .Case("arith.fptoui", Opc::FPToUI)
      .Default(std::nullopt);

  if (bin) {
    if (llvm::Error e = arity(2))
      return e;
    in.op = *bin;
  } else if (un) {
    if (llvm::Error e = arity(1))
      return e;
    in.op = *un;
  } else if (name == "math.fma") {
    if (llvm::Error e = arity(3))
      return e;
    in.op = Opc::Fma;
  } else if (name == "arith.select") {
    if (llvm::Error e = arity(3))
      return e;
    if (!op.getOperand(0).getType().isInteger(1))
      return err("arith.select on a non-scalar condition");
    in.op = Opc::Select;
  } else if (auto c = dyn_cast<arith::CmpIOp>(op)) {
    if (llvm::Error e = arity(2))
      return e;
    in.op = Opc::CmpI;
    in.pred = static_cast<uint8_t>(c.getPredicate());
  } else if (auto c = dyn_cast<arith::CmpFOp>(op)) {
    if (llvm::Error e = arity(2))
      return e;
    in.op = Opc::CmpF;
    in.pred = static_cast<uint8_t>(c.getPredicate());
  } else if (auto l = dyn_cast<attn::LoadOp>(op)) {
    StringRef tname = l.getTensor();
    auto tit = env->tensors.find(tname);
    auto given = env->problem->tensors.find(tname.str());
    if (tit == env->tensors.end() || given == env->problem->tensors.end())
      return err(llvm::formatv("attn.load: unknown tensor '{0}'", tname));
    if (given->second.shape.size() != ops.size())
      return err(llvm::formatv("attn.load: tensor '{0}' has rank {1}, read with {2} indices",
                               tname, given->second.shape.size(), ops.size()));
    LoadDesc d;
    d.name = tname.str();
    d.array = &given->second;
    d.isInt = rw != 0;
    d.indices.assign(ops.begin(), ops.end());
    in.op = Opc::Load;
    in.a = loads.size();
    loads.push_back(std::move(d));
  } else {
    return err(llvm::formatv("the cascade interpreter does not know the op '{0}'", name));
  }
  in.dst = init.size();
  init.emplace_back();
  slots[res] = in.dst;
  out.push_back(in);
  return llvm::Error::success();
}

bool cmpF(arith::CmpFPredicate p, double a, double b) {
  using P = arith::CmpFPredicate;
  bool unord = std::isnan(a) || std::isnan(b);
  switch (p) {
  case P::AlwaysFalse: return false;
  case P::OEQ: return !unord && a == b;
  case P::OGT: return !unord && a > b;
  case P::OGE: return !unord && a >= b;
  case P::OLT: return !unord && a < b;
  case P::OLE: return !unord && a <= b;
  case P::ONE: return !unord && a != b;
  case P::ORD: return !unord;
  case P::UEQ: return unord || a == b;
  case P::UGT: return unord || a > b;
  case P::UGE: return unord || a >= b;
  case P::ULT: return unord || a < b;
  case P::ULE: return unord || a <= b;
  case P::UNE: return unord || a != b;
  case P::UNO: return unord;
  case P::AlwaysTrue: return true;
  }
  return false;
}

bool cmpI(arith::CmpIPredicate p, int64_t a, int64_t b, unsigned w) {
  using P = arith::CmpIPredicate;
  int64_t sa = signedOf(a, w), sb = signedOf(b, w);
  uint64_t ua = unsignedOf(a, w), ub = unsignedOf(b, w);
  switch (p) {
  case P::eq: return ua == ub;
  case P::ne: return ua != ub;
  case P::slt: return sa < sb;
  case P::sle: return sa <= sb;
  case P::sgt: return sa > sb;
  case P::sge: return sa >= sb;
  case P::ult: return ua < ub;
  case P::ule: return ua <= ub;
  case P::ugt: return ua > ub;
  case P::uge: return ua >= ub;
  }
  return false;
}

double fmaximum(double a, double b) {
  if (std::isnan(a) || std::isnan(b))
    return kNaN;
  if (a == b)
    return std::signbit(a) ? b : a;
  return a > b ? a : b;
}
double fminimum(double a, double b) {
  if (std::isnan(a) || std::isnan(b))
    return kNaN;
  if (a == b)
    return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

void Program::exec(const std::vector<Instr> &instrs) {
  Slot *r = regs.data();
  for (const Instr &in : instrs) {
    Slot &d = r[in.dst];
    const Slot &A = r[in.a], &Bv = r[in.b], &C = r[in.c];
    uint32_t pz = A.poison ? A.poison : Bv.poison;
    unsigned w = in.width;
    switch (in.op) {
    case Opc::AddF: d.f = A.f + Bv.f; break;
    case Opc::SubF: d.f = A.f - Bv.f; break;
    case Opc::MulF: d.f = A.f * Bv.f; break;
    case Opc::DivF: d.f = A.f / Bv.f; break;
    case Opc::RemF: d.f = std::fmod(A.f, Bv.f); break;
    case Opc::MaximumF: d.f = fmaximum(A.f, Bv.f); break;
    case Opc::MinimumF: d.f = fminimum(A.f, Bv.f); break;
    case Opc::MaxNumF: d.f = std::fmax(A.f, Bv.f); break;
    case Opc::MinNumF: d.f = std::fmin(A.f, Bv.f); break;
    case Opc::PowF: d.f = std::pow(A.f, Bv.f); break;
    case Opc::CopySign: d.f = std::copysign(A.f, Bv.f); break;
    case Opc::Atan2: d.f = std::atan2(A.f, Bv.f); break;
    case Opc::NegF: d.f = -A.f; pz = A.poison; break;
    case Opc::Exp: d.f = std::exp(A.f); pz = A.poison; break;
    case Opc::Exp2: d.f = std::exp2(A.f); pz = A.poison; break;
    case Opc::Expm1: d.f = std::expm1(A.f); pz = A.poison; break;
    case Opc::Log: d.f = std::log(A.f); pz = A.poison; break;
    case Opc::Log2: d.f = std::log2(A.f); pz = A.poison; break;
    case Opc::Log10: d.f = std::log10(A.f); pz = A.poison; break;
    case Opc::Log1p: d.f = std::log1p(A.f); pz = A.poison; break;
    case Opc::Sqrt: d.f = std::sqrt(A.f); pz = A.poison; break;
    case Opc::Rsqrt: d.f = 1.0 / std::sqrt(A.f); pz = A.poison; break;
    case Opc::Cbrt: d.f = std::cbrt(A.f); pz = A.poison; break;
    case Opc::Tanh: d.f = std::tanh(A.f); pz = A.poison; break;
    case Opc::Sin: d.f = std::sin(A.f); pz = A.poison; break;
    case Opc::Cos: d.f = std::cos(A.f); pz = A.poison; break;
    case Opc::Tan: d.f = std::tan(A.f); pz = A.poison; break;
    case Opc::Atan: d.f = std::atan(A.f); pz = A.poison; break;
    case Opc::Asin: d.f = std::asin(A.f); pz = A.poison; break;
    case Opc::Acos: d.f = std::acos(A.f); pz = A.poison; break;
    case Opc::Sinh: d.f = std::sinh(A.f); pz = A.poison; break;
    case Opc::Cosh: d.f = std::cosh(A.f); pz = A.poison; break;
    case Opc::Asinh: d.f = std::asinh(A.f); pz = A.poison; break;
    case Opc::Acosh: d.f = std::acosh(A.f); pz = A.poison; break;
    case Opc::Atanh: d.f = std::atanh(A.f); pz = A.poison; break;
    case Opc::Erf: d.f = std::erf(A.f); pz = A.poison; break;
    case Opc::Erfc: d.f = std::erfc(A.f); pz = A.poison; break;
    case Opc::AbsF: d.f = std::fabs(A.f); pz = A.poison; break;
    case Opc::Floor: d.f = std::floor(A.f); pz = A.poison; break;
    case Opc::Ceil: d.f = std::ceil(A.f); pz = A.poison; break;
    case Opc::Round: d.f = std::round(A.f); pz = A.poison; break;
    case Opc::RoundEven: d.f = std::nearbyint(A.f); pz = A.poison; break;
    case Opc::TruncF: d.f = std::trunc(A.f); pz = A.poison; break;
    case Opc::CopyF: d.f = A.f; pz = A.poison; break;
    case Opc::AddI: d.i = normInt(wrapAdd(A.i, Bv.i), w); break;
    case Opc::SubI: d.i = normInt(wrapSub(A.i, Bv.i), w); break;
    case Opc::MulI: d.i = normInt(wrapMul(A.i, Bv.i), w); break;
    case Opc::DivSI: d.i = normInt(truncDiv(signedOf(A.i, w), signedOf(Bv.i, w)), w); break;
    case Opc::RemSI: d.i = normInt(truncRem(signedOf(A.i, w), signedOf(Bv.i, w)), w); break;
    case Opc::DivUI: {
      uint64_t ub = unsignedOf(Bv.i, w);
      d.i = normInt(ub ? int64_t(unsignedOf(A.i, w) / ub) : 0, w);
      break;
    }
    case Opc::RemUI: {
      uint64_t ub = unsignedOf(Bv.i, w);
      d.i = normInt(ub ? int64_t(unsignedOf(A.i, w) % ub) : 0, w);
      break;
    }
    case Opc::FloorDivSI:
    case Opc::FloorDiv: d.i = normInt(floorDiv(signedOf(A.i, w), signedOf(Bv.i, w)), w); break;
    case Opc::FloorMod: d.i = normInt(floorMod(signedOf(A.i, w), signedOf(Bv.i, w)), w); break;
    case Opc::CeilDivSI: d.i = normInt(ceilDiv(signedOf(A.i, w), signedOf(Bv.i, w)), w); break;
    case Opc::AndI:
      d.i = A.i & Bv.i;
      // Like `&&`: a clean false decides, whatever the other side is.
      if (w == 1 && ((!A.poison && !A.i) || (!Bv.poison && !Bv.i)))
        pz = 0;
      break;
    case Opc::OrI:
      d.i = A.i | Bv.i;
      if (w == 1 && ((!A.poison && A.i) || (!Bv.poison && Bv.i)))
        pz = 0;
      break;
    case Opc::XorI: d.i = normInt(A.i ^ Bv.i, w); break;
    case Opc::ShlI: {
      uint64_t s = unsignedOf(Bv.i, w);
      d.i = s >= w ? 0 : normInt(int64_t(uint64_t(A.i) << s), w);
      break;
    }
    case Opc::ShrSI: {
      uint64_t s = unsignedOf(Bv.i, w);
      int64_t sa = signedOf(A.i, w);
      d.i = normInt(s >= w ? (sa < 0 ? -1 : 0) : (sa >> s), w);
      break;
    }
    case Opc::ShrUI: {
      uint64_t s = unsignedOf(Bv.i, w);
      d.i = s >= w ? 0 : normInt(int64_t(unsignedOf(A.i, w) >> s), w);
      break;
    }
    case Opc::MaxSI: d.i = signedOf(A.i, w) >= signedOf(Bv.i, w) ? A.i : Bv.i; break;
    case Opc::MinSI: d.i = signedOf(A.i, w) <= signedOf(Bv.i, w) ? A.i : Bv.i; break;
    case Opc::MaxUI: d.i = unsignedOf(A.i, w) >= unsignedOf(Bv.i, w) ? A.i : Bv.i; break;
    case Opc::MinUI: d.i = unsignedOf(A.i, w) <= unsignedOf(Bv.i, w) ? A.i : Bv.i; break;
    case Opc::AbsI: {
      int64_t s = signedOf(A.i, w);
      d.i = normInt(s < 0 ? wrapSub(0, s) : s, w);
      pz = A.poison;
      break;
    }
    case Opc::ExtSI: d.i = normInt(signedOf(A.i, in.aWidth), w); pz = A.poison; break;
    case Opc::ExtUI: d.i = normInt(int64_t(unsignedOf(A.i, in.aWidth)), w); pz = A.poison; break;
    case Opc::TruncI: d.i = normInt(A.i, w); pz = A.poison; break;
    case Opc::CopyI: d.i = A.i; pz = A.poison; break;
    case Opc::SIToFP: d.f = double(signedOf(A.i, in.aWidth)); pz = A.poison; break;
    case Opc::UIToFP: d.f = double(unsignedOf(A.i, in.aWidth)); pz = A.poison; break;
    case Opc::FPToSI:
    case Opc::FPToUI: {
      double t = std::trunc(A.f);
      int64_t v = 0;
      if (std::isfinite(t) && t > -9.2e18 && t < 9.2e18)
        v = static_cast<int64_t>(t);
      d.i = normInt(v, w);
      pz = A.poison;
      break;
    }
    case Opc::FPowI: d.f = std::pow(A.f, double(Bv.i)); break;
    case Opc::IPowI: {
      int64_t base = signedOf(A.i, w), e = signedOf(Bv.i, w), acc = 1;
      if (e < 0)
        acc = base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
      else
        for (int64_t k = 0; k < e && k < 64; ++k)
          acc = wrapMul(acc, base);
      d.i = normInt(acc, w);
      break;
    }
    case Opc::Fma:
      d.f = std::fma(A.f, Bv.f, C.f);
      pz = pz ? pz : C.poison;
      break;
    case Opc::CmpI:
      d.i = cmpI(static_cast<arith::CmpIPredicate>(in.pred), A.i, Bv.i, in.aWidth);
      break;
    case Opc::CmpF:
      d.i = cmpF(static_cast<arith::CmpFPredicate>(in.pred), A.f, Bv.f);
      break;
    case Opc::Select: {
      const Slot &chosen = A.i ? Bv : C;
      uint32_t p = A.poison ? A.poison : chosen.poison;
      d = chosen;
      d.poison = p;
      continue;
    }
    case Opc::Load: {
      const LoadDesc &ld = loads[in.a];
      const Array &arr = *ld.array;
      int64_t flat = 0;
      bool ok = true;
      pz = 0;
      for (size_t k = 0; k < ld.indices.size(); ++k) {
        const Slot &ix = r[ld.indices[k]];
        if (ix.poison)
          pz = ix.poison;
        if (ix.i < 0 || ix.i >= arr.shape[k])
          ok = false;
        flat = flat * arr.shape[k] + ix.i;
      }
      if (pz) {
        d.i = 0;
        break;
      }
      if (!ok) {
        std::string idx = "[";
        for (size_t k = 0; k < ld.indices.size(); ++k)
          idx += (k ? ", " : "") + std::to_string(r[ld.indices[k]].i);
        idx += "]";
        pz = env->poison(llvm::formatv("tensor '{0}' read out of range at {1} "
                                       "(shape {2})", ld.name, idx, shapeStr(arr.shape)));
        d.i = 0;
        break;
      }
      if (ld.isInt)
        d.i = static_cast<int64_t>(arr.data[flat]);
      else
        d.f = arr.data[flat];
      break;
    }
    }
    d.poison = pz;
  }
}

//===----------------------------------------------------------------------===//
// Fibers and ranks
//===----------------------------------------------------------------------===//

enum RankId : unsigned { RP, RM, RE, RF, RM2, RM1, RM0, RP1, RP0, kNumRanks };

std::optional<unsigned> rankId(StringRef n) {
  return llvm::StringSwitch<std::optional<unsigned>>(n)
      .Case("p", RP).Case("m", RM).Case("e", RE).Case("f", RF)
      .Case("m2", RM2).Case("m1", RM1).Case("m0", RM0)
      .Case("p1", RP1).Case("p0", RP0).Default(std::nullopt);
}

/// A dense fiber over rank ids (row-major in the order of `ranks`).
struct Fiber {
  llvm::SmallVector<unsigned, 4> ranks;
  llvm::SmallVector<int64_t, 4> strides;
  std::vector<double> data;
  std::vector<uint32_t> poison; ///< empty until something is poisoned
  bool isInt = false;

  int64_t offset(const int64_t *coord) const {
    int64_t o = 0;
    for (size_t k = 0; k < ranks.size(); ++k)
      o += coord[ranks[k]] * strides[k];
    return o;
  }
  uint32_t poisonAt(int64_t o) const { return poison.empty() ? 0 : poison[o]; }
  void setPoison(int64_t o, uint32_t p) {
    if (!p && poison.empty())
      return;
    if (poison.empty())
      poison.assign(data.size(), 0);
    poison[o] = p;
  }
};

/// Rank extents and the index arithmetic of one (partitioned) cascade.
struct Geometry {
  int64_t ext[kNumRanks] = {};
  int64_t mTile = 0, pTile = 0; ///< 0 = rank not partitioned
  int64_t split = 0;

  llvm::Error init(cascade::CascadeOp c, const Env &env) {
    if (auto parts = c.getPartitionsAttr())
      for (NamedAttribute na : parts) {
        auto v = dyn_cast<IntegerAttr>(na.getValue());
        if (!v || v.getInt() <= 0)
          return err("cascade partitions must be positive integers");
        if (na.getName() == "m")
          mTile = v.getInt();
        else if (na.getName() == "p")
          pTile = v.getInt();
        else
          return err(llvm::formatv("the interpreter does not know how to partition rank '{0}'",
                                   na.getName().getValue()));
      }
    if (auto s = c.getSplitAttr())
      split = s.getInt();
    ext[RP] = env.Sq;
    ext[RM] = env.Skv;
    ext[RE] = ext[RF] = env.D;
    if (mTile) {
      int64_t tiles = (env.Skv + mTile - 1) / mTile;
      ext[RM0] = mTile;
      ext[RM1] = tiles;
      if (split) {
        ext[RM2] = split;
        ext[RM1] = (tiles + split - 1) / split;
      }
    }
    if (pTile) {
      ext[RP0] = pTile;
      ext[RP1] = (env.Sq + pTile - 1) / pTile;
    }
    return llvm::Error::success();
  }

  llvm::Error checkRanks(llvm::ArrayRef<StringRef> names, StringRef what,
                         llvm::SmallVectorImpl<unsigned> &ids) const {
    for (StringRef n : names) {
      std::optional<unsigned> id = rankId(n);
      if (!id)
        return err(llvm::formatv("{0}: unknown rank '{1}'", what, n));
      bool partitioned = *id == RM2 || *id == RM1 || *id == RM0 || *id == RP1 || *id == RP0;
      if ((*id == RM2 && !split) || (partitioned && ext[*id] == 0 && *id != RM2))
        return err(llvm::formatv("{0}: rank '{1}' needs a partition the cascade does not declare",
                                 what, n));
      if (*id == RM2 && !mTile)
        return err(llvm::formatv("{0}: rank 'm2' without a partitioned 'm'", what));
      ids.push_back(*id);
    }
    return llvm::Error::success();
  }

  Fiber makeFiber(llvm::ArrayRef<unsigned> ranks, bool isInt, double fill) const {
    Fiber f;
    f.ranks.assign(ranks.begin(), ranks.end());
    f.strides.resize(ranks.size());
    int64_t n = 1;
    for (size_t k = ranks.size(); k-- > 0;) {
      f.strides[k] = n;
      n *= ext[ranks[k]];
    }
    f.data.assign(n, fill);
    f.isInt = isInt;
    return f;
  }
};

/// Which ranks an iteration space has, to derive (i, j) and skipping.
struct SpaceInfo {
  bool has[kNumRanks] = {};
  explicit SpaceInfo(llvm::ArrayRef<unsigned> ranks) {
    for (unsigned r : ranks)
      has[r] = true;
  }
};

struct PointIndex {
  int64_t i = -1, j = -1;
  int64_t row = -1; ///< i - q_offset, -1 without a full query rank
  bool skip = false;
};

PointIndex resolve(const SpaceInfo &s, const Geometry &g, const Env &env,
                   const int64_t *c) {
  PointIndex pi;
  int64_t row = -1;
  if (s.has[RP]) {
    row = c[RP];
  } else if (s.has[RP1] && s.has[RP0]) {
    row = c[RP1] * g.pTile + c[RP0];
  } else if (s.has[RP1] && c[RP1] * g.pTile >= env.Sq) {
    pi.skip = true;
  }
  if (row >= env.Sq)
    pi.skip = true;
  if (row >= 0) {
    pi.row = row;
    pi.i = env.qOffset + row;
  }

  int64_t tile = -1;
  if (g.split) {
    if (s.has[RM2] && s.has[RM1])
      tile = c[RM2] * g.ext[RM1] + c[RM1];
  } else if (s.has[RM1]) {
    tile = c[RM1];
  }
  if (s.has[RM])
    pi.j = c[RM];
  else if (s.has[RM0] && tile >= 0)
    pi.j = tile * g.mTile + c[RM0];
  if (pi.j >= env.Skv)
    pi.skip = true;
  if (pi.j < 0 && tile >= 0 && tile * g.mTile >= env.Skv)
    pi.skip = true;
  return pi;
}

/// Visits every point of `ranks` (odometer, last rank fastest), with the
/// other coordinates of `c` left alone.
template <typename Fn>
void forEachPoint(llvm::ArrayRef<unsigned> ranks, const Geometry &g, int64_t *c, Fn fn) {
  for (unsigned r : ranks) {
    if (g.ext[r] <= 0)
      return;
    c[r] = 0;
  }
  while (true) {
    fn();
    size_t k = ranks.size();
    while (k > 0) {
      --k;
      if (++c[ranks[k]] < g.ext[ranks[k]])
        break;
      c[ranks[k]] = 0;
      if (k == 0)
        return;
    }
    if (ranks.empty())
      return;
  }
}

/// Walks the points of a list of ranks (last fastest) while keeping linear
/// functions of the coordinates up to date incrementally: the flat offsets of
/// fibers, the row and the key position.
class Odometer {
public:
  Odometer(llvm::ArrayRef<int64_t> extents, unsigned numTracked)
      : ext(extents.begin(), extents.end()), nq(numTracked),
        strides(extents.size() * numTracked, 0), coord(extents.size(), 0), val(numTracked, 0) {
  }
  /// Tracked quantity `q` grows by `stride` per step of dimension `dim`.
  void setStride(unsigned dim, unsigned q, int64_t stride) { strides[dim * nq + q] = stride; }
  /// Starts at the first point with the tracked values `base`; false if empty.
  bool reset(const int64_t *base) {
    std::fill(coord.begin(), coord.end(), 0);
    std::copy(base, base + nq, val.begin());
    for (int64_t e : ext)
      if (e <= 0)
        return false;
    return true;
  }
  /// Moves to the next point; false after the last one.
  bool next() {
    for (size_t k = ext.size(); k-- > 0;) {
      const int64_t *st = &strides[k * nq];
      if (++coord[k] < ext[k]) {
        for (unsigned q = 0; q < nq; ++q)
          val[q] += st[q];
        return true;
      }
      for (unsigned q = 0; q < nq; ++q)
        val[q] -= st[q] * (ext[k] - 1);
      coord[k] = 0;
    }
    return false;
  }
  const int64_t *values() const { return val.data(); }

private:
  llvm::SmallVector<int64_t, 6> ext;
  unsigned nq;
  llvm::SmallVector<int64_t, 32> strides;
  llvm::SmallVector<int64_t, 6> coord;
  llvm::SmallVector<int64_t, 8> val;
};

/// How the row and the key position of a point follow from its coordinates
/// in an iteration space (docs/cascade.md), as linear functions.
struct IndexPlan {
  bool rowFull = false, rowPartial = false; ///< p or p1 x p0; p1 alone
  bool keyFull = false, keyPartial = false; ///< m, m1 x m0 (x m2); a whole tile
  /// Coefficient of each rank in the row / key position (or tile start).
  int64_t rowCoef[kNumRanks] = {}, keyCoef[kNumRanks] = {};

  IndexPlan(llvm::ArrayRef<unsigned> space, const Geometry &g) {
    SpaceInfo s(space);
    if (s.has[RP]) {
      rowFull = true;
      rowCoef[RP] = 1;
    } else if (s.has[RP1]) {
      rowCoef[RP1] = g.pTile;
      if (s.has[RP0]) {
        rowFull = true;
        rowCoef[RP0] = 1;
      } else {
        rowPartial = true;
      }
    }
    if (s.has[RM]) {
      keyFull = true;
      keyCoef[RM] = 1;
    } else if (g.split ? (s.has[RM2] && s.has[RM1]) : s.has[RM1]) {
      keyCoef[RM1] = g.mTile;
      if (g.split)
        keyCoef[RM2] = g.ext[RM1] * g.mTile;
      if (s.has[RM0]) {
        keyFull = true;
        keyCoef[RM0] = 1;
      } else {
        keyPartial = true;
      }
    }
  }
};

//===----------------------------------------------------------------------===//
// The interpreter
//===----------------------------------------------------------------------===//

class CascadeRunner {
public:
  CascadeRunner(Env &env, cascade::CascadeOp c) : env(env), cascadeOp(c) {}

  llvm::Error prepare() {
    if (llvm::Error e = geo.init(cascadeOp, env))
      return e;
    // Compile every map action once.
    for (Operation &op : cascadeOp.getBody().front()) {
      Region *body = nullptr;
      if (auto e = dyn_cast<cascade::EinsumOp>(op))
        body = &e.getBody();
      else if (auto it = dyn_cast<cascade::IterateOp>(op))
        body = &it.getBody();
      if (!body)
        continue;
      auto p = Program::compile(body->front(), env);
      if (!p)
        return llvm::handleErrors(p.takeError(), [&](const llvm::ErrorInfoBase &e) {
          return err(llvm::formatv("in '{0}' {1}: {2}", op.getName().getStringRef(),
                                   op.getAttrOfType<StringAttr>("name")
                                       ? op.getAttrOfType<StringAttr>("name").getValue()
                                       : StringRef("?"),
                                   e.message()));
        });
      programs.try_emplace(&op, std::move(*p));
    }
    return llvm::Error::success();
  }

  /// Runs the cascade for one (b, h) and writes its rows into `result`.
  llvm::Error run(int64_t b, int64_t h, Result &result) {
    this->b = b;
    this->h = h;
    hk = h / (env.H / env.Hkv);
    fibers.clear();
    for (Operation &op : cascadeOp.getBody().front()) {
      llvm::Error e = llvm::Error::success();
      if (auto in = dyn_cast<cascade::InputOp>(op))
        e = runInput(in);
      else if (auto es = dyn_cast<cascade::EinsumOp>(op))
        e = runEinsum(es);
      else if (auto it = dyn_cast<cascade::IterateOp>(op))
        e = runIterate(it);
      else if (auto out = dyn_cast<cascade::OutputOp>(op))
        e = runOutput(out, result);
      else if (op.getDialect() && op.getDialect()->getNamespace() == "cascade")
        e = err(llvm::formatv("the cascade interpreter does not know the op '{0}'",
                              op.getName().getStringRef()));
      // Other ops (constants hoisted by a pass) are read on demand.
      if (e)
        return e;
    }
    return llvm::Error::success();
  }

private:
  llvm::Expected<const Fiber *> fiberOf(Value v) {
    auto it = fibers.find(v);
    if (it == fibers.end())
      return err("a cascade op reads a fiber that was not computed before it");
    return &it->second;
  }

  llvm::Error rankIds(ArrayAttr ranks, StringRef what, llvm::SmallVectorImpl<unsigned> &ids) {
    return geo.checkRanks(cascade::rankNames(ranks), what, ids);
  }

  llvm::Error runInput(cascade::InputOp in) {
    llvm::SmallVector<unsigned, 4> ids;
    if (llvm::Error e = rankIds(in.getRanks(), "cascade.input " + in.getName().str(), ids))
      return e;
    StringRef n = in.getName();
    const Array &arr = n == "Q" ? env.problem->q : n == "K" ? env.problem->k : env.problem->v;
    int64_t head = n == "Q" ? h : hk;
    int64_t rows = n == "Q" ? env.Sq : env.Skv;
    Fiber f = geo.makeFiber(ids, false, kNaN);
    SpaceInfo s(ids);
    int64_t c[kNumRanks] = {};
    bool hasD = s.has[RE] || s.has[RF];
    if (s.has[RE] && s.has[RF])
      return err("cascade.input " + n + " has both e and f");
    if (!hasD || (n == "Q" ? !(s.has[RP] || (s.has[RP1] && s.has[RP0]))
                           : !(s.has[RM] || (s.has[RM0] && s.has[RM1]))))
      return err("cascade.input " + n + ": ranks do not determine a row and a head dim");
    int64_t idx = 0;
    forEachPoint(ids, geo, c, [&]() {
      PointIndex pi = resolve(s, geo, env, c);
      int64_t row = n == "Q" ? pi.row : pi.j;
      int64_t d = s.has[RE] ? c[RE] : c[RF];
      if (!pi.skip && row >= 0 && row < rows)
        f.data[idx] = arr.data[((b * arr.shape[1] + head) * arr.shape[2] + row) * arr.shape[3] + d];
      ++idx;
    });
    fibers[in.getResult()] = std::move(f);
    return llvm::Error::success();
  }

  /// Input fibers of an op, with their element kinds.
  llvm::Error gatherInputs(ValueRange inputs, llvm::SmallVectorImpl<const Fiber *> &out) {
    for (Value v : inputs) {
      auto f = fiberOf(v);
      if (!f)
        return f.takeError();
      out.push_back(*f);
    }
    return llvm::Error::success();
  }

  /// Fibers read at each point, and where their offsets live in the
  /// odometer's tracked values: 0 = row, 1 = key, 2.. = fibers.
  struct Tracked {
    llvm::SmallVector<const Fiber *, 8> fibers;
    unsigned add(const Fiber *f) {
      fibers.push_back(f);
      return 1 + fibers.size();
    }
  };

  /// Builds an odometer over `dims` tracking row, key and `t`'s fibers.
  Odometer makeOdometer(llvm::ArrayRef<unsigned> dims, const IndexPlan &plan,
                        const Tracked &t) {
    llvm::SmallVector<int64_t, 6> ext;
    for (unsigned r : dims)
      ext.push_back(geo.ext[r]);
    Odometer o(ext, 2 + t.fibers.size());
    for (unsigned k = 0; k < dims.size(); ++k) {
      unsigned r = dims[k];
      o.setStride(k, 0, plan.rowCoef[r]);
      o.setStride(k, 1, plan.keyCoef[r]);
      for (size_t f = 0; f < t.fibers.size(); ++f) {
        const Fiber &fb = *t.fibers[f];
        for (size_t q = 0; q < fb.ranks.size(); ++q)
          if (fb.ranks[q] == r)
            o.setStride(k, 2 + f, fb.strides[q]);
      }
    }
    return o;
  }

  /// The (i, j) of a point from the tracked row / key, or skip.
  bool pointIndex(const IndexPlan &plan, const int64_t *v, int64_t &i, int64_t &j) const {
    i = -1;
    j = -1;
    if (plan.rowFull || plan.rowPartial) {
      if (v[0] >= env.Sq)
        return false;
      if (plan.rowFull)
        i = env.qOffset + v[0];
    }
    if (plan.keyFull || plan.keyPartial) {
      if (v[1] >= env.Skv)
        return false;
      if (plan.keyFull)
        j = v[1];
    }
    return true;
  }

  /// Loads `count` tracked fibers from `firstFiber` into the argument slots from `first`.
  static void loadTracked(Slot *args, unsigned first, const Tracked &t, unsigned firstFiber,
                          unsigned count, const int64_t *v) {
    for (unsigned k = 0; k < count; ++k) {
      const Fiber &f = *t.fibers[firstFiber + k];
      int64_t o = v[2 + firstFiber + k];
      Slot &s = args[first + k];
      if (f.isInt) // NaN (a point never computed) must not reach the cast
        s.i = std::isnan(f.data[o]) ? 0 : static_cast<int64_t>(f.data[o]);
      else
        s.f = f.data[o];
      s.poison = f.poisonAt(o);
    }
  }

  llvm::Error runEinsum(cascade::EinsumOp op) {
    std::string what = ("cascade.einsum " + op.getName()).str();
    llvm::SmallVector<unsigned, 4> out, red, space;
    if (llvm::Error e = rankIds(op.getRanks(), what, out))
      return e;
    if (llvm::Error e = rankIds(op.getReduceRanks(), what, red))
      return e;
    space.append(out.begin(), out.end());
    space.append(red.begin(), red.end());
    llvm::SmallVector<const Fiber *, 4> ins;
    if (llvm::Error e = gatherInputs(op.getInputs(), ins))
      return e;
    const Fiber *keep = nullptr, *init = nullptr;
    if (Value k = op.getKeep()) {
      auto f = fiberOf(k);
      if (!f)
        return f.takeError();
      keep = *f;
    }
    if (Value i = op.getInit()) {
      auto f = fiberOf(i);
      if (!f)
        return f.takeError();
      init = *f;
    }
    bool isInt = !isa<FloatType>(cast<cascade::FiberType>(op.getType()).getElementType());
    Program &prog = programs.find(op.getOperation())->second;
    prog.prepare();
    Slot *args = prog.args();
    Fiber res = geo.makeFiber(out, isInt, kNaN);

    // Tracked: inputs, then the result, keep and init.
    Tracked t;
    for (const Fiber *f : ins)
      t.add(f);
    unsigned qRes = t.add(&res);
    unsigned qKeep = keep ? t.add(keep) : 0;
    unsigned qInit = init ? t.add(init) : 0;
    IndexPlan plan(space, geo);
    Odometer outer = makeOdometer(out, plan, t);
    Odometer inner = makeOdometer(red, plan, t);
    llvm::SmallVector<int64_t, 8> zero(2 + t.fibers.size(), 0);
    unsigned nIn = ins.size();
    args[0].i = b;
    args[1].i = h;

    std::optional<cascade::CombineKind> kind = op.getReduce();
    double identity = kind ? cascade::identityOf(*kind) : 0.0;
    if (outer.reset(zero.data())) {
      do {
        const int64_t *ov = outer.values();
        if (!kind) {
          int64_t i, j;
          if (pointIndex(plan, ov, i, j)) {
            args[2].i = i;
            args[3].i = j;
            loadTracked(args, 4, t, 0, nIn, ov);
            const Slot &v = prog.run();
            int64_t o = ov[qRes];
            res.data[o] = isInt ? double(v.i) : v.f;
            res.setPoison(o, v.poison);
          }
          continue;
        }
        double acc = init ? init->data[ov[qInit]] : identity;
        uint32_t accPoison = init ? init->poisonAt(ov[qInit]) : 0;
        if (inner.reset(ov)) {
          do {
            const int64_t *v = inner.values();
            int64_t i, j;
            if (!pointIndex(plan, v, i, j))
              continue;
            if (keep) {
              int64_t ko = v[qKeep];
              if (uint32_t kp = keep->poisonAt(ko)) {
                if (!accPoison)
                  accPoison = kp;
                continue;
              }
              if (keep->data[ko] == 0)
                continue;
            }
            args[2].i = i;
            args[3].i = j;
            loadTracked(args, 4, t, 0, nIn, v);
            const Slot &sv = prog.run();
            if (sv.poison && !accPoison)
              accPoison = sv.poison;
            switch (*kind) {
            case cascade::CombineKind::sum: acc += sv.f; break;
            case cascade::CombineKind::max:
              if (sv.f > acc || std::isnan(sv.f))
                acc = sv.f;
              break;
            case cascade::CombineKind::min:
              if (sv.f < acc || std::isnan(sv.f))
                acc = sv.f;
              break;
            }
          } while (inner.next());
        }
        res.data[ov[qRes]] = acc;
        res.setPoison(ov[qRes], accPoison);
      } while (outer.next());
    }
    fibers[op.getResult()] = std::move(res);
    return llvm::Error::success();
  }

  llvm::Error runIterate(cascade::IterateOp op) {
    std::string what = ("cascade.iterate " + op.getName()).str();
    llvm::SmallVector<unsigned, 4> ranks, outerRanks;
    if (llvm::Error e = rankIds(op.getRanks(), what, ranks))
      return e;
    std::optional<unsigned> over = rankId(op.getOver());
    if (!over || !llvm::is_contained(ranks, *over))
      return err(what + ": bad iterative rank '" + op.getOver().str() + "'");
    for (unsigned r : ranks)
      if (r != *over)
        outerRanks.push_back(r);
    llvm::SmallVector<const Fiber *, 4> ins;
    if (llvm::Error e = gatherInputs(op.getInputs(), ins))
      return e;
    const Fiber *init = nullptr;
    if (Value i = op.getInit()) {
      auto f = fiberOf(i);
      if (!f)
        return f.takeError();
      init = *f;
    }
    double identity = apFloatToDouble(op.getIdentity());
    Program &prog = programs.find(op.getOperation())->second;
    prog.prepare();
    Slot *args = prog.args();
    Fiber prev = geo.makeFiber(ranks, false, kNaN);
    Fiber cur = geo.makeFiber(ranks, false, kNaN);
    Fiber fin = geo.makeFiber(outerRanks, false, kNaN);

    Tracked t;
    for (const Fiber *f : ins)
      t.add(f);
    unsigned qStep = t.add(&prev); // prev and cur share the layout
    unsigned qFin = t.add(&fin);
    unsigned qInit = init ? t.add(init) : 0;
    IndexPlan plan(ranks, geo);
    Odometer outer = makeOdometer(outerRanks, plan, t);
    llvm::SmallVector<unsigned, 1> overDim = {*over};
    Odometer steps = makeOdometer(overDim, plan, t);
    llvm::SmallVector<int64_t, 8> zero(2 + t.fibers.size(), 0);
    unsigned nIn = ins.size();
    args[0].i = b;
    args[1].i = h;
    args[3].i = -1;
    if (outer.reset(zero.data())) {
      do {
        const int64_t *ov = outer.values();
        double acc = init ? init->data[ov[qInit]] : identity;
        uint32_t accPoison = init ? init->poisonAt(ov[qInit]) : 0;
        if (steps.reset(ov)) {
          do {
            const int64_t *v = steps.values();
            int64_t o = v[qStep];
            prev.data[o] = acc;
            prev.setPoison(o, accPoison);
            int64_t i, j;
            if (pointIndex(plan, v, i, j)) {
              args[2].i = i;
              args[4].f = acc;
              args[4].poison = accPoison;
              loadTracked(args, 5, t, 0, nIn, v);
              const Slot &sv = prog.run();
              acc = sv.f;
              accPoison = sv.poison;
            }
            cur.data[o] = acc;
            cur.setPoison(o, accPoison);
          } while (steps.next());
        }
        fin.data[ov[qFin]] = acc;
        fin.setPoison(ov[qFin], accPoison);
      } while (outer.next());
    }
    fibers[op.getPrev()] = std::move(prev);
    fibers[op.getCur()] = std::move(cur);
    fibers[op.getFinal()] = std::move(fin);
    return llvm::Error::success();
  }

  llvm::Error runOutput(cascade::OutputOp op, Result &result) {
    auto av = fiberOf(op.getAv());
    auto kn = fiberOf(op.getKept());
    if (!av)
      return av.takeError();
    if (!kn)
      return kn.takeError();
    const Fiber *lse = nullptr;
    if (Value l = op.getLse()) {
      auto f = fiberOf(l);
      if (!f)
        return f.takeError();
      lse = *f;
    }
    auto checkRows = [&](const Fiber &f, bool withF, StringRef what) -> llvm::Error {
      SpaceInfo s(f.ranks);
      bool rowOk = s.has[RP] || (s.has[RP1] && s.has[RP0]);
      for (unsigned r : f.ranks)
        if (r != RP && r != RP1 && r != RP0 && r != RF)
          return err("cascade.output: " + what + " has a rank other than the row and f");
      if (!rowOk || (withF && !s.has[RF]))
        return err("cascade.output: " + what + " is not over the rows" +
                   (withF ? " and f" : ""));
      return llvm::Error::success();
    };
    if (llvm::Error e = checkRows(**av, true, "AV"))
      return e;
    if (llvm::Error e = checkRows(**kn, false, "the kept count"))
      return e;
    if (lse)
      if (llvm::Error e = checkRows(*lse, false, "LSE"))
        return e;
    int64_t c[kNumRanks] = {};
    for (int64_t row = 0; row < env.Sq; ++row) {
      c[RP] = row;
      if (geo.pTile) {
        c[RP1] = row / geo.pTile;
        c[RP0] = row % geo.pTile;
      }
      int64_t ko = (*kn)->offset(c);
      if (uint32_t p = (*kn)->poisonAt(ko))
        return err(env.message(p));
      bool empty = (*kn)->data[ko] == 0;
      int64_t base = ((b * env.H + h) * env.Sq + row);
      for (int64_t d = 0; d < env.D; ++d) {
        c[RF] = d;
        int64_t o = (*av)->offset(c);
        if (empty) {
          result.o.data[base * env.D + d] = 0.0;
          continue;
        }
        if (uint32_t p = (*av)->poisonAt(o))
          return err(env.message(p));
        result.o.data[base * env.D + d] = (*av)->data[o];
      }
      if (lse) {
        int64_t o = lse->offset(c);
        if (empty) {
          result.lse->data[base] = -kInf;
        } else {
          if (uint32_t p = lse->poisonAt(o))
            return err(env.message(p));
          result.lse->data[base] = lse->data[o];
        }
      }
    }
    return llvm::Error::success();
  }

  Env &env;
  cascade::CascadeOp cascadeOp;
  Geometry geo;
  llvm::DenseMap<Operation *, Program> programs;
  llvm::DenseMap<Value, Fiber> fibers;
  int64_t b = 0, h = 0, hk = 0;
};

llvm::Error checkProblemImpl(attn::VariantOp variant, const Problem &p, Env &env) {
  auto check4 = [](const Array &a, const char *name) -> llvm::Error {
    if (a.shape.size() != 4)
      return err(llvm::formatv("{0} must have rank 4, got shape {1}", name, shapeStr(a.shape)));
    // B, Sq and Skv may be 0 (nothing to compute; rows with no key are
    // empty rows), as in the runtime; H, Hkv and D may not.
    for (int d : {1, 3})
      if (a.shape[d] <= 0)
        return err(llvm::formatv("{0} has an empty dimension: {1}", name, shapeStr(a.shape)));
    for (int64_t s : a.shape)
      if (s < 0)
        return err(llvm::formatv("{0} has a negative dimension: {1}", name, shapeStr(a.shape)));
    if (static_cast<int64_t>(a.data.size()) != a.numElements())
      return err(llvm::formatv("{0} holds {1} values for shape {2}", name, a.data.size(),
                               shapeStr(a.shape)));
    return llvm::Error::success();
  };
  if (llvm::Error e = check4(p.q, "q"))
    return e;
  if (llvm::Error e = check4(p.k, "k"))
    return e;
  if (llvm::Error e = check4(p.v, "v"))
    return e;
  env.problem = &p;
  env.B = p.q.shape[0];
  env.H = p.q.shape[1];
  env.Sq = p.q.shape[2];
  env.D = p.q.shape[3];
  env.Hkv = p.k.shape[1];
  env.Skv = p.k.shape[2];
  if (p.k.shape != p.v.shape)
    return err(llvm::formatv("k {0} and v {1} must have the same shape", shapeStr(p.k.shape),
                             shapeStr(p.v.shape)));
  if (p.k.shape[0] != env.B || p.k.shape[3] != env.D)
    return err(llvm::formatv("k/v {0} must be [B, Hkv, Skv, D] with B and D of q {1}",
                             shapeStr(p.k.shape), shapeStr(p.q.shape)));
  if (env.H % env.Hkv != 0)
    return err(llvm::formatv("H = {0} is not a multiple of Hkv = {1}", env.H, env.Hkv));
  env.qOffset = p.qOffset ? *p.qOffset : env.Skv - env.Sq;

  for (Operation &op : variant.getBody().front()) {
    if (auto par = dyn_cast<attn::ParamOp>(op))
      env.params[par.getSymName()] = par;
    else if (auto t = dyn_cast<attn::TensorOp>(op))
      env.tensors[t.getSymName()] = t;
  }
  for (auto &kv : p.params) {
    auto it = env.params.find(kv.first);
    if (it == env.params.end())
      return err(llvm::formatv("unknown param '{0}' (the variant declares no such param)",
                               kv.first));
    Type t = it->second.getType();
    double v = kv.second;
    if (t.isInteger(1) && v != 0 && v != 1)
      return err(llvm::formatv("param '{0}' is a bool; got {1}", kv.first, v));
    if (t.isInteger(32) && (v != std::floor(v) || v < -2147483648.0 || v > 2147483647.0))
      return err(llvm::formatv("param '{0}' is an i32; got {1}", kv.first, v));
  }
  for (auto &kv : env.params)
    if (!kv.second.getDefaultValueAttr() && !p.params.count(kv.first().str()))
      return err(llvm::formatv("param '{0}' has no default and was not given", kv.first()));
  for (auto &kv : p.tensors)
    if (!env.tensors.count(kv.first))
      return err(llvm::formatv("unknown tensor '{0}' (the variant declares no such tensor)",
                               kv.first));
  for (auto &kv : env.tensors) {
    attn::TensorOp decl = kv.second;
    std::string name = kv.first().str();
    auto given = p.tensors.find(name);
    if (given == p.tensors.end())
      return err(llvm::formatv("tensor '{0}' is missing", name));
    std::vector<int64_t> want;
    for (Attribute d : decl.getDims()) {
      if (auto s = dyn_cast<StringAttr>(d)) {
        int64_t v = llvm::StringSwitch<int64_t>(s.getValue())
                        .Case("B", env.B).Case("H", env.H).Case("Hkv", env.Hkv)
                        .Case("Sq", env.Sq).Case("Skv", env.Skv).Case("D", env.D)
                        .Default(-1);
        if (v < 0)
          return err(llvm::formatv("tensor '{0}': unknown size '{1}'", name, s.getValue()));
        want.push_back(v);
      } else if (auto i = dyn_cast<IntegerAttr>(d)) {
        want.push_back(i.getInt());
      } else {
        return err(llvm::formatv("tensor '{0}': bad dimension attribute", name));
      }
    }
    const Array &a = given->second;
    if (a.shape != want)
      return err(llvm::formatv("tensor '{0}' must have shape {1}, got {2}", name,
                               shapeStr(want), shapeStr(a.shape)));
    if (static_cast<int64_t>(a.data.size()) != a.numElements())
      return err(llvm::formatv("tensor '{0}' holds {1} values for shape {2}", name,
                               a.data.size(), shapeStr(a.shape)));
    if (decl.getElementType().isInteger(32))
      for (double v : a.data)
        if (v != std::floor(v) || v < -2147483648.0 || v > 2147483647.0)
          return err(llvm::formatv("tensor '{0}' is i32 but holds {1}", name, v));
  }
  return llvm::Error::success();
}

} // namespace

llvm::Error attn::interp::checkProblem(attn::VariantOp variant, const Problem &problem) {
  Env env;
  return checkProblemImpl(variant, problem, env);
}

llvm::Error attn::interp::interpretCascade(attn::VariantOp variant, const Problem &problem,
                                           Result &result) {
  Env env;
  if (llvm::Error e = checkProblemImpl(variant, problem, env))
    return e;
  cascade::CascadeOp cascadeOp;
  for (Operation &op : variant.getBody().front())
    if (auto c = dyn_cast<cascade::CascadeOp>(op)) {
      if (cascadeOp)
        return err(llvm::formatv("variant @{0} holds more than one cascade.cascade",
                                 variant.getSymName()));
      cascadeOp = c;
    }
  if (!cascadeOp)
    return err(llvm::formatv("variant @{0} has no cascade.cascade (run attn-to-cascade first)",
                             variant.getSymName()));
  result.o.shape = {env.B, env.H, env.Sq, env.D};
  result.o.data.assign(result.o.numElements(), 0.0);
  bool hasLse = false;
  for (Operation &op : cascadeOp.getBody().front())
    if (auto out = dyn_cast<cascade::OutputOp>(op))
      hasLse = static_cast<bool>(out.getLse());
  result.lse.reset();
  if (hasLse) {
    result.lse.emplace();
    result.lse->shape = {env.B, env.H, env.Sq};
    result.lse->data.assign(result.lse->numElements(), 0.0);
  }
  // Nothing to compute; no key at all: every row is empty (zeros, lse -inf).
  if (env.B == 0 || env.Sq == 0)
    return llvm::Error::success();
  if (env.Skv == 0) {
    if (result.lse)
      result.lse->data.assign(result.lse->numElements(), -INFINITY);
    return llvm::Error::success();
  }

  // The (b, h) slices are independent: large problems run them in parallel
  // (each chunk with its own runner; slices write disjoint rows of `result`).
  int64_t slices = env.B * env.H;
  double work = double(slices) * double(env.Sq) * double(env.Skv) * double(env.D);
  MLIRContext *ctx = variant->getContext();
  size_t chunks = 1;
  if (work > 4e6 && ctx->isMultithreadingEnabled())
    chunks = std::min<size_t>(slices, ctx->getThreadPool().getMaxConcurrency());
  std::vector<std::optional<std::string>> errors(slices);
  auto runChunk = [&](size_t chunk) {
    CascadeRunner runner(env, cascadeOp);
    if (llvm::Error e = runner.prepare()) {
      errors[chunk] = llvm::toString(std::move(e));
      return;
    }
    for (int64_t s = chunk; s < slices; s += chunks)
      if (llvm::Error e = runner.run(s / env.H, s % env.H, result)) {
        errors[s] = llvm::toString(std::move(e));
        return;
      }
  };
  if (chunks <= 1)
    runChunk(0);
  else
    mlir::parallelForEach(ctx, llvm::seq<size_t>(0, chunks), runChunk);
  // The error of the first failing slice, whatever the scheduling.
  for (const std::optional<std::string> &e : errors)
    if (e)
      return err(*e);
  return llvm::Error::success();
}
