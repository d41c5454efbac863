//===- Sema.cpp - Name resolution, types and semantic checks -------------===//
//
// Resolves every name of a parsed module (Expr::ref / refIndex), computes
// every expression's type, folds param defaults to literals of the declared
// type and reports everything LANGUAGE.md forbids, with source locations.
// frontend/README.md lists the decisions taken where LANGUAGE.md is silent.
//
//===----------------------------------------------------------------------===//
#include "frontend/Frontend.h"

#include <algorithm>
#include <climits>
#include <functional>
#include <map>
#include <string>
#include <vector>

using namespace attn;
using namespace attn::ast;

namespace {

/// Where an expression is being checked.
enum class Context { Score, Bias, Mask, Scale, Sink, Let, Norm };

/// What a statement would stop being if it read a score-only construct.
const char *contextNoun(Context c) {
  switch (c) {
  case Context::Bias:
    return "bias";
  case Context::Mask:
    return "mask";
  case Context::Scale:
    return "scale";
  case Context::Sink:
    return "sink";
  case Context::Norm:
    return "norm";
  default:
    return "statement";
  }
}

const char *contextArticle(Context c) {
  return c == Context::Scale || c == Context::Sink ? "the" : "a";
}

/// Names with a fixed meaning that declarations may not reuse.
const char *const kReservedNames[] = {"b",   "h",  "i",   "j",     "B",    "H",
                                      "Hkv", "Sq", "Skv", "D",     "scale", "qk",
                                      "q",   "k",  "v",   "o",     "s",    "score",
                                      "bias", "mask"};

bool isReserved(const std::string &n) {
  for (const char *r : kReservedNames)
    if (n == r)
      return true;
  return false;
}

enum class BuiltinKind { Math, Keep, Select };
struct BuiltinInfo {
  const char *name;
  unsigned arity;
  BuiltinKind kind;
};
const BuiltinInfo kBuiltins[] = {
    {"exp", 1, BuiltinKind::Math},     {"exp2", 1, BuiltinKind::Math},
    {"log", 1, BuiltinKind::Math},     {"log2", 1, BuiltinKind::Math},
    {"sqrt", 1, BuiltinKind::Math},    {"rsqrt", 1, BuiltinKind::Math},
    {"tanh", 1, BuiltinKind::Math},    {"sigmoid", 1, BuiltinKind::Math},
    {"softplus", 1, BuiltinKind::Math}, {"abs", 1, BuiltinKind::Keep},
    {"relu", 1, BuiltinKind::Keep},    {"floor", 1, BuiltinKind::Keep},
    {"ceil", 1, BuiltinKind::Keep},    {"min", 2, BuiltinKind::Keep},
    {"max", 2, BuiltinKind::Keep},     {"clamp", 3, BuiltinKind::Keep},
    {"select", 3, BuiltinKind::Select}};

const BuiltinInfo *findBuiltin(const std::string &n) {
  for (const BuiltinInfo &b : kBuiltins)
    if (n == b.name)
      return &b;
  return nullptr;
}

bool isRowReduce(const std::string &n) {
  return n == "max_j" || n == "min_j" || n == "sum_j";
}

/// Edit distance counting an adjacent transposition as one edit.
unsigned editDistance(const std::string &a, const std::string &b) {
  size_t n = a.size(), m = b.size();
  std::vector<std::vector<unsigned>> d(n + 1, std::vector<unsigned>(m + 1));
  for (size_t i = 0; i <= n; ++i)
    d[i][0] = static_cast<unsigned>(i);
  for (size_t j = 0; j <= m; ++j)
    d[0][j] = static_cast<unsigned>(j);
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0u : 1u)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

/// The closest candidate to `name`, or "" when none is close enough.
std::string closest(const std::string &name,
                    const std::vector<std::string> &candidates) {
  if (name.size() > 64)
    return "";
  std::string best;
  unsigned bestDist = UINT_MAX;
  unsigned limit = std::max<unsigned>(1, static_cast<unsigned>(name.size()) / 3);
  for (const std::string &c : candidates) {
    if (c == name || c.size() > 64)
      continue;
    unsigned d = editDistance(name, c);
    if (d <= limit && d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best;
}

std::string didYouMean(const std::string &s) {
  return s.empty() ? "" : "; did you mean '" + s + "'?";
}

bool isNumber(Type t) { return t == Type::Int || t == Type::Float; }

Type promote(Type a, Type b) {
  if (a == Type::Unknown || b == Type::Unknown)
    return Type::Unknown;
  return a == Type::Int && b == Type::Int ? Type::Int : Type::Float;
}

bool isLiteralZero(const Expr &e) {
  return (e.kind == ExprKind::IntLit && e.ival == 0) ||
         (e.kind == ExprKind::FloatLit && e.fval == 0.0);
}

/// What a let reads, directly or through other lets, that some statements
/// may not read.
struct LetInfo {
  enum State { NotStarted, InProgress, Done } state = NotStarted;
  Type type = Type::Unknown;
  const Expr *scoreOnly = nullptr; ///< first qk / dot / q[d] / k[d] / sum[d]
  std::string scoreOnlyWhat;
  const Expr *usesJ = nullptr;
  const Expr *usesScale = nullptr;
  const Expr *usesDot = nullptr; ///< first qk / dot(q, k)
  std::string usesDotWhat;
};

/// Declared names of a variant (params, tensors, lets).
struct Symbol {
  RefKind kind;
  int index;
};

constexpr size_t kMaxLetChain = 256;
constexpr unsigned kMaxCheckDepth = 4096;

class VariantChecker {
public:
  VariantChecker(Variant &v, DiagnosticEngine &diags) : v(v), diags(diags) {}

  void run() {
    checkDecls();
    lets.assign(v.lets.size(), LetInfo());
    for (size_t i = 0; i < v.lets.size(); ++i)
      if (lets[i].state == LetInfo::NotStarted && symbols.count(v.lets[i].name) &&
          symbols[v.lets[i].name].kind == RefKind::Let &&
          symbols[v.lets[i].name].index == static_cast<int>(i))
        checkLet(i);

    // Statements in source order, so that diagnostics come out in order.
    std::vector<std::pair<SourceLoc, std::function<void()>>> stmts;
    auto add = [&](SourceRange r, std::function<void()> f) {
      stmts.push_back({r.begin, std::move(f)});
    };
    if (v.score)
      add(v.score->loc, [&] { checkStmt(*v.score, Context::Score, "score"); });
    if (v.bias)
      add(v.bias->loc, [&] { checkStmt(*v.bias, Context::Bias, "bias"); });
    if (v.mask)
      add(v.mask->loc, [&] { checkStmt(*v.mask, Context::Mask, "mask"); });
    if (v.scale)
      add(v.scale->loc, [&] { checkStmt(*v.scale, Context::Scale, "scale"); });
    if (v.norm)
      add(v.norm->loc, [&] { checkNorm(*v.norm); });
    std::sort(stmts.begin(), stmts.end(), [](auto &a, auto &b) {
      return a.first.line != b.first.line ? a.first.line < b.first.line
                                          : a.first.col < b.first.col;
    });
    for (auto &s : stmts)
      s.second();
  }

private:
  Variant &v;
  DiagnosticEngine &diags;
  std::map<std::string, Symbol> symbols;
  std::map<std::string, SourceRange> symbolLocs;
  std::vector<LetInfo> lets;
  std::vector<size_t> letStack;

  // The current context.
  Context ctx = Context::Score;
  std::string sumVar;        ///< variable of the enclosing sum[d], if any
  bool inRowReduce = false;  ///< inside max_j / min_j / sum_j
  size_t normVisible = 0;    ///< custom-norm assignments visible so far
  unsigned checkDepth = 0;   ///< current recursion depth of check()
  bool checkDepthReported = false;

  void error(const SourceRange &r, std::string m) { diags.error(r, std::move(m)); }
  void note(const SourceRange &r, std::string m) { diags.note(r, std::move(m)); }

  //===--------------------------------------------------------------------===//
  // Declarations
  //===--------------------------------------------------------------------===//

  bool declare(const std::string &name, SourceRange loc, RefKind kind, int index,
               const char *what) {
    if (isReserved(name)) {
      error(loc, std::string("cannot name a ") + what + " '" + name +
                     "': the name is built in");
      return false;
    }
    auto it = symbols.find(name);
    if (it != symbols.end()) {
      error(loc, "redefinition of '" + name + "'");
      note(symbolLocs[name], "previous definition of '" + name + "' is here");
      return false;
    }
    symbols[name] = {kind, index};
    symbolLocs[name] = loc;
    return true;
  }

  void checkDecls() {
    // Declarations in source order, so that diagnostics come out in order.
    struct Decl {
      SourceLoc loc;
      RefKind kind;
      size_t index;
    };
    std::vector<Decl> decls;
    for (size_t i = 0; i < v.params.size(); ++i)
      decls.push_back({v.params[i].loc.begin, RefKind::Param, i});
    for (size_t i = 0; i < v.tensors.size(); ++i)
      decls.push_back({v.tensors[i].loc.begin, RefKind::Tensor, i});
    for (size_t i = 0; i < v.lets.size(); ++i)
      decls.push_back({v.lets[i].loc.begin, RefKind::Let, i});
    std::sort(decls.begin(), decls.end(), [](const Decl &a, const Decl &b) {
      if (a.loc.line != b.loc.line)
        return a.loc.line < b.loc.line;
      if (a.loc.col != b.loc.col)
        return a.loc.col < b.loc.col;
      return a.kind != b.kind ? a.kind < b.kind : a.index < b.index;
    });
    for (const Decl &d : decls) {
      int idx = static_cast<int>(d.index);
      if (d.kind == RefKind::Param) {
        ParamDecl &p = v.params[d.index];
        declare(p.name, p.loc, RefKind::Param, idx, "param");
        checkDefault(p);
      } else if (d.kind == RefKind::Tensor) {
        TensorDecl &t = v.tensors[d.index];
        declare(t.name, t.loc, RefKind::Tensor, idx, "tensor");
        // The targets and the runtime hold tensor elements as i32 or f32.
        if (t.elemType == DeclType::Bool)
          error(t.loc, "tensor '" + t.name +
                           "' has element type bool, which is not supported; declare it i32 "
                           "(0/1) and compare with != 0");
        checkDims(t);
      } else {
        declare(v.lets[d.index].name, v.lets[d.index].loc, RefKind::Let, idx, "let");
      }
    }
  }

  void checkDims(TensorDecl &t) {
    for (TensorDim &d : t.dims) {
      if (!d.sizeName.empty()) {
        bool ok = false;
        for (const char *s : kSizeNames)
          ok |= d.sizeName == s;
        if (!ok) {
          std::vector<std::string> sizes(std::begin(kSizeNames), std::end(kSizeNames));
          error(d.loc, "unknown size '" + d.sizeName + "' in tensor '" + t.name +
                           "'; a dimension is one of B, H, Hkv, Sq, Skv, D or "
                           "a positive integer" +
                           didYouMean(closest(d.sizeName, sizes)));
        }
      } else if (d.extent <= 0) {
        error(d.loc, "dimension of tensor '" + t.name + "' must be positive");
      }
    }
  }

  void checkDefault(ParamDecl &p) {
    if (!p.defaultValue)
      return;
    Expr &e = *p.defaultValue;
    const char *ty = declTypeName(p.type);
    std::string who = std::string(ty) + " param '" + p.name + "'";
    switch (e.kind) {
    case ExprKind::IntLit:
      if (p.type == DeclType::I32) {
        if (e.ival < INT32_MIN || e.ival > INT32_MAX)
          error(e.loc, "default value " + std::to_string(e.ival) + " of " + who +
                           " does not fit in 32 bits");
      } else if (p.type == DeclType::F32) {
        e.kind = ExprKind::FloatLit;
        e.fval = static_cast<double>(e.ival);
        e.ival = 0;
      } else {
        error(e.loc, "default value of " + who + " must be true or false");
      }
      break;
    case ExprKind::FloatLit:
      if (p.type == DeclType::I32)
        error(e.loc, "default value " + formatFloat(e.fval) + " of " + who +
                         " is not an integer");
      else if (p.type == DeclType::Bool)
        error(e.loc, "default value of " + who + " must be true or false");
      break;
    case ExprKind::BoolLit:
      if (p.type != DeclType::Bool)
        error(e.loc, "default value of " + who + " must be a number, got " +
                         (e.ival ? "true" : "false"));
      break;
    default:
      error(e.loc, "default value of param '" + p.name +
                       "' must be a literal (a number, true or false)");
      return;
    }
    e.type = declTypeToType(p.type);
  }

  //===--------------------------------------------------------------------===//
  // Lets
  //===--------------------------------------------------------------------===//

  void checkLet(size_t idx) {
    if (letStack.size() >= kMaxLetChain) {
      if (!checkDepthReported)
        error(v.lets[idx].loc, "lets refer to each other too deeply (more than " +
                                   std::to_string(kMaxLetChain) + " levels)");
      checkDepthReported = true;
      lets[idx].state = LetInfo::Done;
      return;
    }
    Context savedCtx = ctx;
    std::string savedSum = sumVar;
    bool savedReduce = inRowReduce;
    ctx = Context::Let;
    sumVar.clear();
    inRowReduce = false;
    lets[idx].state = LetInfo::InProgress;
    letStack.push_back(idx);
    Type t = v.lets[idx].value ? check(*v.lets[idx].value) : Type::Unknown;
    letStack.pop_back();
    if (lets[idx].state == LetInfo::InProgress)
      lets[idx].type = t;
    lets[idx].state = LetInfo::Done;
    ctx = savedCtx;
    sumVar = savedSum;
    inRowReduce = savedReduce;
  }

  Type useLet(Expr &e, int idx) {
    e.ref = RefKind::Let;
    e.refIndex = idx;
    LetInfo &info = lets[idx];
    if (info.state == LetInfo::InProgress) {
      std::string chain;
      auto start = std::find(letStack.begin(), letStack.end(), size_t(idx));
      for (auto it = start; it != letStack.end(); ++it) {
        chain += v.lets[*it].name + " -> ";
        lets[*it].type = Type::Unknown;
      }
      chain += v.lets[idx].name;
      error(e.loc, "let '" + v.lets[idx].name + "' depends on itself: " + chain);
      // Every let of the cycle is now Unknown; Done stops further reports.
      for (auto it = start; it != letStack.end(); ++it)
        lets[*it].state = LetInfo::Done;
      return Type::Unknown;
    }
    if (info.state == LetInfo::NotStarted)
      checkLet(idx);
    LetInfo &li = lets[idx];
    const std::string &name = v.lets[idx].name;
    if (li.usesDot && !sumVar.empty()) {
      error(e.loc, "let '" + name + "' uses " + li.usesDotWhat + ", which cannot be used inside sum[" +
                       sumVar + "](...): it is already a sum over the head dimension");
      note(li.usesDot->loc, li.usesDotWhat + " is used here");
    }
    if (ctx == Context::Let && !letStack.empty()) {
      LetInfo &user = lets[letStack.back()];
      if (li.usesDot && !user.usesDot) {
        user.usesDot = li.usesDot;
        user.usesDotWhat = li.usesDotWhat;
      }
      if (li.scoreOnly && !user.scoreOnly) {
        user.scoreOnly = li.scoreOnly;
        user.scoreOnlyWhat = li.scoreOnlyWhat;
      }
      if (li.usesJ && !user.usesJ)
        user.usesJ = li.usesJ;
      if (li.usesScale && !user.usesScale)
        user.usesScale = li.usesScale;
    } else {
      if (li.scoreOnly && ctx != Context::Score) {
        error(e.loc, "let '" + name + "' uses " + li.scoreOnlyWhat +
                         ", which is only allowed in 'score': " +
                         contextArticle(ctx) + " " + contextNoun(ctx) +
                         " that reads it would no longer be " +
                         contextArticle(ctx) + " " + contextNoun(ctx));
        note(li.scoreOnly->loc, li.scoreOnlyWhat + " is used here");
      }
      if (li.usesJ && ctx == Context::Sink) {
        error(e.loc, "let '" + name + "' depends on 'j', but the sink is one "
                                     "value per query row and cannot");
        note(li.usesJ->loc, "'j' is used here");
      }
      if (li.usesScale && ctx == Context::Scale) {
        error(e.loc, "let '" + name + "' uses 'scale', which the 'scale' "
                                     "statement cannot refer to");
        note(li.usesScale->loc, "'scale' is used here");
      }
    }
    return li.type;
  }

  /// qk and dot(q, k) are sums over the head dimension already: not inside
  /// sum[d](...) (directly, or through a let: recorded in the let).
  void notInSum(const Expr &e, const std::string &what) {
    if (!sumVar.empty()) {
      error(e.loc, what + " cannot be used inside sum[" + sumVar +
                       "](...): it is already a sum over the head dimension");
      return;
    }
    if (ctx == Context::Let && !letStack.empty() && !lets[letStack.back()].usesDot) {
      lets[letStack.back()].usesDot = &e;
      lets[letStack.back()].usesDotWhat = what;
    }
  }

  /// A construct that only `score` may read: fine in score, recorded in a
  /// let, an error elsewhere.
  void scoreOnly(const Expr &e, const std::string &what) {
    if (ctx == Context::Score)
      return;
    if (ctx == Context::Let) {
      LetInfo &user = lets[letStack.back()];
      if (!user.scoreOnly) {
        user.scoreOnly = &e;
        user.scoreOnlyWhat = what;
      }
      return;
    }
    error(e.loc, what + " is only allowed in 'score': " + contextArticle(ctx) +
                     " " + contextNoun(ctx) + " that reads it would no longer be " +
                     contextArticle(ctx) + " " + contextNoun(ctx));
  }

  //===--------------------------------------------------------------------===//
  // Statements
  //===--------------------------------------------------------------------===//

  void checkStmt(SingleStmt &s, Context c, const char *what) {
    if (!s.value)
      return;
    ctx = c;
    sumVar.clear();
    inRowReduce = false;
    Type t = check(*s.value);
    if (c == Context::Mask) {
      if (t != Type::Bool && t != Type::Unknown)
        error(s.value->loc, std::string("mask must be a boolean expression, got ") +
                                typeName(t));
    } else if (t == Type::Bool) {
      error(s.value->loc, std::string("'") + what + "' must be a number, got bool");
    }
  }

  void checkNorm(NormSpec &n) {
    if (n.sink) {
      ctx = Context::Sink;
      sumVar.clear();
      inRowReduce = false;
      Type t = check(*n.sink);
      if (t == Type::Bool)
        error(n.sink->loc, "the sink must be a number, got bool");
    }
    if (n.kind != NormKind::Custom)
      return;
    ctx = Context::Norm;
    std::map<std::string, size_t> assigned;
    bool sawW = false;
    for (size_t idx = 0; idx < n.custom.size(); ++idx) {
      NormAssign &a = n.custom[idx];
      normVisible = idx;
      sumVar.clear();
      inRowReduce = false;
      Type t = a.value ? check(*a.value) : Type::Unknown;
      if (a.name == "w") {
        sawW = true;
        if (idx + 1 != n.custom.size())
          error(a.loc, "'w' must be the last assignment of the custom norm");
        if (t == Type::Bool)
          error(a.value->loc, "the weight 'w' must be a number, got bool");
      }
      if (isReserved(a.name)) {
        error(a.loc, "cannot assign to '" + a.name + "' in a custom norm: the "
                                                   "name is built in");
      } else if (symbols.count(a.name)) {
        const char *kind = symbols[a.name].kind == RefKind::Param    ? "param"
                           : symbols[a.name].kind == RefKind::Tensor ? "tensor"
                                                                     : "let";
        error(a.loc, "cannot assign to '" + a.name + "' in a custom norm: it is a " +
                         kind + " of the variant");
        note(symbolLocs[a.name], "'" + a.name + "' is declared here");
      } else if (assigned.count(a.name)) {
        error(a.loc, "'" + a.name + "' is already assigned in this custom norm; "
                                   "each name is assigned once");
        note(n.custom[assigned[a.name]].loc, "previous assignment is here");
      } else {
        assigned[a.name] = idx;
      }
    }
    normVisible = n.custom.size();
    if (!sawW)
      error(n.loc, "the custom norm on line " + std::to_string(n.loc.begin.line) +
                       " must end by assigning 'w', the weight of each key");
  }

  //===--------------------------------------------------------------------===//
  // Expressions
  //===--------------------------------------------------------------------===//

  std::vector<std::string> visibleNames() {
    std::vector<std::string> out(std::begin(kIndexNames), std::end(kIndexNames));
    out.insert(out.end(), std::begin(kSizeNames), std::end(kSizeNames));
    out.push_back("scale");
    if (ctx == Context::Score || ctx == Context::Let)
      out.push_back("qk");
    for (auto &s : symbols)
      out.push_back(s.first);
    if (!sumVar.empty())
      out.push_back(sumVar);
    if (ctx == Context::Norm) {
      out.push_back("s");
      for (size_t i = 0; i < normVisible && i < v.norm->custom.size(); ++i)
        out.push_back(v.norm->custom[i].name);
    }
    return out;
  }

  Type check(Expr &e) {
    // Expressions are at most kMaxExprDepth deep, but lets nest them: bound
    // the total recursion so that no input can exhaust the stack.
    if (checkDepth >= kMaxCheckDepth) {
      if (!checkDepthReported)
        error(e.loc, "expression is too complex (lets nested through more "
                     "than " + std::to_string(kMaxCheckDepth) + " levels)");
      checkDepthReported = true;
      return e.type = Type::Unknown;
    }
    ++checkDepth;
    e.type = checkImpl(e);
    --checkDepth;
    return e.type;
  }

  /// Reports a non-number operand (bools) and returns whether it is usable.
  bool requireNumber(const Expr &arg, const std::string &what) {
    if (arg.type == Type::Bool) {
      error(arg.loc, what + " needs a number, got bool");
      return false;
    }
    return arg.type != Type::Unknown;
  }

  bool requireBool(const Expr &arg, const std::string &what) {
    if (arg.type == Type::Int || arg.type == Type::Float) {
      error(arg.loc, what + " needs a bool, got " + typeName(arg.type) +
                         " (compare it, e.g. 'x != 0')");
      return false;
    }
    return arg.type == Type::Bool;
  }

  Type checkImpl(Expr &e) {
    switch (e.kind) {
    case ExprKind::IntLit:
      return Type::Int;
    case ExprKind::FloatLit:
      return Type::Float;
    case ExprKind::BoolLit:
      return Type::Bool;
    case ExprKind::Name:
      return checkName(e);
    case ExprKind::Index:
      return checkIndex(e);
    case ExprKind::Unary: {
      Type t = check(*e.args[0]);
      if (e.op == OpKind::Neg)
        return requireNumber(*e.args[0], "unary '-'") ? t : Type::Unknown;
      return requireBool(*e.args[0], "'!'") ? Type::Bool : Type::Unknown;
    }
    case ExprKind::Binary:
      return checkBinary(e);
    case ExprKind::Ternary: {
      check(*e.args[0]);
      check(*e.args[1]);
      check(*e.args[2]);
      bool condOk = requireBool(*e.args[0], "the condition of '?:'");
      return branches(e, *e.args[1], *e.args[2], "'?:'", condOk);
    }
    case ExprKind::Call:
      return checkCall(e);
    case ExprKind::SumD:
      return checkSumD(e);
    }
    return Type::Unknown;
  }

  Type branches(const Expr &e, const Expr &a, const Expr &b, const char *what,
                bool condOk) {
    if (a.type == Type::Unknown || b.type == Type::Unknown)
      return Type::Unknown;
    Type t;
    if (isNumber(a.type) && isNumber(b.type))
      t = promote(a.type, b.type);
    else if (a.type == b.type)
      t = a.type;
    else {
      error(e.loc, std::string("the branches of ") + what +
                       " have incompatible types " + typeName(a.type) + " and " +
                       typeName(b.type));
      return Type::Unknown;
    }
    return condOk ? t : Type::Unknown;
  }

  Type checkName(Expr &e) {
    const std::string &n = e.name;
    if (!sumVar.empty() && n == sumVar) {
      // The head index exists only as q's and k's (checkIndex): the cascade
      // sums over it without an index value to read.
      error(e.loc, "'" + n + "' can only index q and k inside sum[" + n + "](...), as in q[" + n +
                       "] * k[" + n + "]");
      return Type::Unknown;
    }
    for (int i = 0; i < 4; ++i)
      if (n == kIndexNames[i]) {
        e.ref = RefKind::IndexVar;
        e.refIndex = i;
        if (i == 3) {
          if (ctx == Context::Sink)
            error(e.loc, "the sink is one value per query row and cannot depend "
                         "on 'j'");
          else if (ctx == Context::Let && !lets[letStack.back()].usesJ)
            lets[letStack.back()].usesJ = &e;
        }
        return Type::Int;
      }
    for (int i = 0; i < 6; ++i)
      if (n == kSizeNames[i]) {
        e.ref = RefKind::Size;
        e.refIndex = i;
        return Type::Int;
      }
    if (n == "scale") {
      e.ref = RefKind::Scale;
      if (ctx == Context::Scale)
        error(e.loc, "the 'scale' statement cannot refer to 'scale'");
      else if (ctx == Context::Let && !lets[letStack.back()].usesScale)
        lets[letStack.back()].usesScale = &e;
      return Type::Float;
    }
    if (n == "qk") {
      e.ref = RefKind::QK;
      scoreOnly(e, "'qk'");
      notInSum(e, "'qk'");
      return Type::Float;
    }
    if (n == "q" || n == "k") {
      error(e.loc, "'" + n + "' cannot be read directly: use " + n +
                       "[d] inside sum[d](...) or dot(q, k) in 'score'");
      return Type::Unknown;
    }
    if (ctx == Context::Norm) {
      if (n == "s") {
        e.ref = RefKind::NormScore;
        return Type::Float;
      }
      const auto &custom = v.norm->custom;
      for (size_t i = normVisible; i-- > 0;)
        if (custom[i].name == n) {
          e.ref = RefKind::NormLocal;
          e.refIndex = static_cast<int>(i);
          return custom[i].value ? custom[i].value->type : Type::Unknown;
        }
      for (size_t i = normVisible; i < custom.size(); ++i)
        if (custom[i].name == n && !symbols.count(n)) {
          error(e.loc, "'" + n + "' is used before it is assigned");
          note(custom[i].loc, "'" + n + "' is assigned here");
          return Type::Unknown;
        }
    } else if (n == "s") {
      error(e.loc, "'s' (the score) is only defined inside a custom norm");
      return Type::Unknown;
    }
    auto it = symbols.find(n);
    if (it != symbols.end()) {
      switch (it->second.kind) {
      case RefKind::Param:
        e.ref = RefKind::Param;
        e.refIndex = it->second.index;
        return declTypeToType(v.params[it->second.index].type);
      case RefKind::Let:
        return useLet(e, it->second.index);
      case RefKind::Tensor:
        e.ref = RefKind::Tensor;
        e.refIndex = it->second.index;
        error(e.loc, "tensor '" + n + "' must be indexed, e.g. " + n + "[" +
                         indexHint(v.tensors[it->second.index]) + "]");
        return Type::Unknown;
      default:
        break;
      }
    }
    error(e.loc, "unknown name '" + n + "'" + didYouMean(closest(n, visibleNames())));
    return Type::Unknown;
  }

  static std::string indexHint(const TensorDecl &t) {
    std::string s;
    for (size_t i = 0; i < t.dims.size(); ++i) {
      if (i)
        s += ", ";
      const std::string &d = t.dims[i].sizeName;
      s += d == "B" ? "b" : d == "H" || d == "Hkv" ? "h" : d == "Sq" ? "i"
           : d == "Skv" ? "j" : "...";
    }
    return s;
  }

  Type checkIndex(Expr &e) {
    const std::string &n = e.name;
    if (n == "q" || n == "k") {
      e.ref = n == "q" ? RefKind::QElem : RefKind::KElem;
      std::string what = "'" + n + "[" + (sumVar.empty() ? "d" : sumVar) + "]'";
      scoreOnly(e, what);
      if (ctx != Context::Score && ctx != Context::Let)
        return Type::Unknown;
      if (sumVar.empty()) {
        error(e.loc, "'" + n + "[...]' can only be used inside sum[d](...)");
        return Type::Unknown;
      }
      if (e.args.size() != 1 || e.args[0]->kind != ExprKind::Name ||
          e.args[0]->name != sumVar) {
        error(e.loc, "'" + n + "' must be indexed by the variable of the "
                                "enclosing sum, as in " + n + "[" + sumVar + "]");
        for (auto &a : e.args)
          check(*a);
        return Type::Unknown;
      }
      e.args[0]->ref = RefKind::HeadIndex;
      e.args[0]->refIndex = 0;
      e.args[0]->type = Type::Int;
      return Type::Float;
    }
    for (auto &a : e.args)
      check(*a);
    auto it = symbols.find(n);
    if (it == symbols.end() || it->second.kind != RefKind::Tensor) {
      if (it != symbols.end() || isReserved(n) || (ctx == Context::Norm && n == "s"))
        error(e.loc, "'" + n + "' is not a tensor and cannot be indexed");
      else {
        std::vector<std::string> tensors;
        for (auto &t : v.tensors)
          tensors.push_back(t.name);
        error(e.loc, "unknown tensor '" + n + "'" + didYouMean(closest(n, tensors)));
      }
      return Type::Unknown;
    }
    const TensorDecl &t = v.tensors[it->second.index];
    e.ref = RefKind::Tensor;
    e.refIndex = it->second.index;
    if (e.args.size() != t.dims.size()) {
      error(e.loc, "tensor '" + n + "' has " + std::to_string(t.dims.size()) +
                       (t.dims.size() == 1 ? " dimension" : " dimensions") +
                       " but is indexed with " + std::to_string(e.args.size()) +
                       (e.args.size() == 1 ? " index" : " indices"));
      return Type::Unknown;
    }
    for (size_t i = 0; i < e.args.size(); ++i) {
      const Expr &a = *e.args[i];
      if (a.type == Type::Float || a.type == Type::Bool)
        error(a.loc, "index " + std::to_string(i + 1) + " of tensor '" + n +
                         "' must be an integer, got " + typeName(a.type));
      const TensorDim &d = t.dims[i];
      if (a.kind == ExprKind::Name && a.ref == RefKind::IndexVar &&
          !d.sizeName.empty()) {
        // The natural extent of each index: b < B, h < H, i and j < Skv
        // (i is the absolute query position).
        static const char *const kNatural[4] = {"B", "H", "Skv", "Skv"};
        const char *nat = kNatural[a.refIndex];
        if (d.sizeName != nat)
          diags.warning(a.loc, "'" + a.name + "' runs over 0.." + nat +
                                   "-1 but dimension " + std::to_string(i + 1) +
                                   " of tensor '" + n + "' has size " + d.sizeName +
                                   "; an out-of-range read is a runtime error");
      }
      if (a.kind != ExprKind::IntLit)
        continue;
      if (a.ival < 0)
        error(a.loc, "index " + std::to_string(a.ival) + " is out of range for "
                     "dimension " + std::to_string(i + 1) + " of tensor '" + n +
                         "' (indices start at 0)");
      else if (d.sizeName.empty() && a.ival >= d.extent)
        error(a.loc, "index " + std::to_string(a.ival) + " is out of range for "
                     "dimension " + std::to_string(i + 1) + " of tensor '" + n +
                         "' (size " + std::to_string(d.extent) + ")");
    }
    return declTypeToType(t.elemType);
  }

  Type checkBinary(Expr &e) {
    Expr &a = *e.args[0];
    Expr &b = *e.args[1];
    check(a);
    check(b);
    std::string op = std::string("'") + opSpelling(e.op) + "'";
    switch (e.op) {
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Mod: {
      bool ok = requireNumber(a, op);
      ok &= requireNumber(b, op);
      if ((e.op == OpKind::Div || e.op == OpKind::Mod) && isLiteralZero(b))
        error(b.loc, e.op == OpKind::Div ? "division by zero"
                                         : "remainder by zero");
      return ok ? promote(a.type, b.type) : Type::Unknown;
    }
    case OpKind::Lt:
    case OpKind::Le:
    case OpKind::Gt:
    case OpKind::Ge: {
      bool ok = requireNumber(a, op);
      ok &= requireNumber(b, op);
      return ok ? Type::Bool : Type::Unknown;
    }
    case OpKind::Eq:
    case OpKind::Ne:
      if (a.type == Type::Unknown || b.type == Type::Unknown)
        return Type::Unknown;
      if ((a.type == Type::Bool) != (b.type == Type::Bool)) {
        error(e.loc, "cannot compare " + std::string(typeName(a.type)) + " with " +
                         typeName(b.type) + " using " + op);
        return Type::Unknown;
      }
      return Type::Bool;
    case OpKind::And:
    case OpKind::Or: {
      bool ok = requireBool(a, op);
      ok &= requireBool(b, op);
      return ok ? Type::Bool : Type::Unknown;
    }
    default:
      return Type::Unknown;
    }
  }

  Type checkCall(Expr &e) {
    const std::string &n = e.name;
    if (n == "dot") {
      e.ref = RefKind::Dot;
      scoreOnly(e, "'dot(q, k)'");
      notInSum(e, "'dot(q, k)'");
      if (ctx != Context::Score && ctx != Context::Let)
        return Type::Unknown;
      if (e.args.size() != 2 || e.args[0]->kind != ExprKind::Name ||
          e.args[0]->name != "q" || e.args[1]->kind != ExprKind::Name ||
          e.args[1]->name != "k") {
        error(e.loc, "'dot' only computes dot(q, k)");
        return Type::Unknown;
      }
      e.args[0]->type = Type::Float;
      e.args[1]->type = Type::Float;
      return Type::Float;
    }
    if (isRowReduce(n)) {
      e.ref = RefKind::RowReduce;
      if (ctx != Context::Norm) {
        error(e.loc, "'" + n + "' is only allowed inside a custom norm "
                               "(norm = custom { ... })");
        for (auto &a : e.args)
          check(*a);
        return Type::Unknown;
      }
      if (inRowReduce) {
        error(e.loc, "row reductions cannot be nested; assign the inner one to "
                     "a name first");
        return Type::Unknown;
      }
      if (e.args.size() != 1) {
        error(e.loc, "'" + n + "' takes 1 argument, got " +
                         std::to_string(e.args.size()));
        return Type::Unknown;
      }
      inRowReduce = true;
      check(*e.args[0]);
      inRowReduce = false;
      return requireNumber(*e.args[0], "'" + n + "'") ? Type::Float : Type::Unknown;
    }
    const BuiltinInfo *b = findBuiltin(n);
    for (auto &a : e.args)
      check(*a);
    if (!b) {
      std::vector<std::string> fns;
      for (const BuiltinInfo &bi : kBuiltins)
        fns.push_back(bi.name);
      fns.push_back("dot");
      if (ctx == Context::Norm) {
        fns.push_back("max_j");
        fns.push_back("min_j");
        fns.push_back("sum_j");
      }
      std::string msg = "unknown function '" + n + "'";
      std::string near = closest(n, fns);
      if (!near.empty())
        msg += didYouMean(near);
      else if (symbols.count(n))
        msg += " ('" + n + "' is not a function)";
      else if (ctx == Context::Norm && n.size() > 2 &&
               n.compare(n.size() - 2, 2, "_j") == 0)
        msg += " (a custom norm reduces with max_j, min_j or sum_j)";
      error(e.loc, msg);
      return Type::Unknown;
    }
    e.ref = RefKind::Builtin;
    if (e.args.size() != b->arity) {
      error(e.loc, "'" + n + "' takes " + std::to_string(b->arity) +
                       (b->arity == 1 ? " argument" : " arguments") + ", got " +
                       std::to_string(e.args.size()));
      return Type::Unknown;
    }
    std::string what = "'" + n + "'";
    switch (b->kind) {
    case BuiltinKind::Math:
      return requireNumber(*e.args[0], what) ? Type::Float : Type::Unknown;
    case BuiltinKind::Keep: {
      bool ok = true;
      Type t = Type::Int;
      for (auto &a : e.args) {
        ok &= requireNumber(*a, what);
        if (ok)
          t = promote(t, a->type);
      }
      return ok ? t : Type::Unknown;
    }
    case BuiltinKind::Select: {
      bool condOk = requireBool(*e.args[0], "the condition of 'select'");
      return branches(e, *e.args[1], *e.args[2], "'select'", condOk);
    }
    }
    return Type::Unknown;
  }

  Type checkSumD(Expr &e) {
    scoreOnly(e, "'sum[" + e.name + "](...)'");
    if (ctx != Context::Score && ctx != Context::Let)
      return Type::Unknown;
    if (!sumVar.empty()) {
      error(e.loc, "sum[" + e.name + "](...) cannot be nested inside another sum");
      return Type::Unknown;
    }
    if (isReserved(e.name) || symbols.count(e.name)) {
      error(e.loc, "the variable of sum[...] must be a new name; '" + e.name +
                       "' is already defined");
      return Type::Unknown;
    }
    sumVar = e.name;
    Type t = check(*e.args[0]);
    sumVar.clear();
    if (!requireNumber(*e.args[0], "sum[" + e.name + "]"))
      return Type::Unknown;
    return t;
  }
};

} // namespace

bool attn::checkModule(Module &module, DiagnosticEngine &diags) {
  unsigned before = diags.errorCount();
  // A file describes one or more variants (LANGUAGE.md); after a syntax error
  // the module may be empty for that reason alone.
  if (module.variants.empty() && !diags.hasErrors()) {
    diags.error({{1, 1}, {1, 1}}, "the file defines no variant (expected 'variant NAME { ... }')");
    return false;
  }
  std::map<std::string, SourceRange> seen;
  for (Variant &v : module.variants) {
    auto it = seen.find(v.name);
    if (it != seen.end()) {
      diags.error(v.loc, "redefinition of variant '" + v.name + "'");
      diags.note(it->second, "previous definition of '" + v.name + "' is here");
    } else {
      seen[v.name] = v.loc;
    }
    VariantChecker(v, diags).run();
  }
  return diags.errorCount() == before;
}
