//===- RunCpu.cpp - `attnc run --target cpu`: JIT through attn::Compiler --===//
//
// Compiles the variant for q's dtype only (f32, bf16 or f16) with the C++ JIT
// API and its caches ($ATTN_CACHE_DIR, ...), converts the float64 problem to
// typed buffers (the values came from files of those dtypes, so nothing is
// rounded twice), runs the kernel on all cores and returns o (q's dtype) and
// lse (f32) as float64.
//
//===----------------------------------------------------------------------===//
#include "compiler/tools/attnc/Driver.h"

#include "attn/compiler.hpp"
#include "attn/npy.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstring>

using namespace attn;

namespace {

/// A dense typed buffer made from a float64 array, and its attn_tensor view.
struct TypedArray {
  attn_npy_array arr{};
  attn_tensor view{};
  bool ok = false;

  TypedArray(const std::vector<int64_t> &shape, attn_dtype dtype, const double *values) {
    if (attn_npy_alloc(dtype, (int32_t)shape.size(), shape.data(), &arr) != ATTN_OK)
      return;
    if (values && attn_npy_from_f64(&arr, values, attn_npy_num_elements(&arr)) != ATTN_OK)
      return;
    view.data = arr.data;
    view.dtype = dtype;
    view.rank = (int32_t)shape.size();
    int64_t stride = 1;
    for (int d = view.rank - 1; d >= 0; --d) {
      view.shape[d] = shape[d];
      view.strides[d] = stride;
      stride *= shape[d];
    }
    ok = true;
  }
  ~TypedArray() { attn_npy_free(&arr); }
  TypedArray(const TypedArray &) = delete;
  TypedArray &operator=(const TypedArray &) = delete;

  bool toArray(const std::vector<int64_t> &shape, ref::Array &out) {
    out.shape = shape;
    out.data.resize(attn_npy_num_elements(&arr));
    return attn_npy_to_f64(&arr, out.data.data()) == ATTN_OK;
  }
};

} // namespace

std::optional<std::string> driver::checkCompiledTargetInputs(const std::string &target,
                                                             const ref::Problem &problem,
                                                             attn_dtype qType) {
  if (qType != ATTN_F32 && qType != ATTN_BF16 && qType != ATTN_F16)
    return "--target " + target + " runs f32, bf16 and f16 inputs; q is " +
           attn_dtype_name(qType) + " (use --target ref or direct for f64)";
  if (problem.qOffset && *problem.qOffset < 0)
    return "--target " + target +
           " needs --q-offset >= 0 (the C ABI reads a negative offset as the default Skv - Sq)";
  return std::nullopt;
}

double driver::msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

std::optional<std::string> driver::runOnCpu(const std::string &file, const std::string &variant,
                                            const ref::Problem &problem, attn_dtype qType,
                                            ref::Result &result) {
  if (auto err = checkCompiledTargetInputs("cpu", problem, qType))
    return err;

  CompilerOptions options;
  options.dtypes = {qType};
  Compiler compiler(options);
  std::string error;
  KernelOrigin origin;
  auto compileStart = std::chrono::steady_clock::now();
  auto kernel = compiler.compileFile(file, variant, &error, &origin);
  double compileMs = msSince(compileStart);
  if (!kernel) {
    while (!error.empty() && error.back() == '\n')
      error.pop_back();
    return error;
  }
  const KernelInfo &info = kernel->info();

  TypedArray q(problem.q.shape, qType, problem.q.data.data());
  TypedArray k(problem.k.shape, qType, problem.k.data.data());
  TypedArray v(problem.v.shape, qType, problem.v.data.data());
  TypedArray o(problem.q.shape, qType, nullptr);
  std::vector<int64_t> lseShape(problem.q.shape.begin(), problem.q.shape.begin() + 3);
  TypedArray lse(lseShape, ATTN_F32, nullptr);
  if (!q.ok || !k.ok || !v.ok || !o.ok || !lse.ok)
    return std::string("cannot convert the inputs: ") + attn_last_error();
  // Extra tensors in their declared dtypes (bool tensors are i32 0/1).
  std::vector<std::unique_ptr<TypedArray>> owned;
  std::map<std::string, attn_tensor> tensors;
  for (const TensorInfo &t : info.tensors) {
    auto it = problem.tensors.find(t.name);
    if (it == problem.tensors.end())
      return "variant '" + variant + "' needs tensor '" + t.name + "'";
    owned.push_back(std::make_unique<TypedArray>(it->second.shape, t.dtype,
                                                 it->second.data.data()));
    if (!owned.back()->ok)
      return "cannot convert tensor '" + t.name + "': " + attn_last_error();
    tensors[t.name] = owned.back()->view;
  }

  auto runStart = std::chrono::steady_clock::now();
  attn_status s = kernel->run(q.view, k.view, v.view, o.view, info.hasLse ? &lse.view : nullptr,
                              problem.params, tensors, problem.qOffset.value_or(-1),
                              /*threads=*/0);
  double runMs = msSince(runStart);
  if (s != ATTN_OK)
    return std::string(attn_status_string(s)) + ": " + attn_last_error();
  if (!o.toArray(problem.q.shape, result.o))
    return std::string("cannot read the output: ") + attn_last_error();
  if (info.hasLse) {
    result.lse.emplace();
    if (!lse.toArray(lseShape, *result.lse))
      return std::string("cannot read the lse: ") + attn_last_error();
  }
  llvm::outs() << "attnc run: cpu kernel attn_" << info.variant << "_" << attn_dtype_name(qType) << " ("
               << originName(origin) << " in " << llvm::format("%.1f", compileMs)
               << " ms), ran in " << llvm::format("%.3f", runMs) << " ms\n";
  return std::nullopt;
}
