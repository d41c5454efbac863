//===- DirectEval.cpp - float64 oracle straight from the AST --------------===//
//
// A tree-walking interpreter over ast::Expr plus the naive attention loops.
// Deliberately simple and slow: it is the judge, not a kernel.
//
//===----------------------------------------------------------------------===//
#include "compiler/reference/DirectEval.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <sstream>

using namespace attn;
using namespace attn::ref;

namespace {

const char *const kIndexVarNames[4] = {"b", "h", "i", "j"};
const char *const kSizeVarNames[6] = {"B", "H", "Hkv", "Sq", "Skv", "D"};
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// A scalar of the language: 64-bit integer, float64 or bool.
struct Value {
  enum Kind { Int, Float, Bool } kind = Float;
  int64_t i = 0;
  double f = 0.0;

  static Value ofInt(int64_t v) { return {Int, v, 0.0}; }
  static Value ofFloat(double v) { return {Float, 0, v}; }
  static Value ofBool(bool v) { return {Bool, v ? 1 : 0, 0.0}; }
  bool isFloat() const { return kind == Float; }
  double asDouble() const { return kind == Float ? f : (double)i; }
  bool asBool() const { return kind == Float ? f != 0.0 : i != 0; }
};

int64_t wrapAdd(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
int64_t wrapSub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
int64_t wrapMul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }

/// Python's floor division; x / 0 == 0.
int64_t floorDiv(int64_t a, int64_t b) {
  if (b == 0)
    return 0;
  if (b == -1)
    return wrapSub(0, a);
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    --q;
  return q;
}

/// Python's modulo (sign of the divisor); x % 0 == 0.
int64_t floorMod(int64_t a, int64_t b) {
  if (b == 0 || b == -1)
    return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}

double floatMod(double a, double b) {
  double r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}

double sigmoid(double x) {
  if (x >= 0)
    return 1.0 / (1.0 + std::exp(-x));
  double e = std::exp(x);
  return e / (1.0 + e);
}

double softplus(double x) {
  return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
}

std::string locString(const ast::Expr &e) {
  return std::to_string(e.loc.begin.line) + ":" +
         std::to_string(e.loc.begin.col) + ": error: ";
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t d = 0; d < shape.size(); ++d)
    s += (d ? ", " : "") + std::to_string(shape[d]);
  return s + "]";
}

/// The sizes of one call, in RefKind::Size order.
struct Sizes {
  int64_t v[6] = {}; // B H Hkv Sq Skv D
  int64_t B() const { return v[0]; }
  int64_t H() const { return v[1]; }
  int64_t Hkv() const { return v[2]; }
  int64_t Sq() const { return v[3]; }
  int64_t Skv() const { return v[4]; }
  int64_t D() const { return v[5]; }
};

const char *declName(ast::DeclType t) {
  switch (t) {
  case ast::DeclType::I32: return "i32";
  case ast::DeclType::F32: return "f32";
  case ast::DeclType::Bool: return "bool";
  }
  return "?";
}

std::optional<int> sizeIndex(const std::string &name) {
  for (int k = 0; k < 6; ++k)
    if (name == kSizeVarNames[k])
      return k;
  return std::nullopt;
}

std::optional<std::string> checkQKV(const Problem &p, Sizes &sz) {
  auto check = [](const char *name, const Array &a) -> std::optional<std::string> {
    if (a.shape.size() != 4)
      return std::string("tensor '") + name + "' must have rank 4, got shape " +
             shapeString(a.shape);
    for (int64_t s : a.shape)
      if (s < 0)
        return std::string("tensor '") + name + "' has a negative extent";
    if ((int64_t)a.data.size() != a.numElements())
      return std::string("tensor '") + name + "' holds " +
             std::to_string(a.data.size()) + " values, its shape " +
             shapeString(a.shape) + " needs " + std::to_string(a.numElements());
    return std::nullopt;
  };
  if (auto e = check("q", p.q))
    return e;
  if (auto e = check("k", p.k))
    return e;
  if (auto e = check("v", p.v))
    return e;
  const auto &q = p.q.shape, &k = p.k.shape, &v = p.v.shape;
  sz.v[0] = q[0];
  sz.v[1] = q[1];
  sz.v[2] = k[1];
  sz.v[3] = q[2];
  sz.v[4] = k[2];
  sz.v[5] = q[3];
  if (k[0] != q[0])
    return "k has batch " + std::to_string(k[0]) + " but q has batch " +
           std::to_string(q[0]) + " (q " + shapeString(q) + ", k " +
           shapeString(k) + ")";
  if (k[3] != q[3])
    return "k has head dimension " + std::to_string(k[3]) + " but q has " +
           std::to_string(q[3]) + " (q " + shapeString(q) + ", k " +
           shapeString(k) + ")";
  if (v != k)
    return "v has shape " + shapeString(v) + ", expected the shape of k " +
           shapeString(k);
  if (sz.Hkv() <= 0 || sz.H() % sz.Hkv() != 0)
    return "the number of query heads H = " + std::to_string(sz.H()) +
           " is not a multiple of the number of key/value heads Hkv = " +
           std::to_string(sz.Hkv());
  return std::nullopt;
}

/// The interpreter: environment of one (b, h, i, j) plus the norm's state.
class Evaluator {
public:
  Evaluator(const ast::Variant &var, const Problem &p, const Sizes &sz)
      : var(var), p(p), sz(sz) {}

  /// Resolves params and tensors. Sets `error` on failure.
  void setUp();
  void run(Result &result);

  std::string error;

private:
  const ast::Variant &var;
  const Problem &p;
  Sizes sz;
  int64_t qOffset = 0;
  std::vector<Value> params;
  std::vector<const Array *> tensors;

  // Environment.
  int64_t b = 0, h = 0, hk = 0, r = 0, i = 0, j = 0;
  bool haveIndices = false; ///< false while evaluating param defaults
  bool haveJ = false;       ///< false in a softmax sink
  std::vector<std::pair<const std::string *, int64_t>> headIndices; // sum[d]
  int letDepth = 0;

  // Custom-norm state for the current row.
  bool inCustom = false;
  int curAssign = 0;
  const std::vector<double> *rowScores = nullptr;
  const std::vector<char> *rowKeep = nullptr;
  std::vector<std::vector<Value>> locals;
  std::map<const ast::Expr *, Value> reductions;

  Value fail(const ast::Expr &e, const std::string &msg) {
    if (error.empty()) {
      error = locString(e) + msg;
      if (haveIndices) {
        error += " (at b=" + std::to_string(b) + ", h=" + std::to_string(h) +
                 ", i=" + std::to_string(i);
        if (haveJ)
          error += ", j=" + std::to_string(j);
        error += ")";
      }
    }
    return Value::ofFloat(kNaN);
  }

  Value eval(const ast::Expr &e);
  Value evalUncoerced(const ast::Expr &e);
  Value evalName(const ast::Expr &e);
  Value evalIndex(const ast::Expr &e);
  Value evalBinary(const ast::Expr &e);
  Value evalCall(const ast::Expr &e);
  Value evalReduce(const ast::Expr &e);
  Value evalSumD(const ast::Expr &e);
  Value scaleValue(const ast::Expr *at);
  double dotQK();
  double scoreDefault();
  ast::RefKind resolve(const ast::Expr &e, int &index);
  bool needIndices(const ast::Expr &e);
  void evalRow(std::vector<double> &w, std::vector<char> &keep,
               double &lse);
};

bool Evaluator::needIndices(const ast::Expr &e) {
  if (!haveIndices) {
    fail(e, "'" + e.name + "' cannot be used in a param default");
    return false;
  }
  return true;
}

/// Sema's resolution when present, else by name (hand-built ASTs).
ast::RefKind Evaluator::resolve(const ast::Expr &e, int &index) {
  index = e.refIndex;
  if (e.ref != ast::RefKind::Unresolved)
    return e.ref;
  const std::string &n = e.name;
  if (e.kind == ast::ExprKind::Call) {
    if (n == "max_j" || n == "min_j" || n == "sum_j")
      return ast::RefKind::RowReduce;
    if (n == "dot")
      return ast::RefKind::Dot;
    return ast::RefKind::Builtin;
  }
  if (e.kind == ast::ExprKind::Index) {
    if (n == "q")
      return ast::RefKind::QElem;
    if (n == "k")
      return ast::RefKind::KElem;
  }
  for (auto it = headIndices.rbegin(); it != headIndices.rend(); ++it)
    if (*it->first == n)
      return ast::RefKind::HeadIndex;
  if (inCustom) {
    if (n == "s")
      return ast::RefKind::NormScore;
    for (int a = curAssign - 1; a >= 0; --a)
      if (var.norm->custom[a].name == n) {
        index = a;
        return ast::RefKind::NormLocal;
      }
  }
  for (int k = 0; k < 4; ++k)
    if (n == kIndexVarNames[k]) {
      index = k;
      return ast::RefKind::IndexVar;
    }
  if (auto k = sizeIndex(n)) {
    index = *k;
    return ast::RefKind::Size;
  }
  if (n == "scale")
    return ast::RefKind::Scale;
  if (n == "qk")
    return ast::RefKind::QK;
  for (size_t k = 0; k < var.params.size(); ++k)
    if (var.params[k].name == n) {
      index = (int)k;
      return ast::RefKind::Param;
    }
  for (size_t k = 0; k < var.lets.size(); ++k)
    if (var.lets[k].name == n) {
      index = (int)k;
      return ast::RefKind::Let;
    }
  for (size_t k = 0; k < var.tensors.size(); ++k)
    if (var.tensors[k].name == n) {
      index = (int)k;
      return ast::RefKind::Tensor;
    }
  return ast::RefKind::Unresolved;
}

Value Evaluator::eval(const ast::Expr &e) {
  Value v = evalUncoerced(e);
  switch (e.type) {
  case ast::Type::Float:
    if (!v.isFloat())
      v = Value::ofFloat(v.asDouble());
    break;
  case ast::Type::Int:
    if (v.isFloat()) {
      if (!std::isfinite(v.f))
        return fail(e, "a non-finite value used as an integer");
      v = Value::ofInt((int64_t)v.f);
    } else {
      v.kind = Value::Int;
    }
    break;
  case ast::Type::Bool:
    v = Value::ofBool(v.asBool());
    break;
  case ast::Type::Unknown:
    break;
  }
  return v;
}

Value Evaluator::evalUncoerced(const ast::Expr &e) {
  using K = ast::ExprKind;
  switch (e.kind) {
  case K::IntLit: return Value::ofInt(e.ival);
  case K::FloatLit: return Value::ofFloat(e.fval);
  case K::BoolLit: return Value::ofBool(e.ival != 0);
  case K::Name: return evalName(e);
  case K::Index: return evalIndex(e);
  case K::Unary: {
    if (e.args.size() != 1)
      return fail(e, "malformed unary expression");
    Value a = eval(*e.args[0]);
    if (e.op == ast::OpKind::Not)
      return Value::ofBool(!a.asBool());
    if (a.isFloat())
      return Value::ofFloat(-a.f);
    return Value::ofInt(wrapSub(0, a.i));
  }
  case K::Binary: return evalBinary(e);
  case K::Ternary: {
    if (e.args.size() != 3)
      return fail(e, "malformed conditional expression");
    return eval(*e.args[0]).asBool() ? eval(*e.args[1]) : eval(*e.args[2]);
  }
  case K::Call: return evalCall(e);
  case K::SumD: return evalSumD(e);
  }
  return fail(e, "unknown expression kind");
}

Value Evaluator::scaleValue(const ast::Expr *at) {
  if (var.scale && var.scale->value)
    return eval(*var.scale->value);
  return Value::ofFloat(1.0 / std::sqrt((double)sz.D()));
}

double Evaluator::dotQK() {
  int64_t D = sz.D();
  const double *q = &p.q.data[((b * sz.H() + h) * sz.Sq() + r) * D];
  const double *k = &p.k.data[((b * sz.Hkv() + hk) * sz.Skv() + j) * D];
  double acc = 0;
  for (int64_t d = 0; d < D; ++d)
    acc += q[d] * k[d];
  return acc;
}

Value Evaluator::evalName(const ast::Expr &e) {
  int idx;
  using R = ast::RefKind;
  R ref = resolve(e, idx);
  switch (ref) {
  case R::IndexVar: {
    if (!needIndices(e))
      return Value::ofFloat(kNaN);
    if (idx == 3 && !haveJ)
      return fail(e, "'j' cannot be used here (no key position)");
    const int64_t vals[4] = {b, h, i, j};
    if (idx < 0 || idx > 3)
      return fail(e, "bad index variable");
    return Value::ofInt(vals[idx]);
  }
  case R::Size:
    if (idx < 0 || idx > 5) {
      auto k = sizeIndex(e.name);
      if (!k)
        return fail(e, "bad size name '" + e.name + "'");
      idx = *k;
    }
    if (!haveIndices)
      return fail(e, "'" + e.name + "' cannot be used in a param default");
    return Value::ofInt(sz.v[idx]);
  case R::Scale:
    if (!needIndices(e))
      return Value::ofFloat(kNaN);
    return scaleValue(&e);
  case R::QK:
    if (!needIndices(e))
      return Value::ofFloat(kNaN);
    if (!haveJ)
      return fail(e, "'qk' cannot be used here (no key position)");
    return Value::ofFloat(scaleValue(&e).asDouble() * dotQK());
  case R::Param:
    if (idx < 0 || idx >= (int)params.size())
      return fail(e, "param '" + e.name + "' used before it has a value");
    return params[idx];
  case R::Let: {
    if (idx < 0 || idx >= (int)var.lets.size() || !var.lets[idx].value)
      return fail(e, "bad let reference '" + e.name + "'");
    if (letDepth > 256)
      return fail(e, "let '" + e.name + "' is recursive");
    ++letDepth;
    Value v = eval(*var.lets[idx].value);
    --letDepth;
    return v;
  }
  case R::HeadIndex:
    for (auto it = headIndices.rbegin(); it != headIndices.rend(); ++it)
      if (*it->first == e.name)
        return Value::ofInt(it->second);
    if (!headIndices.empty())
      return Value::ofInt(headIndices.back().second);
    return fail(e, "'" + e.name + "' used outside sum[" + e.name + "]");
  case R::NormScore:
    if (!inCustom || !rowScores)
      return fail(e, "'s' used outside a custom norm");
    return Value::ofFloat((*rowScores)[j]);
  case R::NormLocal:
    if (!inCustom || idx < 0 || idx >= curAssign)
      return fail(e, "'" + e.name + "' used before it is assigned");
    return locals[idx][j];
  default:
    return fail(e, "unknown name '" + e.name + "'");
  }
}

Value Evaluator::evalIndex(const ast::Expr &e) {
  int idx;
  using R = ast::RefKind;
  R ref = resolve(e, idx);
  if (!needIndices(e))
    return Value::ofFloat(kNaN);
  std::vector<int64_t> at;
  for (auto &a : e.args) {
    Value v = eval(*a);
    if (!error.empty())
      return Value::ofFloat(kNaN);
    if (v.isFloat())
      return fail(*a, "index of '" + e.name + "' is not an integer");
    at.push_back(v.i);
  }
  if (ref == R::QElem || ref == R::KElem) {
    if (at.size() != 1)
      return fail(e, "'" + e.name + "' takes one index");
    if (!haveJ)
      return fail(e, "'" + e.name + "' cannot be used here (no key position)");
    int64_t d = at[0];
    if (d < 0 || d >= sz.D())
      return fail(e, "index " + std::to_string(d) + " of '" + e.name +
                         "' out of range [0, " + std::to_string(sz.D()) + ")");
    int64_t D = sz.D();
    if (ref == R::QElem)
      return Value::ofFloat(p.q.data[((b * sz.H() + h) * sz.Sq() + r) * D + d]);
    return Value::ofFloat(p.k.data[((b * sz.Hkv() + hk) * sz.Skv() + j) * D + d]);
  }
  if (ref != R::Tensor || idx < 0 || idx >= (int)tensors.size())
    return fail(e, "'" + e.name + "' is not a tensor");
  const Array &t = *tensors[idx];
  if (at.size() != t.shape.size())
    return fail(e, "tensor '" + e.name + "' has rank " +
                       std::to_string(t.shape.size()) + " but is indexed with " +
                       std::to_string(at.size()) + " indices");
  int64_t flat = 0;
  for (size_t d = 0; d < at.size(); ++d) {
    if (at[d] < 0 || at[d] >= t.shape[d])
      return fail(*e.args[d],
                  "index " + std::to_string(at[d]) + " is out of range for dimension " +
                      std::to_string(d + 1) + " of tensor '" + e.name + "' (size " +
                      std::to_string(t.shape[d]) + ")");
    flat = flat * t.shape[d] + at[d];
  }
  double x = t.data[flat];
  switch (var.tensors[idx].elemType) {
  case ast::DeclType::I32: return Value::ofInt((int64_t)x);
  case ast::DeclType::Bool: return Value::ofBool(x != 0);
  case ast::DeclType::F32: return Value::ofFloat(x);
  }
  return Value::ofFloat(x);
}

Value Evaluator::evalBinary(const ast::Expr &e) {
  using O = ast::OpKind;
  if (e.args.size() != 2)
    return fail(e, "malformed binary expression");
  if (e.op == O::And)
    return Value::ofBool(eval(*e.args[0]).asBool() && eval(*e.args[1]).asBool());
  if (e.op == O::Or)
    return Value::ofBool(eval(*e.args[0]).asBool() || eval(*e.args[1]).asBool());
  Value a = eval(*e.args[0]);
  Value c = eval(*e.args[1]);
  bool ints = !a.isFloat() && !c.isFloat();
  double x = a.asDouble(), y = c.asDouble();
  switch (e.op) {
  case O::Add: return ints ? Value::ofInt(wrapAdd(a.i, c.i)) : Value::ofFloat(x + y);
  case O::Sub: return ints ? Value::ofInt(wrapSub(a.i, c.i)) : Value::ofFloat(x - y);
  case O::Mul: return ints ? Value::ofInt(wrapMul(a.i, c.i)) : Value::ofFloat(x * y);
  case O::Div: return ints ? Value::ofInt(floorDiv(a.i, c.i)) : Value::ofFloat(x / y);
  case O::Mod: return ints ? Value::ofInt(floorMod(a.i, c.i)) : Value::ofFloat(floatMod(x, y));
  case O::Lt: return Value::ofBool(ints ? a.i < c.i : x < y);
  case O::Le: return Value::ofBool(ints ? a.i <= c.i : x <= y);
  case O::Gt: return Value::ofBool(ints ? a.i > c.i : x > y);
  case O::Ge: return Value::ofBool(ints ? a.i >= c.i : x >= y);
  case O::Eq: return Value::ofBool(ints ? a.i == c.i : x == y);
  case O::Ne: return Value::ofBool(ints ? a.i != c.i : x != y);
  default: return fail(e, "bad binary operator");
  }
}

Value Evaluator::evalCall(const ast::Expr &e) {
  int idx;
  using R = ast::RefKind;
  R ref = resolve(e, idx);
  const std::string &n = e.name;
  if (ref == R::Dot) {
    if (!needIndices(e))
      return Value::ofFloat(kNaN);
    if (!haveJ)
      return fail(e, "'dot' cannot be used here (no key position)");
    return Value::ofFloat(dotQK());
  }
  if (ref == R::RowReduce)
    return evalReduce(e);
  size_t nargs = e.args.size();
  auto arity = [&](size_t want) {
    if (nargs == want)
      return true;
    fail(e, "'" + n + "' takes " + std::to_string(want) + " argument(s), got " +
                std::to_string(nargs));
    return false;
  };
  if (n == "select") {
    if (!arity(3))
      return Value::ofFloat(kNaN);
    return eval(*e.args[0]).asBool() ? eval(*e.args[1]) : eval(*e.args[2]);
  }
  std::vector<Value> a;
  for (auto &arg : e.args)
    a.push_back(eval(*arg));
  if (!error.empty())
    return Value::ofFloat(kNaN);
  auto allInt = [&]() {
    for (auto &v : a)
      if (v.isFloat())
        return false;
    return true;
  };
  if (n == "abs") {
    if (!arity(1)) return Value::ofFloat(kNaN);
    return a[0].isFloat() ? Value::ofFloat(std::fabs(a[0].f))
                          : Value::ofInt(a[0].i < 0 ? wrapSub(0, a[0].i) : a[0].i);
  }
  if (n == "min" || n == "max") {
    if (!arity(2)) return Value::ofFloat(kNaN);
    bool isMin = n == "min";
    if (allInt())
      return Value::ofInt(isMin ? std::min(a[0].i, a[1].i) : std::max(a[0].i, a[1].i));
    double x = a[0].asDouble(), y = a[1].asDouble();
    return Value::ofFloat(isMin ? (y < x ? y : x) : (y > x ? y : x));
  }
  if (n == "clamp") {
    if (!arity(3)) return Value::ofFloat(kNaN);
    if (allInt())
      return Value::ofInt(std::min(std::max(a[0].i, a[1].i), a[2].i));
    double x = a[0].asDouble(), lo = a[1].asDouble(), hi = a[2].asDouble();
    x = x < lo ? lo : x;
    return Value::ofFloat(x > hi ? hi : x);
  }
  if (n == "relu") {
    if (!arity(1)) return Value::ofFloat(kNaN);
    if (!a[0].isFloat())
      return Value::ofInt(a[0].i < 0 ? 0 : a[0].i);
    return Value::ofFloat(a[0].f > 0 ? a[0].f : 0.0);
  }
  static const struct {
    const char *name;
    double (*fn)(double);
  } unary[] = {
      {"exp", [](double x) { return std::exp(x); }},
      {"exp2", [](double x) { return std::exp2(x); }},
      {"log", [](double x) { return std::log(x); }},
      {"log2", [](double x) { return std::log2(x); }},
      {"sqrt", [](double x) { return std::sqrt(x); }},
      {"rsqrt", [](double x) { return 1.0 / std::sqrt(x); }},
      {"tanh", [](double x) { return std::tanh(x); }},
      {"sigmoid", sigmoid},
      {"softplus", softplus},
      {"floor", [](double x) { return std::floor(x); }},
      {"ceil", [](double x) { return std::ceil(x); }},
  };
  for (auto &u : unary)
    if (n == u.name) {
      if (!arity(1)) return Value::ofFloat(kNaN);
      return Value::ofFloat(u.fn(a[0].asDouble()));
    }
  return fail(e, "unknown function '" + n + "'");
}

Value Evaluator::evalReduce(const ast::Expr &e) {
  if (!inCustom)
    return fail(e, "'" + e.name + "' is only allowed in a custom norm");
  if (e.args.size() != 1)
    return fail(e, "'" + e.name + "' takes one argument");
  auto cached = reductions.find(&e);
  if (cached != reductions.end())
    return cached->second;
  bool isMax = e.name == "max_j", isMin = e.name == "min_j";
  if (!isMax && !isMin && e.name != "sum_j")
    return fail(e, "unknown reduction '" + e.name + "'");
  double acc = isMax ? -kInf : isMin ? kInf : 0.0;
  int64_t savedJ = j;
  for (int64_t jj = 0; jj < sz.Skv() && error.empty(); ++jj) {
    if (!(*rowKeep)[jj])
      continue;
    j = jj;
    double x = eval(*e.args[0]).asDouble();
    if (isMax)
      acc = x > acc ? x : acc;
    else if (isMin)
      acc = x < acc ? x : acc;
    else
      acc += x;
  }
  j = savedJ;
  Value v = Value::ofFloat(acc);
  reductions[&e] = v;
  return v;
}

Value Evaluator::evalSumD(const ast::Expr &e) {
  if (e.args.size() != 1)
    return fail(e, "malformed sum[" + e.name + "]");
  if (!needIndices(e))
    return Value::ofFloat(kNaN);
  headIndices.push_back({&e.name, 0});
  bool ints = true;
  int64_t iacc = 0;
  double facc = 0.0;
  for (int64_t d = 0; d < sz.D() && error.empty(); ++d) {
    headIndices.back().second = d;
    Value v = eval(*e.args[0]);
    if (v.isFloat())
      ints = false;
    iacc = wrapAdd(iacc, v.isFloat() ? 0 : v.i);
    facc += v.asDouble();
  }
  headIndices.pop_back();
  return ints ? Value::ofInt(iacc) : Value::ofFloat(facc);
}

void Evaluator::setUp() {
  qOffset = p.qOffset ? *p.qOffset : sz.Skv() - sz.Sq();
  // Params: given, else the default.
  std::string declared;
  for (auto &pd : var.params)
    declared += (declared.empty() ? "" : ", ") + pd.name;
  for (auto &kv : p.params) {
    bool found = false;
    for (auto &pd : var.params)
      found |= pd.name == kv.first;
    if (!found) {
      error = "unknown param '" + kv.first + "' (variant '" + var.name +
              "' declares: " + (declared.empty() ? "none" : declared) + ")";
      return;
    }
  }
  haveIndices = false;
  for (auto &pd : var.params) {
    Value v;
    auto given = p.params.find(pd.name);
    if (given != p.params.end()) {
      v = Value::ofFloat(given->second);
    } else if (pd.defaultValue) {
      v = eval(*pd.defaultValue);
      if (!error.empty())
        return;
    } else {
      error = "missing value for param '" + pd.name + "' (declared without a default)";
      return;
    }
    double x = v.asDouble();
    switch (pd.type) {
    case ast::DeclType::I32:
      if (v.isFloat() && (x != std::floor(x) || !std::isfinite(x))) {
        std::ostringstream os;
        os << "param '" << pd.name << "' is i32 but got " << x;
        error = os.str();
        return;
      }
      if (x < -2147483648.0 || x > 2147483647.0) {
        error = "param '" + pd.name + "' is out of the i32 range";
        return;
      }
      params.push_back(Value::ofInt((int64_t)x));
      break;
    case ast::DeclType::Bool:
      if (x != 0.0 && x != 1.0) {
        std::ostringstream os;
        os << "param '" << pd.name << "' is bool but got " << x
           << " (use 0/1 or true/false)";
        error = os.str();
        return;
      }
      params.push_back(Value::ofBool(x != 0.0));
      break;
    case ast::DeclType::F32:
      params.push_back(Value::ofFloat(x));
      break;
    }
  }
  haveIndices = true;

  // Tensors.
  for (auto &kv : p.tensors) {
    bool found = false;
    for (auto &td : var.tensors)
      found |= td.name == kv.first;
    if (!found) {
      std::string names;
      for (auto &td : var.tensors)
        names += (names.empty() ? "" : ", ") + td.name;
      error = "tensor '" + kv.first + "' is not declared by variant '" +
              var.name + "' (it declares: " + (names.empty() ? "none" : names) +
              ")";
      return;
    }
  }
  for (auto &td : var.tensors) {
    std::string decl = std::string(declName(td.elemType)) + "[";
    std::vector<int64_t> want;
    for (size_t d = 0; d < td.dims.size(); ++d) {
      auto &dim = td.dims[d];
      decl += (d ? ", " : "") +
              (dim.sizeName.empty() ? std::to_string(dim.extent) : dim.sizeName);
      if (dim.sizeName.empty()) {
        want.push_back(dim.extent);
      } else if (auto k = sizeIndex(dim.sizeName)) {
        want.push_back(sz.v[*k]);
      } else {
        error = "tensor '" + td.name + "': unknown size name '" + dim.sizeName + "'";
        return;
      }
    }
    decl += "]";
    auto it = p.tensors.find(td.name);
    if (it == p.tensors.end()) {
      error = "missing tensor '" + td.name + "' (declared as " + decl + ")";
      return;
    }
    const Array &a = it->second;
    if (a.shape != want) {
      error = "tensor '" + td.name + "' has shape " + shapeString(a.shape) +
              ", expected " + decl + " = " + shapeString(want);
      return;
    }
    if ((int64_t)a.data.size() != a.numElements()) {
      error = "tensor '" + td.name + "' holds " + std::to_string(a.data.size()) +
              " values, its shape needs " + std::to_string(a.numElements());
      return;
    }
    for (double x : a.data) {
      if (td.elemType == ast::DeclType::I32 &&
          (x != std::floor(x) || std::fabs(x) > 2147483648.0)) {
        error = "tensor '" + td.name + "' is i32 but holds a non-integer value";
        return;
      }
      if (td.elemType == ast::DeclType::Bool && x != 0.0 && x != 1.0) {
        error = "tensor '" + td.name + "' is bool but holds a value other than 0/1";
        return;
      }
    }
    tensors.push_back(&a);
  }
}

/// Computes the weights of the current row (b, h, r) into `w` (per key;
/// entries of dropped keys are unused) and lse.
void Evaluator::evalRow(std::vector<double> &w, std::vector<char> &keep,
                        double &lse) {
  int64_t Skv = sz.Skv();
  std::vector<double> s(Skv, 0.0);
  bool any = false;
  haveJ = true;
  for (j = 0; j < Skv && error.empty(); ++j) {
    keep[j] = var.mask && var.mask->value ? eval(*var.mask->value).asBool() : true;
    if (!keep[j])
      continue;
    any = true;
    double x = var.score && var.score->value
                   ? eval(*var.score->value).asDouble()
                   : scaleValue(nullptr).asDouble() * dotQK();
    if (var.bias && var.bias->value)
      x += eval(*var.bias->value).asDouble();
    s[j] = x;
  }
  lse = -kInf;
  if (!error.empty() || !any)
    return;
  ast::NormKind kind = var.norm ? var.norm->kind : ast::NormKind::Softmax;
  switch (kind) {
  case ast::NormKind::Softmax: {
    double m = -kInf;
    for (int64_t jj = 0; jj < Skv; ++jj)
      if (keep[jj] && s[jj] > m)
        m = s[jj];
    bool hasSink = var.norm && var.norm->sink;
    double sink = -kInf;
    if (hasSink) {
      haveJ = false;
      sink = eval(*var.norm->sink).asDouble();
      haveJ = true;
      if (!error.empty())
        return;
      m = sink > m ? sink : m;
    }
    if (m == -kInf) { // every kept score (and the sink) is -inf
      std::fill(keep.begin(), keep.end(), 0);
      return;
    }
    double denom = hasSink ? std::exp(sink - m) : 0.0;
    for (int64_t jj = 0; jj < Skv; ++jj)
      if (keep[jj])
        denom += (w[jj] = std::exp(s[jj] - m));
    for (int64_t jj = 0; jj < Skv; ++jj)
      if (keep[jj])
        w[jj] /= denom;
    lse = std::log(denom) + m;
    return;
  }
  case ast::NormKind::Sigmoid:
  case ast::NormKind::Relu:
  case ast::NormKind::Relu2:
  case ast::NormKind::Softplus:
  case ast::NormKind::None:
    for (int64_t jj = 0; jj < Skv; ++jj) {
      double x = s[jj];
      w[jj] = kind == ast::NormKind::Sigmoid    ? sigmoid(x)
              : kind == ast::NormKind::Relu     ? (x > 0 ? x : 0.0)
              : kind == ast::NormKind::Relu2    ? (x > 0 ? x * x : 0.0)
              : kind == ast::NormKind::Softplus ? softplus(x)
                                                : x;
    }
    return;
  case ast::NormKind::Linear: {
    double z = 0;
    for (int64_t jj = 0; jj < Skv; ++jj)
      if (keep[jj])
        z += s[jj];
    for (int64_t jj = 0; jj < Skv; ++jj)
      w[jj] = s[jj] / z;
    return;
  }
  case ast::NormKind::Custom: {
    auto &block = var.norm->custom;
    int wIndex = -1;
    for (int a = 0; a < (int)block.size(); ++a)
      if (block[a].name == "w")
        wIndex = a;
    if (wIndex < 0) {
      error = std::to_string(var.norm->loc.begin.line) + ":" +
              std::to_string(var.norm->loc.begin.col) +
              ": custom norm does not define 'w'";
      return;
    }
    inCustom = true;
    rowScores = &s;
    rowKeep = &keep;
    locals.assign(block.size(), std::vector<Value>(Skv, Value::ofFloat(kNaN)));
    reductions.clear();
    for (curAssign = 0; curAssign <= wIndex && error.empty(); ++curAssign) {
      if (!block[curAssign].value) {
        error = "malformed custom norm";
        break;
      }
      for (j = 0; j < Skv && error.empty(); ++j)
        if (keep[j])
          locals[curAssign][j] = eval(*block[curAssign].value);
    }
    for (int64_t jj = 0; jj < Skv; ++jj)
      w[jj] = locals[wIndex][jj].asDouble();
    inCustom = false;
    rowScores = nullptr;
    rowKeep = nullptr;
    return;
  }
  }
}

void Evaluator::run(Result &result) {
  int64_t B = sz.B(), H = sz.H(), Sq = sz.Sq(), Skv = sz.Skv(), D = sz.D();
  int64_t group = H / sz.Hkv();
  ast::NormKind kind = var.norm ? var.norm->kind : ast::NormKind::Softmax;
  result.o.shape = {B, H, Sq, D};
  result.o.data.assign(B * H * Sq * D, 0.0);
  result.lse.reset();
  if (kind == ast::NormKind::Softmax) {
    result.lse = Array();
    result.lse->shape = {B, H, Sq};
    result.lse->data.assign(B * H * Sq, -kInf);
  }
  std::vector<double> w(Skv);
  std::vector<char> keep(Skv);
  for (b = 0; b < B; ++b)
    for (h = 0; h < H; ++h) {
      hk = h / group;
      for (r = 0; r < Sq; ++r) {
        i = qOffset + r;
        double lse;
        evalRow(w, keep, lse);
        if (!error.empty())
          return;
        double *o = &result.o.data[((b * H + h) * Sq + r) * D];
        for (int64_t jj = 0; jj < Skv; ++jj) {
          if (!keep[jj])
            continue;
          const double *v = &p.v.data[((b * sz.Hkv() + hk) * Skv + jj) * D];
          for (int64_t d = 0; d < D; ++d)
            o[d] += w[jj] * v[d];
        }
        if (result.lse)
          result.lse->data[(b * H + h) * Sq + r] = lse;
      }
    }
}

} // namespace

std::optional<std::string> attn::ref::checkProblem(const ast::Variant &variant,
                                                   const Problem &problem) {
  Sizes sz;
  if (auto e = checkQKV(problem, sz))
    return e;
  Evaluator ev(variant, problem, sz);
  ev.setUp();
  if (!ev.error.empty())
    return ev.error;
  return std::nullopt;
}

std::optional<std::string> attn::ref::evaluateDirect(const ast::Variant &variant,
                                                     const Problem &problem,
                                                     Result &result) {
  Sizes sz;
  if (auto e = checkQKV(problem, sz))
    return e;
  Evaluator ev(variant, problem, sz);
  ev.setUp();
  if (ev.error.empty())
    ev.run(result);
  if (!ev.error.empty())
    return ev.error;
  return std::nullopt;
}
