//===- Json.cpp - a minimal JSON reader for architecture files ------------===//
#include "Json.h"

#include <cstdlib>

namespace attn::sim {

const JsonValue *JsonValue::get(const std::string &key) const {
  if (kind != Kind::Object)
    return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &it->second;
}

namespace {
/// Recursive-descent parser over a string; errors carry the line number.
class Parser {
public:
  explicit Parser(const std::string &text) : text(text) {}

  std::optional<std::string> parseDocument(JsonValue &out) {
    if (auto err = parseValue(out, 0))
      return err;
    skipSpace();
    if (pos != text.size())
      return error("trailing characters after the JSON value");
    return std::nullopt;
  }

private:
  const std::string &text;
  size_t pos = 0;

  std::string error(const std::string &what) const {
    unsigned line = 1;
    for (size_t k = 0; k < pos && k < text.size(); ++k)
      line += text[k] == '\n';
    return "line " + std::to_string(line) + ": " + what;
  }

  void skipSpace() {
    while (pos < text.size() &&
           (text[pos] == ' ' || text[pos] == '\n' || text[pos] == '\t' || text[pos] == '\r'))
      ++pos;
  }

  bool consume(const char *word) {
    size_t n = std::char_traits<char>::length(word);
    if (text.compare(pos, n, word) != 0)
      return false;
    pos += n;
    return true;
  }

  std::optional<std::string> parseString(std::string &out) {
    ++pos; // opening quote
    while (pos < text.size() && text[pos] != '"') {
      char c = text[pos++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos >= text.size())
        break;
      char e = text[pos++];
      switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'u': {
        if (pos + 4 > text.size())
          return error("truncated \\u escape");
        unsigned code = std::strtoul(text.substr(pos, 4).c_str(), nullptr, 16);
        out += code < 128 ? static_cast<char>(code) : '?';
        pos += 4;
        break;
      }
      default: out += e; break;
      }
    }
    if (pos >= text.size())
      return error("unterminated string");
    ++pos; // closing quote
    return std::nullopt;
  }

  std::optional<std::string> parseValue(JsonValue &out, unsigned depth) {
    if (depth > 64)
      return error("nesting too deep");
    skipSpace();
    if (pos >= text.size())
      return error("unexpected end of input");
    char c = text[pos];
    if (c == '{') {
      out.kind = JsonValue::Kind::Object;
      ++pos;
      skipSpace();
      if (pos < text.size() && text[pos] == '}') {
        ++pos;
        return std::nullopt;
      }
      while (true) {
        skipSpace();
        if (pos >= text.size() || text[pos] != '"')
          return error("expected a string key");
        std::string key;
        if (auto err = parseString(key))
          return err;
        skipSpace();
        if (pos >= text.size() || text[pos] != ':')
          return error("expected ':' after key \"" + key + "\"");
        ++pos;
        JsonValue member;
        if (auto err = parseValue(member, depth + 1))
          return err;
        out.object[key] = std::move(member);
        skipSpace();
        if (pos < text.size() && text[pos] == ',') {
          ++pos;
          continue;
        }
        if (pos < text.size() && text[pos] == '}') {
          ++pos;
          return std::nullopt;
        }
        return error("expected ',' or '}' in object");
      }
    }
    if (c == '[') {
      out.kind = JsonValue::Kind::Array;
      ++pos;
      skipSpace();
      if (pos < text.size() && text[pos] == ']') {
        ++pos;
        return std::nullopt;
      }
      while (true) {
        JsonValue element;
        if (auto err = parseValue(element, depth + 1))
          return err;
        out.array.push_back(std::move(element));
        skipSpace();
        if (pos < text.size() && text[pos] == ',') {
          ++pos;
          continue;
        }
        if (pos < text.size() && text[pos] == ']') {
          ++pos;
          return std::nullopt;
        }
        return error("expected ',' or ']' in array");
      }
    }
    if (c == '"') {
      out.kind = JsonValue::Kind::String;
      return parseString(out.string);
    }
    if (consume("true")) {
      out.kind = JsonValue::Kind::Bool;
      out.boolean = true;
      return std::nullopt;
    }
    if (consume("false")) {
      out.kind = JsonValue::Kind::Bool;
      return std::nullopt;
    }
    if (consume("null"))
      return std::nullopt;
    const char *begin = text.c_str() + pos;
    char *end = nullptr;
    double value = std::strtod(begin, &end);
    if (end == begin)
      return error(std::string("unexpected character '") + c + "'");
    out.kind = JsonValue::Kind::Number;
    out.number = value;
    pos += end - begin;
    return std::nullopt;
  }
};
} // namespace

std::optional<std::string> parseJson(const std::string &text, JsonValue &out) {
  out = JsonValue();
  return Parser(text).parseDocument(out);
}

} // namespace attn::sim
