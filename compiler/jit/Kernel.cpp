//===- Kernel.cpp - attn::Kernel: dispatch on q's dtype, params by name ---===//
#include "compiler/jit/KernelImpl.h"

#include "attn/npy.h"
#include "runtime/lib/Error.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "llvm/ADT/StringExtras.h"

#include <cmath>
#include <dlfcn.h>
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

const char *dtypeLabel(attn_dtype dtype) {
  switch (dtype) {
  case ATTN_F32: return "f32";
  case ATTN_F16: return "f16";
  case ATTN_BF16: return "bf16";
  case ATTN_F64: return "f64";
  case ATTN_I32: return "i32";
  case ATTN_BOOL: return "bool";
  }
  return "unknown";
}

Kernel::Impl::Impl() = default;

Kernel::Impl::~Impl() {
  engines.clear();
  if (dlHandle)
    dlclose(dlHandle);
}

void Kernel::Impl::finalize() {
  cparams.clear();
  ctensors.clear();
  for (const ParamInfo &p : info.params) {
    attn_param_info c{};
    c.name = p.name.c_str();
    c.type = p.type;
    c.has_default = p.hasDefault;
    c.default_value = p.defaultValue;
    cparams.push_back(c);
  }
  for (const TensorInfo &t : info.tensors) {
    attn_tensor_info c{};
    c.name = t.name.c_str();
    c.dtype = t.dtype;
    c.rank = (int32_t)t.dims.size();
    for (size_t d = 0; d < t.dims.size() && d < ATTN_MAX_RANK; ++d)
      c.dims[d] = t.dims[d];
    ctensors.push_back(c);
  }
  for (Entry &e : entries) {
    e.cinfo.name = info.variant.c_str();
    e.cinfo.input_dtype = e.dtype;
    e.cinfo.num_params = (int32_t)cparams.size();
    e.cinfo.params = cparams.empty() ? nullptr : cparams.data();
    e.cinfo.num_tensors = (int32_t)ctensors.size();
    e.cinfo.tensors = ctensors.empty() ? nullptr : ctensors.data();
    e.cinfo.has_lse = info.hasLse;
    e.cinfo.row_tile = info.rowTile;
  }
}

const Kernel::Impl::Entry *Kernel::Impl::find(attn_dtype dtype) const {
  for (const Entry &e : entries)
    if (e.dtype == dtype)
      return &e;
  return nullptr;
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

llvm::Expected<KernelInfo> parseInfo(const std::string &text) {
  auto bad = [](const std::string &why) {
    return llvm::createStringError("malformed kernel description: " + why);
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

Kernel::Kernel(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
Kernel::~Kernel() = default;

const KernelInfo &Kernel::info() const { return impl->info; }

const attn_variant_info *Kernel::variantInfo(attn_dtype dtype) const {
  const Impl::Entry *e = impl->find(dtype);
  return e ? &e->cinfo : nullptr;
}

attn_tile_fn Kernel::tileFunction(attn_dtype dtype) const {
  const Impl::Entry *e = impl->find(dtype);
  return e ? e->fn : nullptr;
}

static std::string builtFor(const KernelInfo &info) {
  std::string s;
  for (attn_dtype d : info.dtypes)
    s += (s.empty() ? "" : ", ") + std::string(dtypeLabel(d));
  return s;
}

attn_status Kernel::run(const attn_tensor &q, const attn_tensor &k, const attn_tensor &v,
                        attn_tensor &o, attn_tensor *lse, const double *params,
                        const attn_tensor *tensors, int64_t qOffset, int32_t threads) const {
  const Impl::Entry *e = impl->find(q.dtype);
  if (!e) {
    const char *name = (unsigned)q.dtype <= ATTN_BOOL ? dtypeLabel(q.dtype) : "unknown";
    return rt::fail(ATTN_ERROR_UNSUPPORTED,
                    "variant '" + impl->info.variant + "': no kernel for q's dtype " + name +
                        " (this kernel was built for " + builtFor(impl->info) + ")");
  }
  return attn_cpu_launch(&e->cinfo, e->fn, &q, &k, &v, &o, lse, params, tensors, qOffset,
                         threads);
}

attn_status Kernel::run(const attn_tensor &q, const attn_tensor &k, const attn_tensor &v,
                        attn_tensor &o, attn_tensor *lse,
                        const std::map<std::string, double> &params,
                        const std::map<std::string, attn_tensor> &tensors, int64_t qOffset,
                        int32_t threads) const {
  const KernelInfo &info = impl->info;
  auto declared = [](const auto &list) {
    std::string s;
    for (const auto &d : list)
      s += (s.empty() ? "" : ", ") + d.name;
    return s.empty() ? std::string("none") : s;
  };
  std::vector<double> paramValues(info.params.size(), std::numeric_limits<double>::quiet_NaN());
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
  std::vector<attn_tensor> tensorViews(info.tensors.size());
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
  return run(q, k, v, o, lse, paramValues.empty() ? nullptr : paramValues.data(),
             tensorViews.empty() ? nullptr : tensorViews.data(), qOffset, threads);
}

} // namespace attn
