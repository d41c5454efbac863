//===- Arch.cpp - reading arch/*.json -------------------------------------===//
#include "Arch.h"
#include "Json.h"

#include <fstream>
#include <sstream>

namespace attn::sim {

namespace {
/// Reads a positive number at `obj[key]` into `out` if present.
std::optional<std::string> readNumber(const JsonValue &obj, const std::string &key,
                                      double &out, bool allowZero = false) {
  const JsonValue *v = obj.get(key);
  if (!v)
    return std::nullopt;
  if (!v->isNumber())
    return "field \"" + key + "\" must be a number";
  if (v->number < 0 || (!allowZero && v->number == 0))
    return "field \"" + key + "\" must be positive";
  out = v->number;
  return std::nullopt;
}

std::optional<std::string> readInt(const JsonValue &obj, const std::string &key,
                                   int64_t &out, bool allowZero = false) {
  double d = static_cast<double>(out);
  if (auto err = readNumber(obj, key, d, allowZero))
    return err;
  if (d != static_cast<double>(static_cast<int64_t>(d)))
    return "field \"" + key + "\" must be an integer";
  out = static_cast<int64_t>(d);
  return std::nullopt;
}
} // namespace

std::optional<std::string> parseArch(const std::string &json, ArchConfig &out) {
  JsonValue root;
  if (auto err = parseJson(json, root))
    return err;
  if (!root.isObject())
    return std::string("an architecture is a JSON object");
  if (const JsonValue *n = root.get("name"); n && n->kind == JsonValue::Kind::String)
    out.name = n->string;
  if (const JsonValue *a = root.get("array2d")) {
    if (auto err = readInt(*a, "rows", out.rows2d))
      return "array2d: " + *err;
    if (auto err = readInt(*a, "cols", out.cols2d))
      return "array2d: " + *err;
  }
  if (const JsonValue *a = root.get("array1d"))
    if (auto err = readInt(*a, "pes", out.pes1d))
      return "array1d: " + *err;
  double mhz = out.clockHz / 1e6;
  if (auto err = readNumber(root, "clock_mhz", mhz))
    return err;
  out.clockHz = mhz * 1e6;
  if (auto err = readInt(root, "word_bytes", out.wordBytes))
    return err;
  if (auto err = readNumber(root, "dram_bytes_per_second", out.dramBytesPerSec))
    return err;
  if (auto err = readInt(root, "global_buffer_bytes", out.globalBufferBytes))
    return err;
  if (auto err = readInt(root, "max_row_block", out.maxRowBlock))
    return err;
  if (auto err = readInt(root, "fill_drain_cycles", out.fillDrainCycles, true))
    return err;
  if (const JsonValue *f = root.get("sub_exp_fused")) {
    if (f->kind != JsonValue::Kind::Bool)
      return std::string("field \"sub_exp_fused\" must be true or false");
    out.subExpFused = f->boolean;
  }
  if (const JsonValue *ops = root.get("ops")) {
    struct Named {
      const char *name;
      OpCost *cost;
    } table[] = {{"mac", &out.mac}, {"add", &out.add}, {"max", &out.max},
                 {"div", &out.div}, {"exp", &out.exp}};
    for (Named &n : table)
      if (const JsonValue *op = ops->get(n.name)) {
        if (auto err = readNumber(*op, "cycles", n.cost->cycles, true))
          return std::string("ops.") + n.name + ": " + *err;
        if (auto err = readNumber(*op, "energy_pj", n.cost->energyPj, true))
          return std::string("ops.") + n.name + ": " + *err;
      }
  }
  if (const JsonValue *e = root.get("energy_pj_per_word")) {
    struct Named {
      const char *name;
      double *value;
    } table[] = {{"reg_read", &out.regReadPj}, {"reg_write", &out.regWritePj},
                 {"reg2d_read", &out.reg2dReadPj}, {"reg2d_write", &out.reg2dWritePj},
                 {"gb_read", &out.gbReadPj},   {"gb_write", &out.gbWritePj},
                 {"dram", &out.dramPjPerWord}};
    for (Named &n : table)
      if (auto err = readNumber(*e, n.name, *n.value, true))
        return "energy_pj_per_word: " + *err;
  }
  return std::nullopt;
}

std::optional<std::string> loadArch(const std::string &path, ArchConfig &out) {
  std::ifstream in(path);
  if (!in)
    return "cannot open architecture file '" + path + "'";
  std::stringstream ss;
  ss << in.rdbuf();
  if (auto err = parseArch(ss.str(), out))
    return path + ": " + *err;
  return std::nullopt;
}

} // namespace attn::sim
