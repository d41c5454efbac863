//===- ParseContext.h - State shared by the lexer and parser ----*- C++ -*-===//
//
// Internal to the front end: what one parse of one source needs (the module
// being built, the diagnostics, the current location, the expression-depth
// bookkeeping). Not installed; include Frontend.h instead.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_FRONTEND_PARSECONTEXT_H
#define ATTNC_FRONTEND_PARSECONTEXT_H

#include "Parser.h"
#include "frontend/AST.h"
#include "frontend/Diagnostics.h"

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace attn::detail {

/// Deepest expression tree the parser builds; deeper ones are an error (so
/// that the recursive consumers of the tree can never overflow the stack).
constexpr unsigned kMaxExprDepth = 256;

struct ParseContext {
  ParseContext(DiagnosticEngine &diags, ast::Module &module)
      : diags(diags), module(module) {}

  DiagnosticEngine &diags;
  ast::Module &module;
  /// The lexer's current position.
  location loc;
  /// End of the last token lexed (the parser's lookahead) and of the one
  /// before it, so a syntax error can point just after the previous token.
  position lastTokenEnd, prevTokenEnd;
  /// Depth of each expression node built so far (leaves are 1).
  std::unordered_map<const ast::Expr *, unsigned> depth;
  /// Whether the depth error was already reported for the current statement.
  bool depthReported = false;
  /// Literals 9223372036854775808 (2^63) lexed as INT64_MIN, by their start:
  /// valid only under a unary minus (which folds into them); those left when
  /// the parse ends do not fit in 64 bits.
  std::map<std::pair<unsigned, unsigned>, location> minLiterals;
  /// Assignments of the `custom { ... }` norm blocks being parsed.
  std::vector<std::vector<ast::NormAssign>> customStack;

  static ast::SourceRange range(const location &l) {
    ast::SourceRange r;
    r.begin.line = static_cast<unsigned>(l.begin.line);
    r.begin.col = static_cast<unsigned>(l.begin.column);
    r.end.line = static_cast<unsigned>(l.end.line);
    r.end.col = static_cast<unsigned>(l.end.column > 1 ? l.end.column - 1 : 1);
    if (r.end.line == r.begin.line && r.end.col < r.begin.col)
      r.end.col = r.begin.col;
    return r;
  }
  void error(const location &l, std::string msg) {
    diags.error(range(l), std::move(msg));
  }
  void note(const location &l, std::string msg) {
    diags.note(range(l), std::move(msg));
  }
  void note(ast::SourceRange r, std::string msg) { diags.note(r, std::move(msg)); }
};

/// Lexes the next token (Lexer.l).
Parser::symbol_type lex(yyscan_t scanner, ParseContext &ctx);

/// Runs the scanner and parser over `source`, filling `ctx.module`. Returns
/// false on a syntax error (already reported).
bool scanAndParse(ParseContext &ctx, const std::string &source);

} // namespace attn::detail

#endif // ATTNC_FRONTEND_PARSECONTEXT_H
