//===- KernelDescription.cpp - a KernelInfo as text, as C, and by name ----===//
#include "compiler/jit/KernelDescription.h"

#include "runtime/lib/Error.h"

#include <cstdlib>
#include <limits>
#include <sstream>

namespace attn {

const char *originName(KernelOrigin origin) {
  switch (origin) {
  case KernelOrigin::Memory: return "memory";
  case KernelOrigin::Disk: return "disk";
  case KernelOrigin::Compiled: return "compiled";
  }
  return "?";
}

std::string dtypeList(const KernelInfo &info) {
  std::string s;
  for (attn_dtype d : info.dtypes)
    s += (s.empty() ? "" : ", ") + std::string(attn_dtype_name(d));
  return s;
}

void CDescription::build(const KernelInfo &info) {
  params.clear();
  tensors.clear();
  for (const ParamInfo &p : info.params) {
    attn_param_info c{};
    c.name = p.name.c_str();
    c.type = p.type;
    c.has_default = p.hasDefault;
    c.default_value = p.defaultValue;
    params.push_back(c);
  }
  for (const TensorInfo &t : info.tensors) {
    attn_tensor_info c{};
    c.name = t.name.c_str();
    c.dtype = t.dtype;
    c.rank = (int32_t)t.dims.size();
    for (size_t d = 0; d < t.dims.size() && d < ATTN_MAX_RANK; ++d)
      c.dims[d] = t.dims[d];
    tensors.push_back(c);
  }
}

attn_variant_info CDescription::variantInfo(const KernelInfo &info, attn_dtype dtype) const {
  attn_variant_info c{};
  c.name = info.variant.c_str();
  c.input_dtype = dtype;
  c.num_params = (int32_t)params.size();
  c.params = params.empty() ? nullptr : params.data();
  c.num_tensors = (int32_t)tensors.size();
  c.tensors = tensors.empty() ? nullptr : tensors.data();
  c.has_lse = info.hasLse;
  c.row_tile = info.rowTile;
  return c;
}

std::string serializeInfo(const KernelInfo &info) {
  std::ostringstream os;
  os.precision(17);
  os << "attnc-kernel 1\n"
     << "variant " << info.variant << "\n"
     << "key " << info.key << "\n"
     << "tiles " << info.rowTile << " " << info.keyTile << "\n"
     << "lse " << (info.hasLse ? 1 : 0) << "\n"
     << "dtypes";
  for (attn_dtype d : info.dtypes)
    os << " " << (int)d;
  os << "\n";
  for (const ParamInfo &p : info.params)
    os << "param " << p.name << " " << (int)p.type << " " << (p.hasDefault ? 1 : 0) << " "
       << p.defaultValue << "\n";
  for (const TensorInfo &t : info.tensors) {
    os << "tensor " << t.name << " " << (int)t.dtype << " " << t.dims.size();
    for (int64_t d : t.dims)
      os << " " << d;
    os << "\n";
  }
  os << "end\n";
  return os.str();
}

std::optional<KernelInfo> parseInfo(const std::string &text, std::string *why) {
  auto bad = [&](const std::string &what) -> std::optional<KernelInfo> {
    if (why)
      *why = "malformed kernel description: " + what;
    return std::nullopt;
  };
  std::istringstream is(text);
  std::string line;
  KernelInfo info;
  if (!std::getline(is, line) || line != "attnc-kernel 1")
    return bad("bad header");
  bool ended = false;
  while (std::getline(is, line)) {
    std::istringstream ls(line);
    std::string word;
    ls >> word;
    if (word == "variant") {
      ls >> info.variant;
    } else if (word == "key") {
      ls >> info.key;
    } else if (word == "tiles") {
      ls >> info.rowTile >> info.keyTile;
    } else if (word == "lse") {
      int v = 0;
      ls >> v;
      info.hasLse = v != 0;
    } else if (word == "dtypes") {
      int d;
      while (ls >> d)
        info.dtypes.push_back((attn_dtype)d);
      ls.clear(); // the loop ends on a failed read
    } else if (word == "param") {
      ParamInfo p;
      int type = 0, hasDefault = 0;
      std::string value;
      ls >> p.name >> type >> hasDefault >> value;
      p.type = (attn_dtype)type;
      p.hasDefault = hasDefault != 0;
      p.defaultValue = std::strtod(value.c_str(), nullptr);
      info.params.push_back(p);
    } else if (word == "tensor") {
      TensorInfo t;
      int dtype = 0;
      size_t rank = 0;
      ls >> t.name >> dtype >> rank;
      if (rank > ATTN_MAX_RANK)
        return bad("tensor rank");
      t.dtype = (attn_dtype)dtype;
      t.dims.resize(rank);
      for (int64_t &d : t.dims)
        ls >> d;
      info.tensors.push_back(t);
    } else if (word == "end") {
      ended = true;
      break;
    } else {
      return bad("unknown line '" + line + "'");
    }
    if (ls.fail())
      return bad("line '" + line + "'");
  }
  if (!ended || info.variant.empty() || info.dtypes.empty() || info.rowTile < 1)
    return bad("truncated");
  return info;
}

attn_status resolveNamedArguments(const KernelInfo &info,
                                  const std::map<std::string, double> &params,
                                  const std::map<std::string, attn_tensor> &tensors,
                                  std::vector<double> &paramValues,
                                  std::vector<attn_tensor> &tensorViews) {
  auto declared = [](const auto &list) {
    std::string s;
    for (const auto &d : list)
      s += (s.empty() ? "" : ", ") + d.name;
    return s.empty() ? std::string("none") : s;
  };
  paramValues.assign(info.params.size(), std::numeric_limits<double>::quiet_NaN());
  for (const auto &[name, value] : params) {
    size_t idx = 0;
    while (idx < info.params.size() && info.params[idx].name != name)
      ++idx;
    if (idx == info.params.size())
      return rt::fail(ATTN_ERROR_INVALID_ARGUMENT, "variant '" + info.variant +
                                                       "' has no param '" + name +
                                                       "' (it declares: " +
                                                       declared(info.params) + ")");
    paramValues[idx] = value;
  }
  tensorViews.assign(info.tensors.size(), attn_tensor{});
  for (const auto &[name, view] : tensors) {
    size_t idx = 0;
    while (idx < info.tensors.size() && info.tensors[idx].name != name)
      ++idx;
    if (idx == info.tensors.size())
      return rt::fail(ATTN_ERROR_INVALID_ARGUMENT, "variant '" + info.variant +
                                                       "' has no tensor '" + name +
                                                       "' (it declares: " +
                                                       declared(info.tensors) + ")");
    tensorViews[idx] = view;
  }
  for (const TensorInfo &t : info.tensors)
    if (!tensors.count(t.name))
      return rt::fail(ATTN_ERROR_INVALID_ARGUMENT,
                      "variant '" + info.variant + "' needs tensor '" + t.name + "'");
  return ATTN_OK;
}

} // namespace attn
