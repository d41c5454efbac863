//===- AST.h - The .attn abstract syntax tree -------------------*- C++ -*-===//
//
// The parser builds this tree; Sema annotates it (types, name resolution);
// EmitAttn turns it into the `attn` dialect; the float64 reference evaluator
// reads it directly. One Expr node type keeps every consumer simple.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_FRONTEND_AST_H
#define ATTNC_FRONTEND_AST_H

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace attn::ast {

/// A 1-based line/column position in the user's file.
struct SourceLoc {
  unsigned line = 0;
  unsigned col = 0;
};

/// A source range; `end` is the last character (inclusive).
struct SourceRange {
  SourceLoc begin;
  SourceLoc end;
};

/// Scalar types of the language. Integers are 64-bit in expressions; `i32`
/// params and tensors are widened on read.
enum class Type { Unknown, Bool, Int, Float };

/// Declared types (`param x: i32`, `tensor t: f32[...]`).
enum class DeclType { I32, F32, Bool };

const char *typeName(Type t);
const char *declTypeName(DeclType t);
Type declTypeToType(DeclType t);

enum class ExprKind {
  IntLit,   ///< ival
  FloatLit, ///< fval
  BoolLit,  ///< ival (0/1); `true` / `false`
  Name,     ///< name; resolved by Sema into `ref`
  Index,    ///< name[args...]: tensor element, or q[d] / k[d] inside sum[d]
  Unary,    ///< op: Neg, Not; args[0]
  Binary,   ///< op; args[0], args[1]
  Ternary,  ///< args[0] ? args[1] : args[2]
  Call,     ///< name(args...): built-in, dot(q, k), or max_j/min_j/sum_j in a custom norm
  SumD,     ///< sum[name](args[0]): reduction over the head dimension; name is the index variable
};

enum class OpKind {
  None,
  Neg, Not,
  Add, Sub, Mul, Div, Mod,
  Lt, Le, Gt, Ge, Eq, Ne,
  And, Or,
};

/// What a Name (or the base of an Index) refers to after Sema.
enum class RefKind {
  Unresolved,
  IndexVar,   ///< b h i j (refIndex 0..3)
  Size,       ///< B H Hkv Sq Skv D (refIndex 0..5)
  Scale,      ///< `scale`
  QK,         ///< `qk` (scaled dot product); score only
  Param,      ///< refIndex into Variant::params
  Tensor,     ///< refIndex into Variant::tensors (Index base)
  Let,        ///< refIndex into Variant::lets
  HeadIndex,  ///< the `d` of an enclosing sum[d]
  QElem,      ///< q[d] (Index base); score only, inside sum[d]
  KElem,      ///< k[d] (Index base); score only, inside sum[d]
  NormScore,  ///< `s` inside a custom norm
  NormLocal,  ///< refIndex into NormSpec::custom (an earlier assignment)
  Builtin,    ///< Call: a built-in function (name)
  Dot,        ///< Call: dot(q, k)
  RowReduce,  ///< Call: max_j / min_j / sum_j inside a custom norm
};

struct Expr {
  ExprKind kind;
  SourceRange loc;
  OpKind op = OpKind::None;
  int64_t ival = 0;
  double fval = 0.0;
  std::string name;
  std::vector<std::unique_ptr<Expr>> args;

  // Filled in by Sema.
  Type type = Type::Unknown;
  RefKind ref = RefKind::Unresolved;
  int refIndex = -1;

  Expr(ExprKind kind, SourceRange loc) : kind(kind), loc(loc) {}
};
using ExprPtr = std::unique_ptr<Expr>;

struct ParamDecl {
  std::string name;
  SourceRange loc;
  DeclType type = DeclType::F32;
  /// May be null: the caller must then pass it. After Sema it is a single
  /// literal of the declared type (IntLit for i32, FloatLit for f32, BoolLit
  /// for bool), so consumers never see `-8.0` as a unary minus or an int
  /// literal for an f32 param.
  ExprPtr defaultValue;
};

/// One dimension of a tensor declaration: a size name (B, H, Hkv, Sq, Skv, D)
/// or a positive integer literal.
struct TensorDim {
  std::string sizeName; ///< empty when `extent` is a literal
  int64_t extent = 0;
  SourceRange loc;
};

struct TensorDecl {
  std::string name;
  SourceRange loc;
  DeclType elemType = DeclType::F32;
  std::vector<TensorDim> dims;
};

struct LetDecl {
  std::string name;
  SourceRange loc;
  ExprPtr value;
};

enum class NormKind { Softmax, Sigmoid, Relu, Relu2, Softplus, Linear, None, Custom };
const char *normKindName(NormKind k);

/// One `NAME = EXPR;` line of a `custom { ... }` norm.
struct NormAssign {
  std::string name;
  SourceRange loc;
  ExprPtr value;
};

struct NormSpec {
  NormKind kind = NormKind::Softmax;
  SourceRange loc;
  ExprPtr sink;                   ///< softmax(sink = EXPR) only
  std::vector<NormAssign> custom; ///< Custom only; must end by defining `w`
};

/// A statement that may appear at most once per variant.
struct SingleStmt {
  SourceRange loc; ///< location of the statement keyword
  ExprPtr value;
};

struct Variant {
  std::string name;
  SourceRange loc;
  std::vector<ParamDecl> params;
  std::vector<TensorDecl> tensors;
  std::vector<LetDecl> lets;
  std::optional<SingleStmt> score;
  std::optional<SingleStmt> bias;
  std::optional<SingleStmt> mask;
  std::optional<SingleStmt> scale;
  std::optional<NormSpec> norm;
};

struct Module {
  std::string fileName;
  std::vector<Variant> variants;
};

/// Names of the index variables and sizes, in RefKind::IndexVar / Size order.
extern const char *const kIndexNames[4]; // b h i j
extern const char *const kSizeNames[6];  // B H Hkv Sq Skv D

/// Prints the tree in a stable, readable S-expression form (for tests).
std::string dump(const Module &m);
std::string dump(const Expr &e);
/// As above; with `withTypes`, every expression node carries `:type` (after
/// Sema), e.g. `(+:float i:int 0.5:float)`.
std::string dump(const Module &m, bool withTypes);
std::string dump(const Expr &e, bool withTypes);

/// The source spelling of an operator (`+`, `<=`, `&&`, unary `-`, `!`).
const char *opSpelling(OpKind op);
/// A float literal as the shortest text that reads back exactly (always with
/// a `.`, an exponent, `inf` or `nan`).
std::string formatFloat(double v);

} // namespace attn::ast

#endif // ATTNC_FRONTEND_AST_H
