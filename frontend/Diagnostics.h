//===- Diagnostics.h - clang-style diagnostics for .attn files --*- C++ -*-===//
//
// Collects errors and warnings with source ranges and prints them as
// `file:line:col: error: message`, the source line and a caret.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_FRONTEND_DIAGNOSTICS_H
#define ATTNC_FRONTEND_DIAGNOSTICS_H

#include "frontend/AST.h"

#include <ostream>
#include <string>
#include <vector>

namespace attn {

enum class Severity { Error, Warning, Note };

struct Diagnostic {
  Severity severity;
  ast::SourceRange loc;
  std::string message;
};

class DiagnosticEngine {
public:
  DiagnosticEngine(std::string fileName, std::string source)
      : fileName(std::move(fileName)), source(std::move(source)) {}

  void error(ast::SourceRange loc, std::string msg) { report(Severity::Error, loc, std::move(msg)); }
  void warning(ast::SourceRange loc, std::string msg) { report(Severity::Warning, loc, std::move(msg)); }
  void note(ast::SourceRange loc, std::string msg) { report(Severity::Note, loc, std::move(msg)); }
  void report(Severity sev, ast::SourceRange loc, std::string msg);

  unsigned errorCount() const { return numErrors; }
  bool hasErrors() const { return numErrors != 0; }
  const std::vector<Diagnostic> &diagnostics() const { return diags; }
  const std::string &getFileName() const { return fileName; }
  const std::string &getSource() const { return source; }

  /// Prints every diagnostic: `file:line:col: error: msg`, the line, a caret
  /// (with `~` under the rest of the range on that line).
  void print(std::ostream &os) const;
  /// Formats one diagnostic the same way.
  std::string format(const Diagnostic &d) const;

  /// After this many errors, further errors are dropped (one note says so).
  static constexpr unsigned kMaxErrors = 50;

  /// The text of 1-based `line` (without its newline; empty if out of range).
  std::string lineText(unsigned line) const;

private:
  std::string fileName;
  std::string source;
  std::vector<Diagnostic> diags;
  unsigned numErrors = 0;
  /// Set once the error limit is reached: later errors and their notes are
  /// dropped.
  bool dropping = false;
  /// Offsets of the first character of each line, computed on first use.
  mutable std::vector<size_t> lineStarts;
};

} // namespace attn

#endif // ATTNC_FRONTEND_DIAGNOSTICS_H
