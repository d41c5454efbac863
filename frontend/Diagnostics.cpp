//===- Diagnostics.cpp - clang-style diagnostics for .attn files ---------===//
#include "frontend/Diagnostics.h"

#include <algorithm>

namespace attn {

void DiagnosticEngine::report(Severity sev, ast::SourceRange loc,
                              std::string msg) {
  if (sev == Severity::Note) {
    // A note belongs to the diagnostic before it: drop it with that one.
    if (!dropping)
      diags.push_back({sev, loc, std::move(msg)});
    return;
  }
  if (sev == Severity::Error) {
    if (numErrors >= kMaxErrors) {
      if (!dropping)
        diags.push_back({Severity::Note, ast::SourceRange{},
                         "too many errors emitted, stopping now"});
      dropping = true;
      ++numErrors;
      return;
    }
    ++numErrors;
  } else if (dropping) {
    return;
  }
  dropping = false;
  diags.push_back({sev, loc, std::move(msg)});
}

std::string DiagnosticEngine::lineText(unsigned line) const {
  if (lineStarts.empty()) {
    lineStarts.push_back(0);
    for (size_t i = 0; i < source.size(); ++i)
      if (source[i] == '\n')
        lineStarts.push_back(i + 1);
  }
  if (line == 0 || line > lineStarts.size())
    return "";
  size_t begin = lineStarts[line - 1];
  size_t end = line < lineStarts.size() ? lineStarts[line] - 1 : source.size();
  std::string text = source.substr(begin, end - begin);
  if (!text.empty() && text.back() == '\r')
    text.pop_back();
  return text;
}

std::string DiagnosticEngine::format(const Diagnostic &d) const {
  const char *sev = d.severity == Severity::Error     ? "error"
                    : d.severity == Severity::Warning ? "warning"
                                                      : "note";
  std::string out = fileName;
  if (d.loc.begin.line != 0)
    out += ":" + std::to_string(d.loc.begin.line) + ":" +
           std::to_string(d.loc.begin.col);
  out += ": ";
  out += sev;
  out += ": ";
  out += d.message;
  out += '\n';
  if (d.loc.begin.line == 0)
    return out;
  std::string text = lineText(d.loc.begin.line);
  // Control bytes (NUL, escapes) would garble a terminal: show them as spaces
  // so that the caret still lines up.
  for (char &c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f)
      c = ' ';
  }
  unsigned begin = d.loc.begin.col == 0 ? 1 : d.loc.begin.col;
  unsigned end = d.loc.end.line == d.loc.begin.line
                     ? d.loc.end.col
                     : static_cast<unsigned>(text.size());
  if (end < begin)
    end = begin;
  // A long line (generated sources) shows a window around the column, with
  // "..." where it is cut, rather than the whole line.
  constexpr size_t kShown = 160;
  size_t from = 0;
  std::string prefix, suffix;
  if (text.size() > kShown) {
    size_t at = std::min<size_t>(begin - 1, text.size());
    from = at > kShown / 2 ? at - kShown / 2 : 0;
    size_t to = std::min(text.size(), from + kShown);
    prefix = from ? "..." : "";
    suffix = to < text.size() ? "..." : "";
    text = text.substr(from, to - from);
  }
  out += prefix + text + suffix;
  out += '\n';
  std::string caret(prefix.size(), ' ');
  for (size_t c = from + 1; c < begin; ++c)
    caret += (c - from - 1 < text.size() && text[c - from - 1] == '\t') ? '\t' : ' ';
  caret += '^';
  for (size_t c = begin + 1; c <= end && c - from <= text.size(); ++c)
    caret += '~';
  out += caret;
  out += '\n';
  return out;
}

void DiagnosticEngine::print(std::ostream &os) const {
  for (const Diagnostic &d : diags)
    os << format(d);
}

} // namespace attn
