//===- Frontend.h - Parse and check .attn source ----------------*- C++ -*-===//
//
// The front end's entry points: source text in, a checked AST out, every
// problem reported through the DiagnosticEngine. Never throws, never aborts.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_FRONTEND_FRONTEND_H
#define ATTNC_FRONTEND_FRONTEND_H

#include "frontend/AST.h"
#include "frontend/Diagnostics.h"

#include <memory>
#include <string>

namespace attn {

/// Parses `diags.getSource()` into a module. Syntax errors are reported with
/// recovery (several per file); returns the (partial) module either way.
std::unique_ptr<ast::Module> parseSource(DiagnosticEngine &diags);

/// Semantic checks and annotation (types, name resolution). Returns true if
/// no error was reported.
bool checkModule(ast::Module &module, DiagnosticEngine &diags);

/// parseSource + checkModule. Returns null if any error was reported.
std::unique_ptr<ast::Module> parseAndCheck(DiagnosticEngine &diags);

} // namespace attn

#endif // ATTNC_FRONTEND_FRONTEND_H
