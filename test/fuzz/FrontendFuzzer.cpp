//===- FrontendFuzzer.cpp - libFuzzer harness for the .attn front end ----===//
//
// Feeds arbitrary bytes to parseAndCheck and prints the diagnostics to a
// string (which exercises the caret formatting). Any crash, sanitizer report,
// leak or timeout is a bug. See README.md for how to run it longer.
//
//===----------------------------------------------------------------------===//
#include "frontend/Frontend.h"

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string source(reinterpret_cast<const char *>(data), size);
  attn::DiagnosticEngine diags("fuzz.attn", std::move(source));
  auto module = attn::parseAndCheck(diags);
  // parseAndCheck's contract: a module exactly when there was no error.
  if ((module == nullptr) != diags.hasErrors())
    __builtin_trap();
  if (module)
    (void)attn::ast::dump(*module, /*withTypes=*/true);
  std::ostringstream os;
  diags.print(os);
  return 0;
}
