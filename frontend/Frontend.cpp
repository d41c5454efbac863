//===- Frontend.cpp - Entry points: parse, check, both -------------------===//
#include "frontend/Frontend.h"

#include "frontend/ParseContext.h"

#include <climits>

namespace attn {

std::unique_ptr<ast::Module> parseSource(DiagnosticEngine &diags) {
  auto module = std::make_unique<ast::Module>();
  module->fileName = diags.getFileName();
  const std::string &source = diags.getSource();
  if (source.size() > static_cast<size_t>(INT_MAX / 2)) {
    diags.error(ast::SourceRange{}, "file is too large");
    return module;
  }
  detail::ParseContext ctx(diags, *module);
  ctx.loc.initialize(nullptr, 1, 1);
  detail::scanAndParse(ctx, source);
  return module;
}

std::unique_ptr<ast::Module> parseAndCheck(DiagnosticEngine &diags) {
  auto module = parseSource(diags);
  if (diags.hasErrors())
    return nullptr;
  if (!checkModule(*module, diags) || diags.hasErrors())
    return nullptr;
  return module;
}

} // namespace attn
