//===- attn-npy.cpp - make, inspect and compare .npy files ----------------===//
//
//   attn-npy rand --shape 2,4,16,32 [--dtype f32] [--seed 1] [--min -1]
//                 [--max 1] [--int] -o x.npy
//   attn-npy make --shape 2,3 [--dtype i32] --values 0,0,1,1,2,2 -o x.npy
//   attn-npy compare a.npy b.npy [--atol 1e-5] [--rtol 1e-4]
//   attn-npy show x.npy [--count 8]
//
// The machines have no NumPy; lit tests and the README use this instead.
// Exit status: 0 ok, 1 compare found elements over tolerance, 2 usage or
// file errors. Plain C++ on libattnrt (no LLVM).
//
//===----------------------------------------------------------------------===//
#include "attn/npy.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

const char *const kUsage =
    "usage:\n"
    "  attn-npy rand --shape D0,D1,... [--dtype f32|f64|f16|bf16|i32|bool] [--seed N]\n"
    "                [--min X] [--max Y] [--int] -o OUT.npy\n"
    "      uniform random values in [min, max) (default [-1, 1)); with --int,\n"
    "      integers in [min, max] inclusive (dtype defaults to i32)\n"
    "  attn-npy make --shape D0,D1,... [--dtype T] --values V0,V1,... -o OUT.npy\n"
    "      the given values in C order (one value fills the whole array)\n"
    "  attn-npy compare A.npy B.npy [--atol 1e-5] [--rtol 1e-4]\n"
    "      prints the max abs/rel error; exit 1 unless |a-b| <= atol + rtol*|b|\n"
    "      everywhere (like numpy.allclose: equal infinities match, NaN never)\n"
    "  attn-npy show X.npy [--count 8]\n"
    "      shape, dtype, the first values and min/max/mean\n";

int usageError(const std::string &msg) {
  std::fprintf(stderr, "attn-npy: error: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

int fileError(const std::string &what) {
  std::fprintf(stderr, "attn-npy: error: %s\n", what.c_str());
  return 2;
}

bool parseDouble(const std::string &s, double &out) {
  if (s.empty())
    return false;
  char *end = nullptr;
  errno = 0;
  out = std::strtod(s.c_str(), &end);
  return *end == '\0' && errno == 0;
}

bool parseInt(const std::string &s, int64_t &out) {
  if (s.empty())
    return false;
  char *end = nullptr;
  errno = 0;
  out = std::strtoll(s.c_str(), &end, 10);
  return *end == '\0' && errno == 0;
}

std::vector<std::string> splitCommas(const std::string &s) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t comma = s.find(',', start);
    parts.push_back(s.substr(start, comma - start));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return parts;
}

bool parseShape(const std::string &s, std::vector<int64_t> &shape) {
  shape.clear();
  if (s.empty() || s == "()")
    return true; // a scalar
  for (auto &part : splitCommas(s)) {
    int64_t v;
    if (!parseInt(part, v) || v < 0)
      return false;
    shape.push_back(v);
  }
  return shape.size() <= ATTN_MAX_RANK;
}

std::string shapeString(const attn_npy_array &a) {
  std::string s = "[";
  for (int r = 0; r < a.rank; ++r)
    s += (r ? ", " : "") + std::to_string(a.shape[r]);
  return s + "]";
}

/// splitmix64: a small, fully specified generator (same numbers everywhere).
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return (double)(next() >> 11) * 0x1.0p-53; }
};

/// Options shared by `rand` and `make`.
struct MakeOptions {
  std::vector<int64_t> shape;
  bool haveShape = false;
  attn_dtype dtype = ATTN_F32;
  bool haveDtype = false;
  std::string output;
};

bool takeValue(int argc, char **argv, int &a, std::string &out, int &rc) {
  if (a + 1 >= argc) {
    rc = usageError(std::string("option '") + argv[a] + "' needs a value");
    return false;
  }
  out = argv[++a];
  return true;
}

/// Handles --shape, --dtype, -o. Returns true if `argv[a]` was one of them.
bool commonOption(int argc, char **argv, int &a, MakeOptions &o, int &rc) {
  std::string arg = argv[a], val;
  if (arg == "--shape") {
    if (!takeValue(argc, argv, a, val, rc))
      return true;
    if (!parseShape(val, o.shape))
      rc = usageError("bad --shape '" + val +
                      "' (want comma-separated non-negative integers)");
    o.haveShape = true;
    return true;
  }
  if (arg == "--dtype") {
    if (!takeValue(argc, argv, a, val, rc))
      return true;
    if (attn_dtype_from_name(val.c_str(), &o.dtype) != 0)
      rc = usageError("unknown --dtype '" + val + "' (f32, f64, f16, bf16, i32)");
    o.haveDtype = true;
    return true;
  }
  if (arg == "-o" || arg == "--output") {
    takeValue(argc, argv, a, o.output, rc);
    return true;
  }
  return false;
}

int writeArray(const MakeOptions &o, const std::vector<double> &values) {
  attn_npy_array arr;
  if (attn_npy_alloc(o.dtype, (int32_t)o.shape.size(), o.shape.data(), &arr) ||
      attn_npy_from_f64(&arr, values.data(), (int64_t)values.size()))
    return fileError(attn_last_error());
  attn_status s = attn_npy_write(o.output.c_str(), &arr);
  attn_npy_free(&arr);
  if (s)
    return fileError(attn_last_error());
  return 0;
}

int64_t numElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t s : shape)
    if (__builtin_mul_overflow(n, s, &n) || n > ((int64_t)1 << 32))
      return -1;
  return n;
}

int randMain(int argc, char **argv) {
  MakeOptions o;
  double lo = -1, hi = 1;
  int64_t seed = 0;
  bool ints = false;
  int rc = 0;
  for (int a = 0; a < argc && rc == 0; ++a) {
    std::string arg = argv[a], val;
    if (commonOption(argc, argv, a, o, rc))
      continue;
    if (arg == "--int") {
      ints = true;
    } else if (arg == "--seed" || arg == "--min" || arg == "--max") {
      if (!takeValue(argc, argv, a, val, rc))
        break;
      bool ok = arg == "--seed" ? parseInt(val, seed)
                                : parseDouble(val, arg == "--min" ? lo : hi);
      if (!ok)
        rc = usageError("bad value '" + val + "' for " + arg);
    } else {
      rc = usageError("unknown option '" + arg + "' for 'rand'");
    }
  }
  if (rc)
    return rc;
  if (!o.haveShape || o.output.empty())
    return usageError("'rand' needs --shape and -o");
  if (ints && !o.haveDtype)
    o.dtype = ATTN_I32;
  if (ints ? hi < lo : !(hi > lo))
    return usageError("--max must be greater than --min");
  int64_t n = numElements(o.shape);
  if (n < 0)
    return usageError("shape too large");
  Rng rng{(uint64_t)seed * 0x2545f4914f6cdd1dull + 1};
  std::vector<double> values(n);
  for (auto &x : values) {
    if (ints) {
      int64_t l = (int64_t)std::ceil(lo), h = (int64_t)std::floor(hi);
      x = (double)(l + (int64_t)(rng.next() % (uint64_t)(h - l + 1)));
    } else {
      x = lo + (hi - lo) * rng.uniform();
    }
  }
  return writeArray(o, values);
}

int makeMain(int argc, char **argv) {
  MakeOptions o;
  std::vector<double> values;
  bool haveValues = false;
  int rc = 0;
  for (int a = 0; a < argc && rc == 0; ++a) {
    std::string arg = argv[a], val;
    if (commonOption(argc, argv, a, o, rc))
      continue;
    if (arg == "--values") {
      if (!takeValue(argc, argv, a, val, rc))
        break;
      haveValues = true;
      for (auto &part : splitCommas(val)) {
        double x;
        if (!parseDouble(part, x)) {
          rc = usageError("bad value '" + part + "' in --values");
          break;
        }
        values.push_back(x);
      }
    } else {
      rc = usageError("unknown option '" + arg + "' for 'make'");
    }
  }
  if (rc)
    return rc;
  if (!o.haveShape || !haveValues || o.output.empty())
    return usageError("'make' needs --shape, --values and -o");
  int64_t n = numElements(o.shape);
  if (n < 0)
    return usageError("shape too large");
  if (values.size() == 1)
    values.assign(n, values[0]);
  if ((int64_t)values.size() != n)
    return usageError("--values has " + std::to_string(values.size()) +
                      " values, the shape needs " + std::to_string(n));
  return writeArray(o, values);
}

bool load(const std::string &path, attn_npy_array &arr,
          std::vector<double> &values) {
  if (attn_npy_read(path.c_str(), &arr) != ATTN_OK) {
    fileError(attn_last_error());
    return false;
  }
  values.resize(attn_npy_num_elements(&arr));
  attn_npy_to_f64(&arr, values.data());
  return true;
}

int compareMain(int argc, char **argv) {
  std::vector<std::string> files;
  double atol = 1e-5, rtol = 1e-4;
  int rc = 0;
  for (int a = 0; a < argc && rc == 0; ++a) {
    std::string arg = argv[a], val;
    if (arg == "--atol" || arg == "--rtol") {
      if (!takeValue(argc, argv, a, val, rc))
        break;
      if (!parseDouble(val, arg == "--atol" ? atol : rtol))
        rc = usageError("bad value '" + val + "' for " + arg);
    } else if (!arg.empty() && arg[0] == '-') {
      rc = usageError("unknown option '" + arg + "' for 'compare'");
    } else {
      files.push_back(arg);
    }
  }
  if (rc)
    return rc;
  if (files.size() != 2)
    return usageError("'compare' needs exactly two files");
  attn_npy_array a, b;
  std::vector<double> x, y;
  if (!load(files[0], a, x))
    return 2;
  if (!load(files[1], b, y)) {
    attn_npy_free(&a);
    return 2;
  }
  std::string sa = shapeString(a), sb = shapeString(b);
  attn_npy_free(&a);
  attn_npy_free(&b);
  if (sa != sb)
    return fileError("shapes differ: " + files[0] + " is " + sa + ", " +
                     files[1] + " is " + sb);
  double maxAbs = 0, maxRel = 0;
  int64_t over = 0, worst = -1;
  for (size_t e = 0; e < x.size(); ++e) {
    // Equal values (also equal infinities) match; a NaN never does.
    bool same = x[e] == y[e];
    double d = same ? 0 : std::fabs(x[e] - y[e]);
    bool bad = !same && !(d <= atol + rtol * std::fabs(y[e]));
    if (std::isnan(d))
      d = INFINITY;
    double rel = d == 0 ? 0 : d / std::fabs(y[e]);
    if (worst < 0 || d > maxAbs) {
      maxAbs = d;
      worst = (int64_t)e;
    }
    if (rel > maxRel)
      maxRel = rel;
    over += bad;
  }
  std::printf("compared %zu elements %s: max abs error %.6g, max rel error "
              "%.6g; %lld over atol=%g rtol=%g\n",
              x.size(), sa.c_str(), maxAbs, maxRel, (long long)over, atol, rtol);
  if (over && worst >= 0)
    std::printf("worst at flat index %lld: %.9g vs %.9g\n", (long long)worst,
                x[worst], y[worst]);
  return over ? 1 : 0;
}

int showMain(int argc, char **argv) {
  std::string file;
  int64_t count = 8;
  int rc = 0;
  for (int a = 0; a < argc && rc == 0; ++a) {
    std::string arg = argv[a], val;
    if (arg == "--count") {
      if (!takeValue(argc, argv, a, val, rc))
        break;
      if (!parseInt(val, count) || count < 0)
        rc = usageError("bad value '" + val + "' for --count");
    } else if (!arg.empty() && arg[0] == '-') {
      rc = usageError("unknown option '" + arg + "' for 'show'");
    } else if (file.empty()) {
      file = arg;
    } else {
      rc = usageError("'show' takes one file");
    }
  }
  if (rc)
    return rc;
  if (file.empty())
    return usageError("'show' needs a file");
  attn_npy_array arr;
  std::vector<double> x;
  if (!load(file, arr, x))
    return 2;
  std::printf("%s: shape %s dtype %s (%s)\n", file.c_str(),
              shapeString(arr).c_str(), attn_dtype_name(arr.dtype),
              attn_npy_descr(arr.dtype));
  attn_npy_free(&arr);
  std::printf("values:");
  for (int64_t e = 0; e < (int64_t)x.size() && e < count; ++e)
    std::printf(" %.6g", x[e]);
  if ((int64_t)x.size() > count)
    std::printf(" ...");
  std::printf("\n");
  if (!x.empty()) {
    double lo = x[0], hi = x[0], sum = 0;
    for (double v : x) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      sum += v;
    }
    std::printf("min %.6g max %.6g mean %.6g\n", lo, hi, sum / x.size());
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    return usageError("missing command");
  std::string cmd = argv[1];
  if (cmd == "rand")
    return randMain(argc - 2, argv + 2);
  if (cmd == "make")
    return makeMain(argc - 2, argv + 2);
  if (cmd == "compare")
    return compareMain(argc - 2, argv + 2);
  if (cmd == "show")
    return showMain(argc - 2, argv + 2);
  if (cmd == "-h" || cmd == "--help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  return usageError("unknown command '" + cmd + "'");
}
