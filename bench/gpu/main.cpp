//===- main.cpp - attn-gpu-bench: check and time attnc's GPU kernels ------===//
//
// attn-gpu-bench --dir DIR [options]
//
// DIR holds attnc's GPU output: <variant>_<dtype>.cubin per kernel and
// <variant>.info per variant (VariantFile.h; for the anchor variants of
// examples/ the built-in description is used when the .info is missing).
// For every dtype asked for (bf16, f16 by default) and every shape (small
// check shapes with odd sizes, then the timed MHA, GQA 32/8 and decode
// shapes) it runs every variant on random inputs, compares the output (and
// log-sum-exp) with a float64 evaluator (Reference.h) on every row of the
// check shapes and on sampled rows of the timed ones, checks that every
// output element was written (outputs are poisoned with NaN), then times
// the kernel with CUDA events (warm-up, median of --reps; fewer when a launch
// is so slow that a row would take over --max-seconds) and prints
// TFLOP/s (4*B*H*Sq*Skv*D*kept / time) or, for decode, TB/s over the kept
// K and V bytes. One JSON object per row goes to --json (peers.py reads it).
// --class-table keeps each call's tile-class table (attn_gpu_class_table) as
// FlexAttention's timing keeps its BlockMask: one launch fills it, the checked
// launch (after the output is poisoned) and the timed ones read it as it is.
//
// Exit status: 0 all checks passed, 1 a check failed, 2 no GPU or nothing to run.
//
//===----------------------------------------------------------------------===//
#include "attn/gpu.h"
#include "bench/gpu/Reference.h"
#include "bench/gpu/VariantFile.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace attn::gpubench;

namespace {

//===----------------------------------------------------------------------===//
// Options
//===----------------------------------------------------------------------===//

struct Options {
  std::string dir;
  std::vector<std::string> dtypes = {"bf16", "f16"};
  std::set<std::string> variants; ///< empty: all
  std::set<std::string> shapes;   ///< empty: all
  std::vector<int64_t> seqs = {2048};
  std::vector<int64_t> decodeKv = {8192};
  /// Head dimensions of the timed prefill shapes: 128 names them mha_<S> /
  /// gqa_<S>, any other D mha_<S>_d<D> / gqa_<S>_d<D> (the other tiers).
  std::vector<int64_t> headDims = {128};
  int warmup = 3, reps = 20;
  double maxSeconds = 3; ///< timing budget of one row
  bool checkOnly = false;
  /// Keep each call's tile-class table (attn_gpu_class_table) across its
  /// launches, as FlexAttention's timing keeps its BlockMask: the timed
  /// launches skip the `_classes` kernel.
  bool classTable = false;
  std::string json;
};

std::vector<std::string> splitList(const std::string &s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty())
      out.push_back(item);
  return out;
}

void usage() {
  std::printf(
      "usage: attn-gpu-bench --dir DIR [--dtypes bf16,f16] [--variants a,b] [--seq 2048,8192]\n"
      "                      [--decode-kv 8192,32768] [--head-dims 64,128,256] [--warmup N]\n"
      "                      [--reps N] [--check-only]\n"
      "                      [--shapes NAME,...] [--max-seconds S] [--json FILE] [--class-table]\n"
      "DIR: <variant>_<dtype>.cubin (+ <variant>.info) as written by attnc --target gpu --emit cubin\n");
}

bool parseOptions(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string &out) {
      if (auto eq = a.find('='); eq != std::string::npos) {
        out = a.substr(eq + 1);
        a = a.substr(0, eq);
        return true;
      }
      if (i + 1 >= argc)
        return false;
      out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      usage();
      std::exit(0);
    } else if (a == "--check-only") {
      o.checkOnly = true;
    } else if (a == "--class-table") {
      o.classTable = true;
    } else if (a.rfind("--dir", 0) == 0 && value(v)) {
      o.dir = v;
    } else if (a.rfind("--dtypes", 0) == 0 && value(v)) {
      o.dtypes = splitList(v);
    } else if (a.rfind("--variants", 0) == 0 && value(v)) {
      for (auto &x : splitList(v))
        o.variants.insert(x);
    } else if (a.rfind("--shapes", 0) == 0 && value(v)) {
      for (auto &x : splitList(v))
        o.shapes.insert(x);
    } else if (a.rfind("--seq", 0) == 0 && value(v)) {
      o.seqs.clear();
      for (auto &x : splitList(v))
        o.seqs.push_back(std::stoll(x));
    } else if (a.rfind("--head-dims", 0) == 0 && value(v)) {
      o.headDims.clear();
      for (auto &x : splitList(v))
        o.headDims.push_back(std::stoll(x));
    } else if (a.rfind("--decode-kv", 0) == 0 && value(v)) {
      o.decodeKv.clear();
      for (auto &x : splitList(v))
        o.decodeKv.push_back(std::stoll(x));
    } else if (a.rfind("--max-seconds", 0) == 0 && value(v)) {
      o.maxSeconds = std::stod(v);
    } else if (a.rfind("--warmup", 0) == 0 && value(v)) {
      o.warmup = std::stoi(v);
    } else if (a.rfind("--reps", 0) == 0 && value(v)) {
      o.reps = std::stoi(v);
    } else if (a.rfind("--json", 0) == 0 && value(v)) {
      o.json = v;
    } else {
      std::fprintf(stderr, "attn-gpu-bench: unknown or incomplete option '%s'\n", argv[i]);
      usage();
      return false;
    }
  }
  if (o.dir.empty()) {
    usage();
    return false;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Numbers
//===----------------------------------------------------------------------===//

uint16_t toBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return 0x7fc0;
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
float fromBf16(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t toF16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  if (x > 0x7f800000u)
    return static_cast<uint16_t>(sign | 0x7e00u);
  if (x >= 0x477ff000u)
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (x < 0x38800000u) {
    float a;
    std::memcpy(&a, &x, 4);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));
  }
  uint32_t r = x + 0xfffu + ((x >> 13) & 1u) - 0x38000000u;
  return static_cast<uint16_t>(sign | (r >> 13));
}
float fromF16(uint16_t h) {
  uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
  float f;
  if (e == 0)
    f = std::ldexp(static_cast<float>(m), -24);
  else if (e == 31)
    f = m ? NAN : INFINITY;
  else
    f = std::ldexp(static_cast<float>(m | 0x400), static_cast<int>(e) - 25);
  return (h & 0x8000u) ? -f : f;
}

/// Fast normal-ish numbers (sum of four uniforms, unit variance): enough for
/// attention inputs, and quick for tensors of tens of millions of elements.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  float normal() {
    uint64_t x = next();
    float sum = 0;
    for (int k = 0; k < 4; ++k)
      sum += static_cast<float>((x >> (16 * k)) & 0xffff) * (1.0f / 65536.0f);
    return (sum - 2.0f) * 1.7320508f;
  }
};

//===----------------------------------------------------------------------===//
// Device buffers
//===----------------------------------------------------------------------===//

struct DeviceBuffer {
  void *ptr = nullptr;
  size_t bytes = 0;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  ~DeviceBuffer() { attn_gpu_free(ptr); }
  bool alloc(size_t n) {
    attn_gpu_free(ptr);
    ptr = nullptr;
    bytes = n;
    if (attn_gpu_alloc(std::max<size_t>(n, 4), &ptr) != ATTN_OK) {
      std::fprintf(stderr, "attn_gpu_alloc(%zu): %s\n", n, attn_last_error());
      return false;
    }
    return true;
  }
  bool upload(const void *src, size_t n) {
    if (attn_gpu_copy_to_device(ptr, src, n) != ATTN_OK) {
      std::fprintf(stderr, "copy to device: %s\n", attn_last_error());
      return false;
    }
    return true;
  }
};

attn_tensor view(attn_dtype dtype, std::vector<int64_t> shape, void *data) {
  attn_tensor t{};
  t.data = data;
  t.dtype = dtype;
  t.rank = static_cast<int32_t>(shape.size());
  int64_t stride = 1;
  for (int i = t.rank - 1; i >= 0; --i) {
    t.shape[i] = shape[i];
    t.strides[i] = stride;
    stride *= shape[i];
  }
  return t;
}

//===----------------------------------------------------------------------===//
// Variants and shapes
//===----------------------------------------------------------------------===//

/// A variant with its kernels (one cubin per dtype).
struct Variant {
  std::string name, anchor;
  std::unique_ptr<VariantDescription> desc;
  std::map<std::string, std::vector<char>> images; ///< dtype -> cubin bytes
  std::map<std::string, attn_gpu_module *> modules;
};

/// One shape of the table.
struct Shape {
  std::string name;
  Problem p;
  bool timed;
  std::map<std::string, double> params; ///< overrides by param name
};

std::vector<Shape> shapes(const Options &o) {
  std::vector<Shape> out;
  // Check shapes: odd sizes (D = 63 among them), GQA, MQA, decode, explicit
  // q_offset, small windows and caps so that every mask and score term matters.
  std::map<std::string, double> small = {{"window", 37}, {"cap", 2.0}};
  auto add = [&](std::string name, int64_t B, int64_t H, int64_t Hkv, int64_t Sq, int64_t Skv,
                 int64_t D, int64_t qOff, bool timed, std::map<std::string, double> params) {
    Shape s{std::move(name), {}, timed, std::move(params)};
    s.p.B = B, s.p.H = H, s.p.Hkv = Hkv, s.p.Sq = Sq, s.p.Skv = Skv, s.p.D = D;
    s.p.qOffset = qOff;
    out.push_back(std::move(s));
  };
  add("check_mha", 2, 4, 4, 257, 257, 64, -1, false, small);
  add("check_gqa", 1, 8, 2, 200, 200, 128, -1, false, small);
  add("check_mqa_d80", 2, 4, 1, 65, 65, 80, -1, false, small);
  add("check_decode", 3, 8, 2, 1, 1000, 128, -1, false, small);
  add("check_chunk", 1, 4, 4, 64, 300, 64, -1, false, small);
  add("check_q_offset", 1, 4, 2, 64, 300, 64, 100, false, small);
  add("check_d256", 1, 2, 1, 70, 150, 256, -1, false, small);
  // An odd head dimension: no 16-byte copies, no tensor maps, O stored value by value.
  add("check_d63", 1, 4, 2, 130, 200, 63, -1, false, small);
  if (o.checkOnly)
    return out;
  for (int64_t D : o.headDims)
    for (int64_t S : o.seqs) {
      int64_t B = std::max<int64_t>(1, 4 * 2048 / S);
      std::string tail = std::to_string(S) + (D == 128 ? "" : "_d" + std::to_string(D));
      add("mha_" + tail, B, 16, 16, S, S, D, -1, true, {});
      add("gqa_" + tail, B, 32, 8, S, S, D, -1, true, {});
    }
  for (int64_t Skv : o.decodeKv)
    add("decode_" + std::to_string(Skv), 8, 32, 8, 1, Skv, 128, -1, true, {});
  return out;
}

bool readFile(const fs::path &path, std::vector<char> &out) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return false;
  out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return true;
}

/// Finds <variant>_<dtype>.cubin files and their descriptions in `dir`.
/// Unreadable files and malformed descriptions count in `problems`.
std::vector<std::unique_ptr<Variant>> discover(const Options &o, int &problems) {
  std::map<std::string, std::unique_ptr<Variant>> byName;
  std::error_code ec;
  for (const auto &entry : fs::directory_iterator(o.dir, ec)) {
    if (entry.path().extension() != ".cubin")
      continue;
    std::string stem = entry.path().stem().string();
    auto us = stem.rfind('_');
    if (us == std::string::npos) {
      std::printf("skip %s: not <variant>_<dtype>.cubin\n", entry.path().c_str());
      continue;
    }
    std::string name = stem.substr(0, us), dtype = stem.substr(us + 1);
    attn_dtype t;
    if (!parseDtype(dtype, t) || (t != ATTN_F32 && t != ATTN_F16 && t != ATTN_BF16)) {
      std::printf("skip %s: dtype '%s' is not f32, f16 or bf16\n", entry.path().c_str(),
                  dtype.c_str());
      continue;
    }
    if (std::find(o.dtypes.begin(), o.dtypes.end(), dtype) == o.dtypes.end())
      continue;
    if (!o.variants.empty() && !o.variants.count(name))
      continue;
    auto &v = byName[name];
    if (!v) {
      v = std::make_unique<Variant>();
      v->name = name;
    }
    if (!readFile(entry.path(), v->images[dtype])) {
      std::printf("FAIL %s: cannot read it\n", entry.path().c_str());
      ++problems;
      v->images.erase(dtype);
    }
  }
  if (ec)
    std::printf("cannot list %s: %s\n", o.dir.c_str(), ec.message().c_str());
  std::vector<std::unique_ptr<Variant>> out;
  for (auto &[name, v] : byName) {
    v->anchor = anchorName(name);
    fs::path info = fs::path(o.dir) / (name + ".info");
    std::string error;
    if (fs::exists(info)) {
      v->desc = readVariantFile(info.string(), error);
      if (!v->desc) {
        std::printf("FAIL %s: %s\n", name.c_str(), error.c_str());
        ++problems;
        continue;
      }
    } else if (!v->anchor.empty()) {
      std::printf("note: %s has no %s.info; using the built-in description of %s\n",
                  name.c_str(), name.c_str(), v->anchor.c_str());
      v->desc = anchorDescription(v->anchor);
      v->desc->name = name;
    } else {
      std::printf("skip %s: no %s.info and not an anchor variant\n", name.c_str(), name.c_str());
      continue;
    }
    if (v->anchor.empty()) {
      std::printf("skip %s: the float64 evaluator knows only the anchor variants (full, causal, "
                  "sliding_window, alibi_causal, softcap, prefix_lm, document, sigmoid_attn)\n",
                  name.c_str());
      continue;
    }
    if (v->images.empty())
      continue;
    out.push_back(std::move(v));
  }
  return out;
}

//===----------------------------------------------------------------------===//
// One row of the table
//===----------------------------------------------------------------------===//

struct Result {
  std::string shape, variant, dtype;
  Problem p;
  double kept = 1, relErr = NAN, lseErr = NAN, ms = NAN, tflops = NAN, tbps = NAN;
  int64_t unwritten = 0, rowsChecked = 0;
  int reps = 0;
  bool ok = false, timed = false;
  std::string error;
};

std::string jsonEscape(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20)
      out += ' ';
    else
      out += c;
  }
  return out;
}

std::string toJson(const Result &r) {
  auto num = [](double x) {
    if (!std::isfinite(x))
      return std::string("null");
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", x);
    return std::string(buf);
  };
  std::ostringstream os;
  os << "{\"case\": \"" << r.shape << "\", \"variant\": \"" << r.variant << "\", \"dtype\": \""
     << r.dtype << "\", \"B\": " << r.p.B << ", \"Hq\": " << r.p.H << ", \"Hkv\": " << r.p.Hkv
     << ", \"Sq\": " << r.p.Sq << ", \"Skv\": " << r.p.Skv << ", \"D\": " << r.p.D
     << ", \"q_offset\": " << r.p.offset() << ", \"kept\": " << num(r.kept)
     << ", \"rel_err\": " << num(r.relErr) << ", \"lse_err\": " << num(r.lseErr)
     << ", \"unwritten\": " << r.unwritten << ", \"ok\": " << (r.ok ? "true" : "false")
     << ", \"timed\": " << (r.timed ? "true" : "false") << ", \"reps\": " << r.reps
     << ", \"ms\": " << num(r.ms)
     << ", \"tflops\": " << num(r.tflops) << ", \"tbps\": " << num(r.tbps)
     << ", \"error\": \"" << jsonEscape(r.error) << "\"}";
  return os.str();
}

/// Inputs of one (shape, dtype) on host and device, shared by every variant.
struct ShapeData {
  HostInputs in;
  attn_dtype dtype;
  size_t es;
  DeviceBuffer q, k, v, o, lse, prefixLen, doc;
  std::vector<unsigned char> poison;

  bool make(const Problem &p, attn_dtype t, uint64_t seed) {
    in.p = p;
    dtype = t;
    es = attn_dtype_size(t);
    Rng rng(seed);
    auto fill = [&](std::vector<float> &host, DeviceBuffer &dev, int64_t n) {
      host.resize(static_cast<size_t>(n));
      std::vector<uint16_t> bits(t == ATTN_F32 ? 0 : static_cast<size_t>(n));
      for (int64_t e = 0; e < n; ++e) {
        float x = rng.normal();
        if (t == ATTN_BF16)
          x = fromBf16(bits[e] = toBf16(x));
        else if (t == ATTN_F16)
          x = fromF16(bits[e] = toF16(x));
        host[e] = x;
      }
      const void *src = t == ATTN_F32 ? static_cast<const void *>(host.data()) : bits.data();
      return dev.alloc(n * es) && dev.upload(src, n * es);
    };
    if (!fill(in.q, q, p.B * p.H * p.Sq * p.D) || !fill(in.k, k, p.B * p.Hkv * p.Skv * p.D) ||
        !fill(in.v, v, p.B * p.Hkv * p.Skv * p.D))
      return false;
    fillExtraTensors(in);
    if (!prefixLen.alloc(in.prefixLen.size() * 4) ||
        !prefixLen.upload(in.prefixLen.data(), in.prefixLen.size() * 4) ||
        !doc.alloc(in.doc.size() * 4) || !doc.upload(in.doc.data(), in.doc.size() * 4))
      return false;
    if (!o.alloc(static_cast<size_t>(p.B * p.H * p.Sq * p.D) * es) ||
        !lse.alloc(static_cast<size_t>(p.B * p.H * p.Sq) * 4))
      return false;
    poison.assign(std::max(o.bytes, lse.bytes), 0xff); // NaN in f32, f16 and bf16
    return true;
  }
};

/// Checks and times one variant on one shape.
Result runOne(Variant &var, const std::string &dtypeName, const Shape &shape, ShapeData &data,
              const Options &opt) {
  Result r;
  r.shape = shape.name;
  r.variant = var.name;
  r.dtype = dtypeName;
  r.p = shape.p;
  r.timed = shape.timed && !opt.checkOnly;
  const Problem &p = shape.p;
  VariantDescription &desc = *var.desc;
  attn_variant_info info = desc.info(data.dtype);
  std::string kernel = desc.kernelName(dtypeName);
  attn_gpu_module *module = var.modules[dtypeName];

  // Params in the kernel's order (defaults, then the shape's overrides), and
  // the evaluator's params by name.
  std::vector<double> params(desc.params.size());
  for (size_t k = 0; k < params.size(); ++k) {
    params[k] = desc.params[k].has_default ? desc.params[k].default_value : NAN;
    auto it = shape.params.find(desc.paramNames[k]);
    if (it != shape.params.end())
      params[k] = it->second;
  }
  Evaluator eval;
  eval.anchor = var.anchor;
  auto anchorDesc = anchorDescription(var.anchor);
  for (const std::string &name : anchorDesc->paramNames) {
    auto it = std::find(desc.paramNames.begin(), desc.paramNames.end(), name);
    if (it == desc.paramNames.end()) {
      r.error = "the description declares no param '" + name + "'";
      return r;
    }
    eval.params.push_back(params[it - desc.paramNames.begin()]);
  }
  // Extra tensors by name.
  std::vector<attn_tensor> tensors;
  for (const std::string &name : desc.tensorNames) {
    if (name == "prefix_len")
      tensors.push_back(view(ATTN_I32, {p.B}, data.prefixLen.ptr));
    else if (name == "doc")
      tensors.push_back(view(ATTN_I32, {p.B, p.Skv}, data.doc.ptr));
    else {
      r.error = "unknown extra tensor '" + name + "'";
      return r;
    }
  }
  r.kept = eval.keptFraction(data.in);

  attn_tensor q = view(data.dtype, {p.B, p.H, p.Sq, p.D}, data.q.ptr);
  attn_tensor k = view(data.dtype, {p.B, p.Hkv, p.Skv, p.D}, data.k.ptr);
  attn_tensor v = view(data.dtype, {p.B, p.Hkv, p.Skv, p.D}, data.v.ptr);
  attn_tensor o = view(data.dtype, {p.B, p.H, p.Sq, p.D}, data.o.ptr);
  attn_tensor lse = view(ATTN_F32, {p.B, p.H, p.Sq}, data.lse.ptr);
  attn_tensor *lsePtr = info.has_lse && eval.hasLse() ? &lse : nullptr;
  const attn_tensor *tensorPtr = tensors.empty() ? nullptr : tensors.data();

  // --class-table: a table filled by one launch, then read as it is by the
  // checked launch and the timed ones.
  DeviceBuffer tableMemory;
  attn_gpu_class_table table{nullptr, 0, 0};
  attn_gpu_class_table *tablePtr = nullptr;
  if (opt.classTable) {
    size_t bytes = 0;
    if (attn_gpu_class_table_bytes(&info, module, kernel.c_str(), &q, &k, &v, &o, lsePtr,
                                   params.data(), tensorPtr, p.qOffset, &bytes) != ATTN_OK) {
      r.error = attn_last_error();
      return r;
    }
    if (bytes > 0) {
      if (!tableMemory.alloc(bytes)) {
        r.error = "allocating the class table failed";
        return r;
      }
      table = {tableMemory.ptr, bytes, 0};
      tablePtr = &table;
      if (attn_gpu_launch_with_table(&info, module, kernel.c_str(), &q, &k, &v, &o, lsePtr,
                                     params.data(), tensorPtr, p.qOffset, tablePtr,
                                     nullptr) != ATTN_OK ||
          table.filled_for == 0) {
        r.error = std::string("filling the class table: ") + attn_last_error();
        return r;
      }
    }
  }

  // The output poisoned with NaN (every element must be written), and read back.
  auto poisonOutput = [&] {
    if (data.o.upload(data.poison.data(), data.o.bytes) &&
        data.lse.upload(data.poison.data(), data.lse.bytes))
      return true;
    r.error = "poisoning the output failed";
    return false;
  };
  auto downloadOutput = [&](std::vector<unsigned char> &oHost, std::vector<float> &lseHost) {
    oHost.resize(data.o.bytes);
    lseHost.resize(data.lse.bytes / 4);
    if (attn_gpu_copy_to_host(oHost.data(), data.o.ptr, oHost.size()) == ATTN_OK &&
        attn_gpu_copy_to_host(lseHost.data(), data.lse.ptr, data.lse.bytes) == ATTN_OK)
      return true;
    r.error = attn_last_error();
    return false;
  };

  // Check.
  if (!poisonOutput())
    return r;
  auto start = std::chrono::steady_clock::now();
  if (attn_gpu_launch_with_table(&info, module, kernel.c_str(), &q, &k, &v, &o, lsePtr,
                                 params.data(), tensorPtr, p.qOffset, tablePtr,
                                 nullptr) != ATTN_OK) {
    r.error = attn_last_error();
    return r;
  }
  const double checkMs =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::vector<unsigned char> oh;
  std::vector<float> lh;
  if (!downloadOutput(oh, lh))
    return r;
  auto out = [&](size_t e) -> double {
    if (data.dtype == ATTN_F32)
      return reinterpret_cast<const float *>(oh.data())[e];
    uint16_t h = reinterpret_cast<const uint16_t *>(oh.data())[e];
    return data.dtype == ATTN_BF16 ? fromBf16(h) : fromF16(h);
  };
  const size_t nOut = oh.size() / data.es;
  for (size_t e = 0; e < nOut; ++e)
    r.unwritten += std::isnan(out(e));
  // Rows to compare: all when cheap, else a sample with the corners.
  const int64_t rows = p.B * p.H * p.Sq;
  std::vector<int64_t> sample;
  if (static_cast<double>(rows) * p.Skv * p.D < 4e8) {
    for (int64_t id = 0; id < rows; ++id)
      sample.push_back(id);
  } else {
    std::mt19937_64 pick(7);
    sample = {0, rows - 1, p.Sq - 1, rows - p.Sq};
    for (int s = 0; s < 124; ++s)
      sample.push_back(static_cast<int64_t>(pick() % static_cast<uint64_t>(rows)));
  }
  double errSq = 0, refSq = 0, lseErr = 0;
  std::vector<double> ref(static_cast<size_t>(p.D));
  for (int64_t id : sample) {
    int64_t row = id % p.Sq, h = id / p.Sq % p.H, b = id / p.Sq / p.H;
    double refLse;
    eval.row(data.in, b, h, row, ref.data(), &refLse);
    for (int64_t d = 0; d < p.D; ++d) {
      double got = out(static_cast<size_t>(id * p.D + d));
      if (!std::isnan(got))
        errSq += (got - ref[d]) * (got - ref[d]);
      refSq += ref[d] * ref[d];
    }
    if (lsePtr) {
      double got = lh[static_cast<size_t>(id)];
      double e = refLse == -INFINITY ? (got == -INFINITY ? 0.0 : INFINITY)
                                     : (std::isnan(got) ? INFINITY : std::fabs(got - refLse));
      lseErr = std::max(lseErr, e);
    }
  }
  r.rowsChecked = static_cast<int64_t>(sample.size());
  r.relErr = std::sqrt(errSq / std::max(refSq, 1e-300));
  r.lseErr = lsePtr ? lseErr : NAN;
  const double tol = data.dtype == ATTN_BF16 ? 1e-2 : data.dtype == ATTN_F16 ? 3e-3 : 1e-4;
  r.ok = r.unwritten == 0 && r.relErr < tol && (!lsePtr || lseErr < 2e-3);
  if (!r.ok) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "check failed: rel err %.2e (tol %.0e), lse err %.2e, %lld unwritten",
                  r.relErr, tol, lseErr, static_cast<long long>(r.unwritten));
    r.error = buf;
    return r;
  }
  if (!r.timed)
    return r;

  // Time: at most about --max-seconds per row (slow kernels get fewer reps).
  int reps = opt.reps, warmup = opt.warmup;
  const double budgetMs = opt.maxSeconds * 1000.0;
  if (checkMs * (reps + warmup) > budgetMs) {
    warmup = std::min(warmup, 1);
    reps = std::max(3, static_cast<int>(budgetMs / std::max(checkMs, 1e-3)) - warmup);
    reps = std::min(reps, opt.reps);
  }
  r.reps = reps;
  double median = 0;
  // The timed launches (enqueued again on one argument block) must write
  // what the checked one wrote, byte for byte: the output is poisoned
  // first and compared after (a persistent producer kernel's item counter
  // must be back at zero for each of them).
  if (!poisonOutput()) {
    r.ok = false;
    return r;
  }
  if (attn_gpu_time_launches_with_table(&info, module, kernel.c_str(), &q, &k, &v, &o, lsePtr,
                                        params.data(), tensorPtr, p.qOffset, tablePtr, nullptr,
                                        warmup, reps, nullptr, &median) != ATTN_OK) {
    r.error = attn_last_error();
    r.ok = false;
    return r;
  }
  {
    std::vector<unsigned char> timedO;
    std::vector<float> timedLse;
    if (!downloadOutput(timedO, timedLse)) {
      r.ok = false;
      return r;
    }
    if (timedO != oh || (lsePtr && std::memcmp(timedLse.data(), lh.data(), data.lse.bytes) != 0)) {
      r.error = "the timed launches' output differs from the checked launch's";
      r.ok = false;
      return r;
    }
  }
  r.ms = median;
  double flops = 4.0 * p.B * p.H * p.Sq * p.Skv * p.D * r.kept;
  r.tflops = flops / (median * 1e-3) / 1e12;
  if (p.Sq == 1)
    r.tbps = 2.0 * p.B * p.Hkv * p.Skv * p.D * data.es * r.kept / (median * 1e-3) / 1e12;
  return r;
}

} // namespace

int main(int argc, char **argv) {
  Options opt;
  if (!parseOptions(argc, argv, opt))
    return 2;
  if (attn_gpu_available() != ATTN_OK) {
    std::printf("attn-gpu-bench: no GPU: %s\n", attn_last_error());
    return 2;
  }
  attn_gpu_device_info dev;
  if (attn_gpu_device_properties(&dev) == ATTN_OK)
    std::printf("device %d: %s, sm_%d%d, %d SMs, %.1f GiB, driver CUDA %d.%d\n", dev.ordinal,
                dev.name, dev.cc_major, dev.cc_minor, dev.sm_count,
                dev.total_memory / 1073741824.0, dev.driver_version / 1000,
                dev.driver_version % 1000 / 10);
  int failures = 0;
  auto variants = discover(opt, failures);
  if (variants.empty()) {
    std::printf("attn-gpu-bench: no kernels to run in %s (expected <variant>_<dtype>.cubin for "
                "dtypes", opt.dir.c_str());
    for (auto &d : opt.dtypes)
      std::printf(" %s", d.c_str());
    std::printf(")\n");
    return 2;
  }
  for (auto &v : variants)
    for (auto &[dtype, image] : v->images) {
      attn_gpu_module *m = nullptr;
      if (attn_gpu_module_load(image.data(), image.size(), &m) != ATTN_OK) {
        std::printf("FAIL load %s_%s.cubin: %s\n", v->name.c_str(), dtype.c_str(),
                    attn_last_error());
        ++failures;
        continue;
      }
      v->modules[dtype] = m;
    }

  std::FILE *json = opt.json.empty() ? nullptr : std::fopen(opt.json.c_str(), "w");
  if (!opt.json.empty() && !json)
    std::printf("cannot write %s\n", opt.json.c_str());
  std::vector<Result> results;
  uint64_t seed = 1;
  for (const std::string &dtypeName : opt.dtypes) {
    attn_dtype dtype;
    if (!parseDtype(dtypeName, dtype))
      continue;
    bool any = false;
    for (auto &v : variants)
      any |= v->modules.count(dtypeName) > 0;
    if (!any)
      continue;
    for (const Shape &shape : shapes(opt)) {
      if (!opt.shapes.empty() && !opt.shapes.count(shape.name))
        continue;
      ShapeData data;
      if (!data.make(shape.p, dtype, seed++)) {
        std::printf("FAIL %s %s: could not set up the inputs\n", shape.name.c_str(),
                    dtypeName.c_str());
        ++failures;
        continue;
      }
      for (auto &v : variants) {
        if (!v->modules.count(dtypeName))
          continue;
        Result r = runOne(*v, dtypeName, shape, data, opt);
        failures += !r.ok;
        const Problem &p = r.p;
        std::printf("%-4s %-15s %-14s %-4s B=%lld H=%lld/%lld Sq=%lld Skv=%lld D=%lld kept=%.3f "
                    "err=%.1e",
                    r.ok ? "ok" : "FAIL", r.shape.c_str(), r.variant.c_str(), r.dtype.c_str(),
                    (long long)p.B, (long long)p.H, (long long)p.Hkv, (long long)p.Sq,
                    (long long)p.Skv, (long long)p.D, r.kept, r.relErr);
        if (std::isfinite(r.lseErr))
          std::printf(" lse=%.1e", r.lseErr);
        if (std::isfinite(r.ms))
          std::printf(" %.3f ms %.1f TFLOP/s", r.ms, r.tflops);
        if (std::isfinite(r.tbps))
          std::printf(" %.2f TB/s", r.tbps);
        if (!r.error.empty())
          std::printf("  [%s]", r.error.c_str());
        std::printf("\n");
        std::fflush(stdout);
        if (json) {
          std::fprintf(json, "%s\n", toJson(r).c_str());
          std::fflush(json);
        }
        results.push_back(std::move(r));
      }
    }
  }
  if (json)
    std::fclose(json);

  // The timed rows, last.
  std::printf("\nattnc GPU kernels (median of %d after %d warm-up; TFLOP/s = 4*B*H*Sq*Skv*D*kept "
              "/ time; decode: TB/s over the kept K+V bytes%s)\n",
              opt.reps, opt.warmup,
              opt.classTable ? "; tile classes computed once per call, outside the timing" : "");
  std::printf("%-14s %-14s %-5s %9s %9s %9s %9s %s\n", "case", "variant", "dtype", "kept",
              "ms", "TFLOP/s", "TB/s", "check");
  for (const Result &r : results) {
    if (!r.timed)
      continue;
    std::printf("%-14s %-14s %-5s %9.3f %9.3f %9.1f %9s %s\n", r.shape.c_str(),
                r.variant.c_str(), r.dtype.c_str(), r.kept, r.ms, r.tflops,
                std::isfinite(r.tbps) ? std::to_string(r.tbps).substr(0, 5).c_str() : "-",
                r.ok ? "ok" : "FAIL");
  }
  int checks = 0;
  for (const Result &r : results)
    checks += !r.timed;
  std::printf("%d check rows, %d failures\n", checks, failures);
  for (auto &v : variants)
    for (auto &[dtype, m] : v->modules)
      attn_gpu_module_unload(m);
  return failures ? 1 : 0;
}
