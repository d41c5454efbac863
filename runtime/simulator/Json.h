//===- Json.h - a minimal JSON reader for architecture files ----*- C++ -*-===//
//
// Just enough JSON for `arch/*.json`: objects, arrays, strings (with the
// usual escapes, \uXXXX kept as '?' outside ASCII), numbers, true, false and
// null. No LLVM here: the simulator lives in the runtime.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNC_RUNTIME_SIMULATOR_JSON_H
#define ATTNC_RUNTIME_SIMULATOR_JSON_H

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace attn::sim {

/// One JSON value.
struct JsonValue {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::map<std::string, JsonValue> object;

  /// The member `key` of an object, or nullptr.
  const JsonValue *get(const std::string &key) const;
  bool isNumber() const { return kind == Kind::Number; }
  bool isObject() const { return kind == Kind::Object; }
};

/// Parses `text` into `out`. Returns an error message ("line L: ...") on
/// malformed input.
std::optional<std::string> parseJson(const std::string &text, JsonValue &out);

} // namespace attn::sim

#endif // ATTNC_RUNTIME_SIMULATOR_JSON_H
