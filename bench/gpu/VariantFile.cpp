//===- VariantFile.cpp - read and write <variant>.info --------------------===//
#include "bench/gpu/VariantFile.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace attn::gpubench {

bool parseDtype(const std::string &text, attn_dtype &out) {
  if (text == "f32") out = ATTN_F32;
  else if (text == "f16") out = ATTN_F16;
  else if (text == "bf16") out = ATTN_BF16;
  else if (text == "i32") out = ATTN_I32;
  else if (text == "bool") out = ATTN_BOOL;
  else return false;
  return true;
}

namespace {
const char *const kSizeNames[] = {"B", "H", "Hkv", "Sq", "Skv", "D"};
}

void VariantDescription::fixPointers() {
  for (size_t k = 0; k < params.size(); ++k)
    params[k].name = paramNames[k].c_str();
  for (size_t k = 0; k < tensors.size(); ++k)
    tensors[k].name = tensorNames[k].c_str();
}

attn_variant_info VariantDescription::info(attn_dtype dtype) {
  fixPointers();
  attn_variant_info i{};
  i.name = name.c_str();
  i.input_dtype = dtype;
  i.num_params = static_cast<int32_t>(params.size());
  i.params = params.empty() ? nullptr : params.data();
  i.num_tensors = static_cast<int32_t>(tensors.size());
  i.tensors = tensors.empty() ? nullptr : tensors.data();
  i.has_lse = hasLse;
  i.row_tile = rowTile;
  return i;
}

std::string VariantDescription::kernelName(const std::string &dtypeName) const {
  auto it = kernels.find(dtypeName);
  if (it != kernels.end())
    return it->second;
  return "attn_" + name + "_" + dtypeName + "_gpu";
}

std::unique_ptr<VariantDescription> parseVariantFile(const std::string &text,
                                                     std::string &error) {
  auto d = std::make_unique<VariantDescription>();
  std::istringstream in(text);
  std::string line;
  int lineNo = 0;
  auto bad = [&](const std::string &why) {
    error = "line " + std::to_string(lineNo) + ": " + why;
    return nullptr;
  };
  while (std::getline(in, line)) {
    ++lineNo;
    if (auto hash = line.find('#'); hash != std::string::npos)
      line.resize(hash);
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string s; words >> s;)
      w.push_back(s);
    if (w.empty())
      continue;
    const std::string &key = w[0];
    if (key != "variant" && d->name.empty())
      return bad("the first statement must be 'variant NAME'");
    if (key == "variant") {
      if (w.size() != 2 || !d->name.empty())
        return bad("expected one 'variant NAME'");
      d->name = w[1];
    } else if (key == "has_lse") {
      if (w.size() != 2 || (w[1] != "0" && w[1] != "1"))
        return bad("expected 'has_lse 0|1'");
      d->hasLse = w[1] == "1";
    } else if (key == "row_tile") {
      char *end = nullptr;
      long long n = w.size() == 2 ? std::strtoll(w[1].c_str(), &end, 10) : 0;
      if (w.size() != 2 || *end || n <= 0)
        return bad("expected 'row_tile N' with N > 0");
      d->rowTile = n;
    } else if (key == "param") {
      attn_param_info p{};
      if (w.size() != 4 || !parseDtype(w[2], p.type) ||
          (p.type != ATTN_I32 && p.type != ATTN_F32 && p.type != ATTN_BOOL))
        return bad("expected 'param NAME i32|f32|bool DEFAULT|-'");
      if (w[3] == "true" || w[3] == "false") {
        p.default_value = w[3] == "true";
        p.has_default = 1;
      } else if (w[3] != "-") {
        char *end = nullptr;
        p.default_value = std::strtod(w[3].c_str(), &end);
        if (*end)
          return bad("param default '" + w[3] + "' is not a number");
        p.has_default = 1;
      }
      d->paramNames.push_back(w[1]);
      d->params.push_back(p);
    } else if (key == "tensor") {
      attn_tensor_info t{};
      if (w.size() < 3 || !parseDtype(w[2], t.dtype) || (t.dtype != ATTN_I32 && t.dtype != ATTN_F32))
        return bad("expected 'tensor NAME i32|f32 DIM...'");
      if (w.size() - 3 > ATTN_MAX_RANK)
        return bad("a tensor has at most " + std::to_string(ATTN_MAX_RANK) + " dimensions");
      t.rank = static_cast<int32_t>(w.size() - 3);
      for (size_t k = 3; k < w.size(); ++k) {
        int64_t dim = 0;
        bool named = false;
        for (int s = 0; s < 6; ++s)
          if (w[k] == kSizeNames[s]) {
            dim = -(1 + s);
            named = true;
          }
        if (!named) {
          char *end = nullptr;
          long long n = std::strtoll(w[k].c_str(), &end, 10);
          if (*end || n < 0)
            return bad("dimension '" + w[k] + "' is neither a size name nor an integer");
          dim = n;
        }
        t.dims[k - 3] = dim;
      }
      d->tensorNames.push_back(w[1]);
      d->tensors.push_back(t);
    } else if (key == "kernel") {
      attn_dtype t;
      if (w.size() != 3 || !parseDtype(w[1], t))
        return bad("expected 'kernel f32|f16|bf16 SYMBOL'");
      d->kernels[w[1]] = w[2];
    } else {
      return bad("unknown statement '" + key + "'");
    }
  }
  if (d->name.empty())
    return bad("no 'variant NAME' line");
  d->fixPointers();
  return d;
}

std::unique_ptr<VariantDescription> readVariantFile(const std::string &path, std::string &error) {
  std::ifstream f(path);
  if (!f) {
    error = "cannot read " + path;
    return nullptr;
  }
  std::stringstream s;
  s << f.rdbuf();
  auto d = parseVariantFile(s.str(), error);
  if (!d)
    error = path + ": " + error;
  return d;
}

std::string writeVariantFile(const VariantDescription &d) {
  std::ostringstream os;
  os << "variant " << d.name << "\nhas_lse " << d.hasLse << "\n";
  if (d.rowTile != 1)
    os << "row_tile " << d.rowTile << "\n";
  for (size_t k = 0; k < d.params.size(); ++k) {
    os << "param " << d.paramNames[k] << " " << attn_dtype_name(d.params[k].type) << " ";
    if (d.params[k].has_default) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", d.params[k].default_value);
      os << buf << "\n";
    } else {
      os << "-\n";
    }
  }
  for (size_t k = 0; k < d.tensors.size(); ++k) {
    os << "tensor " << d.tensorNames[k] << " " << attn_dtype_name(d.tensors[k].dtype);
    for (int r = 0; r < d.tensors[k].rank; ++r) {
      int64_t dim = d.tensors[k].dims[r];
      if (dim >= 0)
        os << " " << dim;
      else
        os << " " << kSizeNames[-dim - 1];
    }
    os << "\n";
  }
  for (auto &[dtype, symbol] : d.kernels)
    os << "kernel " << dtype << " " << symbol << "\n";
  return os.str();
}

} // namespace attn::gpubench
