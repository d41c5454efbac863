//===- attn-parse.cpp - Parse and check a .attn file, print its AST ------===//
//
// The front end without MLIR: `attn-parse FILE` prints the checked AST as an
// S-expression (ast::dump) or the diagnostics, and exits 1 on any error.
//   --syntax-only  parse only (no Sema)
//   --types        print each expression's type (after Sema)
//   -              read standard input
//
//===----------------------------------------------------------------------===//
#include "frontend/Frontend.h"

#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

int main(int argc, char **argv) {
  bool syntaxOnly = false, withTypes = false;
  const char *path = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--syntax-only"))
      syntaxOnly = true;
    else if (!std::strcmp(argv[i], "--types"))
      withTypes = true;
    else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::cout << "usage: attn-parse [--syntax-only] [--types] FILE|-\n";
      return 0;
    } else if (!path)
      path = argv[i];
    else {
      std::cerr << "attn-parse: error: more than one input file\n";
      return 2;
    }
  }
  if (!path) {
    std::cerr << "usage: attn-parse [--syntax-only] [--types] FILE|-\n";
    return 2;
  }
  std::string source;
  if (!std::strcmp(path, "-")) {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    source = ss.str();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::cerr << "attn-parse: error: cannot read '" << path << "'\n";
      return 2;
    }
    source.assign(std::istreambuf_iterator<char>(in), {});
  }
  attn::DiagnosticEngine diags(path, std::move(source));
  auto module = attn::parseSource(diags);
  if (!syntaxOnly && !diags.hasErrors())
    attn::checkModule(*module, diags);
  diags.print(std::cerr);
  if (diags.hasErrors())
    return 1;
  std::cout << attn::ast::dump(*module, withTypes);
  return 0;
}
