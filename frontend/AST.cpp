//===- AST.cpp - Name tables and the S-expression dump of the AST --------===//
#include "frontend/AST.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace attn::ast {

const char *const kIndexNames[4] = {"b", "h", "i", "j"};
const char *const kSizeNames[6] = {"B", "H", "Hkv", "Sq", "Skv", "D"};

const char *typeName(Type t) {
  switch (t) {
  case Type::Unknown:
    return "<unknown>";
  case Type::Bool:
    return "bool";
  case Type::Int:
    return "int";
  case Type::Float:
    return "float";
  }
  return "<unknown>";
}

const char *declTypeName(DeclType t) {
  switch (t) {
  case DeclType::I32:
    return "i32";
  case DeclType::F32:
    return "f32";
  case DeclType::Bool:
    return "bool";
  }
  return "f32";
}

Type declTypeToType(DeclType t) {
  switch (t) {
  case DeclType::I32:
    return Type::Int;
  case DeclType::F32:
    return Type::Float;
  case DeclType::Bool:
    return Type::Bool;
  }
  return Type::Unknown;
}

const char *normKindName(NormKind k) {
  switch (k) {
  case NormKind::Softmax:
    return "softmax";
  case NormKind::Sigmoid:
    return "sigmoid";
  case NormKind::Relu:
    return "relu";
  case NormKind::Relu2:
    return "relu2";
  case NormKind::Softplus:
    return "softplus";
  case NormKind::Linear:
    return "linear";
  case NormKind::None:
    return "none";
  case NormKind::Custom:
    return "custom";
  }
  return "softmax";
}

const char *opSpelling(OpKind op) {
  switch (op) {
  case OpKind::None:
    return "?";
  case OpKind::Neg:
    return "-";
  case OpKind::Not:
    return "!";
  case OpKind::Add:
    return "+";
  case OpKind::Sub:
    return "-";
  case OpKind::Mul:
    return "*";
  case OpKind::Div:
    return "/";
  case OpKind::Mod:
    return "%";
  case OpKind::Lt:
    return "<";
  case OpKind::Le:
    return "<=";
  case OpKind::Gt:
    return ">";
  case OpKind::Ge:
    return ">=";
  case OpKind::Eq:
    return "==";
  case OpKind::Ne:
    return "!=";
  case OpKind::And:
    return "&&";
  case OpKind::Or:
    return "||";
  }
  return "?";
}

std::string formatFloat(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v < 0 ? "-inf" : "inf";
  char buf[64];
  int prec = 1;
  for (; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  // Prefer 30.0 to 3e+01: print integral digits in full below 1e16.
  double mag = std::fabs(v);
  if (mag >= 1.0 && mag < 1e16) {
    int intDigits = static_cast<int>(std::floor(std::log10(mag))) + 1;
    if (intDigits > prec)
      std::snprintf(buf, sizeof(buf), "%.*g", intDigits, v);
  }
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos)
    s += ".0";
  return s;
}

namespace {

void dumpExpr(const Expr &e, bool withTypes, std::string &out) {
  auto typeSuffix = [&] {
    if (withTypes) {
      out += ':';
      out += typeName(e.type);
    }
  };
  auto children = [&](size_t from) {
    for (size_t i = from; i < e.args.size(); ++i) {
      out += ' ';
      dumpExpr(*e.args[i], withTypes, out);
    }
    out += ')';
  };
  switch (e.kind) {
  case ExprKind::IntLit:
    out += std::to_string(e.ival);
    typeSuffix();
    return;
  case ExprKind::FloatLit:
    out += formatFloat(e.fval);
    typeSuffix();
    return;
  case ExprKind::BoolLit:
    out += e.ival ? "true" : "false";
    typeSuffix();
    return;
  case ExprKind::Name:
    out += e.name;
    typeSuffix();
    return;
  case ExprKind::Index:
    out += "(index";
    typeSuffix();
    out += ' ';
    out += e.name;
    children(0);
    return;
  case ExprKind::Unary:
    out += e.op == OpKind::Neg ? "(neg" : "(!";
    typeSuffix();
    children(0);
    return;
  case ExprKind::Binary:
    out += '(';
    out += opSpelling(e.op);
    typeSuffix();
    children(0);
    return;
  case ExprKind::Ternary:
    out += "(?";
    typeSuffix();
    children(0);
    return;
  case ExprKind::Call:
    out += "(call";
    typeSuffix();
    out += ' ';
    out += e.name;
    children(0);
    return;
  case ExprKind::SumD:
    out += "(sum";
    typeSuffix();
    out += ' ';
    out += e.name;
    children(0);
    return;
  }
}

void dumpSingle(const char *what, const std::optional<SingleStmt> &s,
                bool withTypes, std::string &out) {
  if (!s)
    return;
  out += "\n    (";
  out += what;
  out += ' ';
  if (s->value)
    dumpExpr(*s->value, withTypes, out);
  out += ')';
}

} // namespace

std::string dump(const Expr &e, bool withTypes) {
  std::string out;
  dumpExpr(e, withTypes, out);
  return out;
}

std::string dump(const Expr &e) { return dump(e, false); }

std::string dump(const Module &m, bool withTypes) {
  std::string out = "(module";
  for (const Variant &v : m.variants) {
    out += "\n  (variant " + v.name;
    for (const ParamDecl &p : v.params) {
      out += "\n    (param " + p.name + " " + declTypeName(p.type);
      if (p.defaultValue) {
        out += ' ';
        dumpExpr(*p.defaultValue, withTypes, out);
      }
      out += ')';
    }
    for (const TensorDecl &t : v.tensors) {
      out += "\n    (tensor " + t.name + " " + declTypeName(t.elemType) + " [";
      for (size_t i = 0; i < t.dims.size(); ++i) {
        if (i)
          out += ' ';
        out += t.dims[i].sizeName.empty() ? std::to_string(t.dims[i].extent)
                                          : t.dims[i].sizeName;
      }
      out += "])";
    }
    for (const LetDecl &l : v.lets) {
      out += "\n    (let " + l.name + ' ';
      if (l.value)
        dumpExpr(*l.value, withTypes, out);
      out += ')';
    }
    dumpSingle("score", v.score, withTypes, out);
    dumpSingle("bias", v.bias, withTypes, out);
    dumpSingle("mask", v.mask, withTypes, out);
    dumpSingle("scale", v.scale, withTypes, out);
    if (v.norm) {
      out += "\n    (norm ";
      out += normKindName(v.norm->kind);
      if (v.norm->sink) {
        out += " (sink ";
        dumpExpr(*v.norm->sink, withTypes, out);
        out += ')';
      }
      for (const NormAssign &a : v.norm->custom) {
        out += "\n      (" + a.name + ' ';
        if (a.value)
          dumpExpr(*a.value, withTypes, out);
        out += ')';
      }
      out += ')';
    }
    out += ')';
  }
  out += ")\n";
  return out;
}

std::string dump(const Module &m) { return dump(m, false); }

} // namespace attn::ast
