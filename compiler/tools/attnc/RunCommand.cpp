//===- RunCommand.cpp - `attnc run`: run a variant on .npy files ----------===//
//
//   attnc run FILE.attn [--variant NAME] --q q.npy --k k.npy --v v.npy
//       [--tensor NAME=x.npy]... [--param NAME=VALUE]... [--q-offset N]
//       [--lse lse.npy] -o out.npy [--target ref|direct|spatial|cpu|gpu] [--check]
//
// --target ref (the default) lowers the variant through the cascade pipeline
// and interprets the rewritten cascade in float64; --target direct evaluates
// LANGUAGE.md's semantics straight from the AST (DirectEval). --check also
// runs DirectEval and prints the output's max abs error against it. The
// output has q's dtype; lse is f32 (f64 for f64 inputs).
//
// Options are parsed by hand (they repeat, and `--tensor`/`--param` carry
// names the variant declares). Every user error is a message naming the
// option, tensor or param at fault, and exit status 1.
//
//===----------------------------------------------------------------------===//
#include "compiler/Interpreter/RunReference.h"
#include "compiler/reference/DirectEval.h"
#include "compiler/targets/spatial/RunSpatial.h"
#include "compiler/tools/attnc/Driver.h"

#include "attn/npy.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace attn;

namespace {

const char *const kRunUsage =
    "usage: attnc run FILE.attn [--variant NAME] --q Q.npy --k K.npy --v V.npy\n"
    "         [--tensor NAME=X.npy]... [--param NAME=VALUE]... [--q-offset N]\n"
    "         [--lse LSE.npy] -o OUT.npy [--target ref|direct|spatial|cpu|gpu] [--check]\n"
    "  --target ref (default): the rewritten Einsum cascade, interpreted in float64\n"
    "  --target direct: the language's semantics evaluated from the AST in float64\n"
    "  --target spatial: mapped onto the FuseMax PE arrays (arch/fusemax.json), executed\n"
    "                    tile by tile in float64 and timed by the analytical model\n"
    "  --target cpu: JIT-compiled for the host CPU (attn::Compiler, cached on disk),\n"
    "                for f32, bf16 and f16 inputs\n"
    "  --check: also print the max abs error against --target direct\n";

/// Everything the command line said.
struct RunOptions {
  std::string file, variant, q, k, v, output, lse;
  std::string target = "ref";
  bool check = false;
  bool help = false;
  std::optional<int64_t> qOffset;
  std::vector<std::pair<std::string, std::string>> tensors; // name, path
  std::vector<std::pair<std::string, std::string>> params;  // name, value
};

bool error(const std::string &msg) {
  llvm::errs() << "attnc run: error: " << msg << "\n";
  return false;
}

bool parseInt64(const std::string &s, int64_t &out) {
  if (s.empty())
    return false;
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (*end != '\0' || errno != 0)
    return false;
  out = v;
  return true;
}

bool parseDouble(const std::string &s, double &out) {
  if (s.empty())
    return false;
  char *end = nullptr;
  errno = 0;
  out = std::strtod(s.c_str(), &end);
  return *end == '\0' && errno == 0;
}

bool splitAssign(const std::string &opt, const std::string &val,
                 std::pair<std::string, std::string> &out) {
  size_t eq = val.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == val.size())
    return error(opt + " expects NAME=VALUE, got '" + val + "'");
  out = {val.substr(0, eq), val.substr(eq + 1)};
  return true;
}

bool parseArgs(int argc, char **argv, RunOptions &o) {
  std::map<std::string, bool> seen;
  for (int a = 1; a < argc; ++a) {
    std::string arg = argv[a];
    std::string value;
    bool inlineValue = false;
    if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
      size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        inlineValue = true;
      }
    }
    if (arg == "--check") {
      if (inlineValue)
        return error("--check takes no value");
      o.check = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      o.help = true;
      return true;
    }
    static const char *const valued[] = {"--variant", "--q",   "--k",
                                         "--v",       "-o",    "--output",
                                         "--tensor",  "--param", "--q-offset",
                                         "--lse",     "--target"};
    bool known = false;
    for (const char *v : valued)
      known |= arg == v;
    if (!known) {
      if (!arg.empty() && arg[0] == '-')
        return error("unknown option '" + arg + "'\n" + kRunUsage);
      if (!o.file.empty())
        return error("more than one input file ('" + o.file + "' and '" + arg +
                     "')");
      o.file = arg;
      continue;
    }
    if (!inlineValue) {
      if (a + 1 >= argc)
        return error("option '" + arg + "' needs a value");
      value = argv[++a];
    }
    if (arg == "--tensor" || arg == "--param") {
      std::pair<std::string, std::string> kv;
      if (!splitAssign(arg, value, kv))
        return false;
      auto &list = arg == "--tensor" ? o.tensors : o.params;
      for (auto &prev : list)
        if (prev.first == kv.first)
          return error(arg + " '" + kv.first + "' given twice");
      list.push_back(kv);
      continue;
    }
    std::string key = arg == "--output" ? "-o" : arg;
    if (seen[key])
      return error("option '" + arg + "' given twice");
    seen[key] = true;
    if (arg == "--variant")
      o.variant = value;
    else if (arg == "--q")
      o.q = value;
    else if (arg == "--k")
      o.k = value;
    else if (arg == "--v")
      o.v = value;
    else if (arg == "-o" || arg == "--output")
      o.output = value;
    else if (arg == "--lse")
      o.lse = value;
    else if (arg == "--target") {
      if (value != "ref" && value != "direct" && value != "spatial" && value != "cpu" &&
          value != "gpu")
        return error("unknown --target '" + value +
                     "' (expected ref, direct, spatial, cpu or gpu)");
      o.target = value;
    } else if (arg == "--q-offset") {
      int64_t n;
      if (!parseInt64(value, n))
        return error("--q-offset expects an integer, got '" + value + "'");
      o.qOffset = n;
    }
  }
  if (o.file.empty())
    return error(std::string("no input file\n") + kRunUsage);
  std::string missing;
  if (o.q.empty())
    missing += " --q";
  if (o.k.empty())
    missing += " --k";
  if (o.v.empty())
    missing += " --v";
  if (o.output.empty())
    missing += " -o";
  if (!missing.empty())
    return error("missing required option(s):" + missing + "\n" + kRunUsage);
  return true;
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t d = 0; d < shape.size(); ++d)
    s += (d ? ", " : "") + std::to_string(shape[d]);
  return s + "]";
}

/// Reads `path` into `out`; `what` names it in messages.
bool readNpy(const std::string &path, const std::string &what,
             ref::Array &out, attn_dtype &dtype) {
  attn_npy_array arr;
  if (attn_npy_read(path.c_str(), &arr) != ATTN_OK)
    return error("cannot read " + what + ": " + attn_last_error());
  dtype = arr.dtype;
  out.shape.assign(arr.shape, arr.shape + arr.rank);
  out.data.resize(attn_npy_num_elements(&arr));
  attn_status s = attn_npy_to_f64(&arr, out.data.data());
  attn_npy_free(&arr);
  if (s != ATTN_OK)
    return error("cannot read " + what + ": " + attn_last_error());
  return true;
}

bool writeNpy(const std::string &path, const ref::Array &a, attn_dtype dtype) {
  attn_npy_array arr;
  if (attn_npy_alloc(dtype, (int32_t)a.shape.size(), a.shape.data(), &arr) !=
          ATTN_OK ||
      attn_npy_from_f64(&arr, a.data.data(), (int64_t)a.data.size()) != ATTN_OK)
    return error(std::string("cannot write '") + path + "': " + attn_last_error());
  attn_status s = attn_npy_write(path.c_str(), &arr);
  attn_npy_free(&arr);
  if (s != ATTN_OK)
    return error(attn_last_error());
  return true;
}

bool isFloat(attn_dtype d) {
  return d == ATTN_F32 || d == ATTN_F64 || d == ATTN_F16 || d == ATTN_BF16;
}

/// Rounds every value to what `dtype` can hold (what the written file holds).
void roundTo(ref::Array &a, attn_dtype dtype) {
  attn_npy_array arr;
  if (attn_npy_alloc(dtype, (int32_t)a.shape.size(), a.shape.data(), &arr) !=
      ATTN_OK)
    return;
  if (attn_npy_from_f64(&arr, a.data.data(), (int64_t)a.data.size()) == ATTN_OK)
    attn_npy_to_f64(&arr, a.data.data());
  attn_npy_free(&arr);
}

/// Largest |a - b| (NaN if either side has a NaN where the other has not;
/// equal infinities count as 0).
double maxAbsError(const ref::Array &a, const ref::Array &b) {
  if (a.data.size() != b.data.size())
    return std::nan("");
  double m = 0;
  for (size_t e = 0; e < a.data.size(); ++e) {
    double x = a.data[e], y = b.data[e];
    if (x == y || (std::isnan(x) && std::isnan(y)))
      continue;
    double d = std::fabs(x - y);
    if (std::isnan(d))
      return d;
    m = std::max(m, d);
  }
  return m;
}

/// Prints an error from the evaluator; "LINE:COL: ..." gets the file name.
int evalError(const std::string &file, const std::string &msg) {
  if (!msg.empty() && msg[0] >= '0' && msg[0] <= '9')
    llvm::errs() << file << ":" << msg << "\n";
  else
    llvm::errs() << "attnc run: error: " << msg << "\n";
  return 1;
}

std::string declared(const std::vector<std::string> &names) {
  if (names.empty())
    return "none";
  std::string s;
  for (auto &n : names)
    s += (s.empty() ? "" : ", ") + n;
  return s;
}

} // namespace

int attn::driver::runMain(int argc, char **argv) {
  RunOptions o;
  if (!parseArgs(argc, argv, o))
    return 1;
  if (o.help) {
    llvm::outs() << kRunUsage;
    return 0;
  }

  mlir::MLIRContext ctx;
  registerDialects(ctx);
  auto loaded = loadAttnFile(ctx, o.file, o.variant);
  if (!loaded)
    return 1;
  const ast::Variant *var = nullptr;
  std::vector<std::string> variantNames;
  for (auto &v : loaded->ast->variants) {
    variantNames.push_back(v.name);
    if (v.name == o.variant)
      var = &v;
  }
  if (o.variant.empty()) {
    if (variantNames.size() != 1) {
      error("'" + o.file + "' defines " + std::to_string(variantNames.size()) +
            " variants (" + declared(variantNames) + "): choose one with --variant");
      return 1;
    }
    var = &loaded->ast->variants.front();
  }
  if (!var) {
    error("no variant named '" + o.variant + "' in '" + o.file + "'");
    return 1;
  }

  // Inputs.
  ref::Problem problem;
  attn_dtype qType, kType, vType;
  if (!readNpy(o.q, "q '" + o.q + "'", problem.q, qType) ||
      !readNpy(o.k, "k '" + o.k + "'", problem.k, kType) ||
      !readNpy(o.v, "v '" + o.v + "'", problem.v, vType))
    return 1;
  if (!isFloat(qType)) {
    error(std::string("q has dtype ") + attn_dtype_name(qType) +
          "; expected f32, f16, bf16 or f64");
    return 1;
  }
  if (kType != qType || vType != qType) {
    error(std::string("q, k and v must share a dtype: q is ") +
          attn_dtype_name(qType) + ", k is " + attn_dtype_name(kType) +
          ", v is " + attn_dtype_name(vType));
    return 1;
  }
  auto checkRank = [&](const char *name, const ref::Array &a, const char *dims) {
    if (a.shape.size() == 4)
      return true;
    return error(std::string("tensor '") + name + "' has shape " +
                 shapeString(a.shape) + ", expected 4 dimensions " + dims);
  };
  if (!checkRank("q", problem.q, "[B, H, Sq, D]") ||
      !checkRank("k", problem.k, "[B, Hkv, Skv, D]") ||
      !checkRank("v", problem.v, "[B, Hkv, Skv, D]"))
    return 1;

  std::vector<std::string> tensorNames;
  for (auto &t : var->tensors)
    tensorNames.push_back(t.name);
  for (auto &[name, path] : o.tensors) {
    const ast::TensorDecl *decl = nullptr;
    for (auto &t : var->tensors)
      if (t.name == name)
        decl = &t;
    if (!decl) {
      error("variant '" + var->name + "' has no tensor '" + name +
            "' (it declares: " + declared(tensorNames) + ")");
      return 1;
    }
    ref::Array arr;
    attn_dtype dt;
    if (!readNpy(path, "tensor '" + name + "' ('" + path + "')", arr, dt))
      return 1;
    bool wantInt = decl->elemType == ast::DeclType::I32;
    bool wantBool = decl->elemType == ast::DeclType::Bool;
    bool ok = wantBool  ? dt == ATTN_BOOL || dt == ATTN_I32
              : wantInt ? dt == ATTN_I32
                        : isFloat(dt);
    if (!ok) {
      error("tensor '" + name + "' is declared " +
            ast::declTypeName(decl->elemType) + " but '" + path +
            "' has dtype " + attn_dtype_name(dt) +
            (wantBool  ? " (expected bool or i32)"
             : wantInt ? " (expected i32)"
                       : " (expected a float dtype)"));
      return 1;
    }
    problem.tensors[name] = std::move(arr);
  }
  for (auto &t : var->tensors)
    if (!problem.tensors.count(t.name)) {
      std::string dims;
      for (auto &d : t.dims)
        dims += (dims.empty() ? "" : ", ") +
                (d.sizeName.empty() ? std::to_string(d.extent) : d.sizeName);
      error("variant '" + var->name + "' needs tensor '" + t.name + "' (" +
            ast::declTypeName(t.elemType) + "[" + dims + "]): pass --tensor " +
            t.name + "=FILE.npy");
      return 1;
    }

  std::vector<std::string> paramNames;
  for (auto &p : var->params)
    paramNames.push_back(p.name);
  for (auto &[name, text] : o.params) {
    const ast::ParamDecl *decl = nullptr;
    for (auto &p : var->params)
      if (p.name == name)
        decl = &p;
    if (!decl) {
      error("variant '" + var->name + "' has no param '" + name +
            "' (it declares: " + declared(paramNames) + ")");
      return 1;
    }
    double value;
    int64_t iv;
    switch (decl->type) {
    case ast::DeclType::I32:
      if (!parseInt64(text, iv) || iv < INT32_MIN || iv > INT32_MAX) {
        error("param '" + name + "' is i32 but got '" + text + "'");
        return 1;
      }
      value = (double)iv;
      break;
    case ast::DeclType::F32:
      if (!parseDouble(text, value)) {
        error("param '" + name + "' is f32 but got '" + text + "'");
        return 1;
      }
      // NaN means "the default" in the C ABI (attn.h), and a finite value
      // beyond the f32 range would be infinite in the kernels.
      if (std::isnan(value) || (std::isfinite(value) && std::fabs(value) > std::numeric_limits<float>::max())) {
        error("param '" + name + "' is f32 but got '" + text + "' (" +
              (std::isnan(value) ? "NaN is not a value" : "beyond the f32 range") + ")");
        return 1;
      }
      break;
    case ast::DeclType::Bool:
      if (text == "true" || text == "1")
        value = 1;
      else if (text == "false" || text == "0")
        value = 0;
      else {
        error("param '" + name + "' is bool but got '" + text +
              "' (expected true, false, 1 or 0)");
        return 1;
      }
      break;
    }
    problem.params[name] = value;
  }
  problem.qOffset = o.qOffset;

  bool softmax = !var->norm || var->norm->kind == ast::NormKind::Softmax;
  if (!o.lse.empty() && !softmax) {
    error("--lse: variant '" + var->name +
          "' has no log-sum-exp (its norm is " +
          ast::normKindName(var->norm->kind) + ", not softmax)");
    return 1;
  }
  if (auto err = ref::checkProblem(*var, problem))
    return evalError(o.file, *err);

  // Run.
  ref::Result result;
  auto start = std::chrono::steady_clock::now();
  if (o.target == "direct") {
    if (auto err = ref::evaluateDirect(*var, problem, result))
      return evalError(o.file, *err);
  } else if (o.target == "cpu") {
    if (auto err = driver::runOnCpu(o.file, var->name, problem, qType, result))
      return evalError(o.file, *err);
  } else if (o.target == "gpu") {
    if (auto err = driver::runOnGpu(o.file, var->name, problem, qType, result))
      return evalError(o.file, *err);
  } else if (o.target == "spatial") {
    SpatialRunInfo info;
    if (llvm::Error err = runSpatial(*loaded->attnModule, var->name, SpatialRunOptions(),
                                     problem, result, &info))
      return evalError(o.file, llvm::toString(std::move(err)));
    const sim::Report &r = info.report;
    llvm::outs() << "spatial: " << info.binding << " binding, " << info.passes
                 << " pass(es), " << r.epochs << " epochs per head; model: "
                 << llvm::format("%.0f", r.computeCycles) << " cycles, "
                 << llvm::format("%.3g", r.seconds * 1e3) << " ms, 2D util "
                 << llvm::format("%.1f%%", 100 * r.util2d) << ", 1D util "
                 << llvm::format("%.1f%%", 100 * r.util1d) << ", DRAM "
                 << llvm::format("%.0f", r.dramBytes) << " B, buffer "
                 << llvm::format("%.0f", r.bufferBytes) << " B, energy "
                 << llvm::format("%.3g", r.energyTotal * 1e-12) << " J\n";
  } else if (llvm::Error err = runCascadeReference(
                 *loaded->attnModule, var->name, PipelineOptions(), problem,
                 result)) {
    return evalError(o.file, llvm::toString(std::move(err)));
  }
  double ms = std::chrono::duration<double, std::milli>(
                  std::chrono::steady_clock::now() - start)
                  .count();

  ref::Result raw = result; // the target's output before rounding
  attn_dtype lseType = qType == ATTN_F64 ? ATTN_F64 : ATTN_F32;
  roundTo(result.o, qType);
  if (!writeNpy(o.output, result.o, qType))
    return 1;
  if (!o.lse.empty()) {
    if (!result.lse)
      return error("--lse: the target produced no log-sum-exp"), 1;
    roundTo(*result.lse, lseType);
    if (!writeNpy(o.lse, *result.lse, lseType))
      return 1;
  }
  llvm::outs() << "attnc run: variant " << var->name << ", q "
               << shapeString(problem.q.shape) << " " << attn_dtype_name(qType)
               << ", k/v " << shapeString(problem.k.shape) << ", target "
               << o.target << ": " << llvm::format("%.2f", ms) << " ms -> "
               << o.output << "\n";

  if (o.check) {
    ref::Result want;
    if (auto err = ref::evaluateDirect(*var, problem, want))
      return evalError(o.file, *err);
    llvm::outs() << "max abs error vs float64 reference: "
                 << llvm::format("%.3g", maxAbsError(result.o, want.o))
                 << " (output in " << attn_dtype_name(qType) << "; "
                 << llvm::format("%.3g", maxAbsError(raw.o, want.o))
                 << " before rounding";
    if (raw.lse && want.lse)
      llvm::outs() << "; lse " << llvm::format("%.3g", maxAbsError(*raw.lse, *want.lse));
    llvm::outs() << ")\n";
    // NaNs on both sides compare equal above: say so, a NaN output is never
    // silent (where the reference is finite the error above is already nan).
    size_t shared = 0, own = 0;
    for (size_t e = 0; e < raw.o.data.size(); ++e)
      if (std::isnan(raw.o.data[e]))
        ++(e < want.o.data.size() && std::isnan(want.o.data[e]) ? shared : own);
    if (own)
      llvm::outs() << "warning: the output holds " << own
                   << " NaN value(s) where the float64 reference is finite\n";
    if (shared)
      llvm::outs() << "warning: the output holds " << shared
                   << " NaN value(s) (the reference has NaN there too)\n";
  }
  return 0;
}
