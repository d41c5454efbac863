//===- GpuLaunchTest.cpp - attn/gpu.h: driver loader, checks, launches ----===//
//
// Runs everywhere: attn_gpu_available() on a machine without a driver
// returns ATTN_ERROR_UNSUPPORTED with a message (and nothing crashes), and
// every argument check of attn_gpu_launch answers before any CUDA call.
//
// Runs where a GPU is (skipped elsewhere): device memory helpers; launches of
// two hand-written PTX kernels (the driver JIT-compiles them) that check the
// argument block, params, extra tensors, strides, grid and the error flag;
// view checks against device allocations; the module cache; timing; launches
// from several threads.
//
// With the mock driver (test/unit/gpurt/MockCuda.cpp, ATTN_CUDA_DRIVER), also
// checks the geometry the launcher gives attnc's tensor-core kernels: block,
// grid and dynamic shared memory of `_d<N>`, of the GQA-packed `_split` and of
// the per-element `_merge`, and the shared-memory limit it raises.
//
// With ATTN_TEST_CUBIN=<file.cubin> and ATTN_TEST_KERNEL=attn_<v>_<dtype>_gpu
// (v = full or causal), also runs attnc's kernel on random data for MHA, GQA,
// decode and an explicit q_offset, and compares with float64 softmax
// attention: ||o - ref|| / ||ref|| below 1e-2 (bf16), 2e-3 (f16), 1e-4 (f32);
// every output element written (outputs are poisoned with NaN first).
//
//===----------------------------------------------------------------------===//
#include "attn/gpu.h"
#include "attn/gpu_binary.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <dlfcn.h>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

//===----------------------------------------------------------------------===//
// Host views for the checks (never dereferenced: checks come first)
//===----------------------------------------------------------------------===//

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

/// A well-formed call (host data, one 32 KB block per view, where the
/// outputs do not overlap the inputs: only the checks may look at it).
struct Call {
  static inline char arena[6][32768];
  attn_param_info params[1] = {{"window", ATTN_I32, 1, 4.0}};
  attn_tensor_info tensorInfo[1] = {{"doc", ATTN_I32, 2, {-(1 + ATTN_SIZE_B), -(1 + ATTN_SIZE_SKV)}}};
  attn_variant_info info{"windowed", ATTN_BF16, 1, params, 1, tensorInfo, 1, 1};
  attn_tensor q = view(ATTN_BF16, {2, 8, 16, 64}, arena[0]);
  attn_tensor k = view(ATTN_BF16, {2, 2, 32, 64}, arena[1]);
  attn_tensor v = view(ATTN_BF16, {2, 2, 32, 64}, arena[2]);
  attn_tensor o = view(ATTN_BF16, {2, 8, 16, 64}, arena[3]);
  attn_tensor lse = view(ATTN_F32, {2, 8, 16}, arena[4]);
  attn_tensor doc = view(ATTN_I32, {2, 32}, arena[5]);
  double paramValues[1] = {std::nan("")};
  const char *kernel = "attn_windowed_bf16_gpu";
  attn_gpu_module *module = nullptr;

  attn_status run() {
    return attn_gpu_launch(&info, module, kernel, &q, &k, &v, &o, &lse, paramValues, &doc, -1,
                           nullptr);
  }
};

/// Expects `status` to be ATTN_ERROR_INVALID_ARGUMENT with a message containing `text`.
void expectInvalid(attn_status status, const char *text) {
  EXPECT_EQ(status, ATTN_ERROR_INVALID_ARGUMENT) << attn_last_error();
  EXPECT_NE(std::string(attn_last_error()).find(text), std::string::npos)
      << "message: " << attn_last_error() << "\nexpected to contain: " << text;
}

//===----------------------------------------------------------------------===//
// Without a GPU (and with one): availability and argument checks
//===----------------------------------------------------------------------===//

TEST(GpuAvailable, StatusWithMessage) {
  attn_status s = attn_gpu_available();
  if (s == ATTN_OK)
    return;
  EXPECT_EQ(s, ATTN_ERROR_UNSUPPORTED);
  std::string message = attn_last_error();
  EXPECT_FALSE(message.empty());
  EXPECT_TRUE(message.find("CUDA") != std::string::npos) << message;
  // Asking again gives the same answer (the driver is loaded once).
  EXPECT_EQ(attn_gpu_available(), ATTN_ERROR_UNSUPPORTED);
  EXPECT_EQ(message, attn_last_error());
}

TEST(GpuAvailable, EntryPointsReportUnsupportedWithoutDriver) {
  if (attn_gpu_available() == ATTN_OK)
    GTEST_SKIP() << "a GPU is available";
  void *p = reinterpret_cast<void *>(1);
  EXPECT_EQ(attn_gpu_alloc(16, &p), ATTN_ERROR_UNSUPPORTED);
  EXPECT_EQ(p, nullptr);
  char image[8] = "x";
  attn_gpu_module *m = reinterpret_cast<attn_gpu_module *>(1);
  EXPECT_EQ(attn_gpu_module_load(image, sizeof image, &m), ATTN_ERROR_UNSUPPORTED);
  EXPECT_EQ(m, nullptr);
  EXPECT_EQ(attn_gpu_synchronize(), ATTN_ERROR_UNSUPPORTED);
  attn_gpu_device_info props;
  EXPECT_EQ(attn_gpu_device_properties(&props), ATTN_ERROR_UNSUPPORTED);
  EXPECT_FALSE(std::string(attn_last_error()).empty());
  // Checks that need no driver still come first.
  EXPECT_EQ(attn_gpu_module_load(nullptr, 0, &m), ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(attn_gpu_free(nullptr), ATTN_OK);
  EXPECT_EQ(attn_gpu_module_unload(nullptr), ATTN_OK);
  EXPECT_EQ(attn_gpu_copy_to_device(nullptr, nullptr, 0), ATTN_OK);
}

TEST(GpuLaunchErrors, WellFormedCallReachesTheModuleCheck) {
  Call c;
  expectInvalid(c.run(), "GPU module is null");
}

TEST(GpuLaunchErrors, NullInfo) {
  Call c;
  expectInvalid(attn_gpu_launch(nullptr, nullptr, c.kernel, &c.q, &c.k, &c.v, &c.o, nullptr,
                                nullptr, nullptr, -1, nullptr),
                "variant info is null");
}

TEST(GpuLaunchErrors, NullKernelName) {
  Call c;
  c.kernel = nullptr;
  expectInvalid(c.run(), "kernel name");
  c.kernel = "";
  expectInvalid(c.run(), "kernel name");
}

TEST(GpuLaunchErrors, NullTensorsAndData) {
  {
    Call c;
    expectInvalid(attn_gpu_launch(&c.info, nullptr, c.kernel, nullptr, &c.k, &c.v, &c.o, nullptr,
                                  nullptr, &c.doc, -1, nullptr),
                  "q: tensor is null");
  }
  {
    Call c;
    c.v.data = nullptr;
    expectInvalid(c.run(), "v: data pointer is null");
  }
  {
    Call c;
    expectInvalid(attn_gpu_launch(&c.info, nullptr, c.kernel, &c.q, &c.k, &c.v, &c.o, nullptr,
                                  nullptr, nullptr, -1, nullptr),
                  "needs 1 extra tensor");
  }
}

TEST(GpuLaunchErrors, Shapes) {
  {
    Call c;
    c.q.rank = 3;
    expectInvalid(c.run(), "q: expected rank 4");
  }
  {
    Call c;
    c.k.shape[3] = 32;
    c.v.shape[3] = 32;
    expectInvalid(c.run(), "k: expected shape [2, 2, 32, 64]");
  }
  {
    Call c;
    c.v.shape[2] = 31;
    expectInvalid(c.run(), "v: expected shape");
  }
  {
    Call c;
    c.o.shape[2] = 15;
    expectInvalid(c.run(), "o: expected shape");
  }
  {
    Call c;
    c.lse.shape[1] = 4;
    expectInvalid(c.run(), "lse: expected shape [2, 8, 16]");
  }
  {
    Call c;
    c.k.shape[1] = 3;
    c.v.shape[1] = 3;
    expectInvalid(c.run(), "not a multiple of Hkv = 3");
  }
  {
    Call c;
    c.q.shape[3] = 0;
    c.o.shape[3] = 0;
    expectInvalid(c.run(), "head dimension D must be positive");
  }
  {
    Call c;
    c.q.shape[0] = -1;
    expectInvalid(c.run(), "negative extent");
  }
}

TEST(GpuLaunchErrors, Strides) {
  Call c;
  c.k.strides[2] = 0;
  expectInvalid(c.run(), "k: stride 0 of dimension 2 must be positive");
  Call d;
  d.o.strides[1] = -64;
  expectInvalid(d.run(), "o: stride -64 of dimension 1 must be positive");
}

TEST(GpuLaunchErrors, Dtypes) {
  {
    Call c;
    c.q.dtype = ATTN_F16;
    expectInvalid(c.run(), "q: expected dtype bf16 (variant 'windowed' was compiled for it)");
  }
  {
    Call c;
    c.lse.dtype = ATTN_BF16;
    expectInvalid(c.run(), "lse: expected dtype f32");
  }
  {
    Call c;
    c.doc.dtype = ATTN_F32;
    expectInvalid(c.run(), "tensor 'doc': expected dtype i32");
  }
  {
    Call c;
    c.info.has_lse = 0;
    expectInvalid(c.run(), "has no log-sum-exp");
  }
}

TEST(GpuLaunchErrors, ExtraTensorShape) {
  Call c;
  c.doc.shape[1] = 16;
  expectInvalid(c.run(), "tensor 'doc': expected shape [2, 32] (B, Skv)");
}

TEST(GpuLaunchErrors, Params) {
  {
    Call c;
    c.paramValues[0] = 2.5;
    expectInvalid(c.run(), "param 'window' is i32");
  }
  {
    Call c;
    c.params[0].has_default = 0;
    expectInvalid(c.run(), "param 'window' has no default");
  }
  {
    Call c;
    c.params[0].type = ATTN_BOOL;
    c.paramValues[0] = 3;
    expectInvalid(c.run(), "is bool");
  }
}

TEST(GpuLaunchErrors, VariantTable) {
  Call c;
  c.info.row_tile = 0;
  expectInvalid(c.run(), "row_tile must be positive");
  Call d;
  d.info.params = nullptr;
  expectInvalid(d.run(), "malformed param or tensor table");
}

TEST(GpuLaunchErrors, TimingArguments) {
  Call c;
  double median = -1;
  expectInvalid(attn_gpu_time_launches(&c.info, nullptr, c.kernel, &c.q, &c.k, &c.v, &c.o, &c.lse,
                                       nullptr, &c.doc, -1, nullptr, 1, 0, nullptr, &median),
                "reps > 0");
  EXPECT_EQ(median, 0);
  expectInvalid(attn_gpu_time_launches(&c.info, nullptr, c.kernel, &c.q, &c.k, &c.v, &c.o, &c.lse,
                                       nullptr, &c.doc, -1, nullptr, 1, 5, nullptr, nullptr),
                "median_ms is null");
}

TEST(GpuLaunchErrors, HelperArguments) {
  EXPECT_EQ(attn_gpu_alloc(16, nullptr), ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(attn_gpu_module_load("x", 1, nullptr), ATTN_ERROR_INVALID_ARGUMENT);
  attn_gpu_module *m = nullptr;
  EXPECT_EQ(attn_gpu_module_load(nullptr, 10, &m), ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(attn_gpu_copy_to_host(nullptr, nullptr, 4), ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(attn_gpu_device_properties(nullptr), ATTN_ERROR_INVALID_ARGUMENT);
}

TEST(GpuLayout, ArgumentBlock) {
  // The GPU block is kernel.h's plus the error flag's address and the
  // tensor maps of K and V, the tile classes and Q's tensor map.
  EXPECT_EQ(ATTN_ARG_GPU_ERROR, ATTN_ARG_COUNT);
  EXPECT_EQ(ATTN_ARG_K_TMAP, ATTN_ARG_COUNT + 1);
  EXPECT_EQ(ATTN_ARG_V_TMAP, ATTN_ARG_COUNT + 2);
  EXPECT_EQ(ATTN_ARG_TILE_CLASSES, ATTN_ARG_COUNT + 3);
  EXPECT_EQ(ATTN_ARG_Q_TMAP, ATTN_ARG_COUNT + 4);
  EXPECT_EQ(ATTN_GPU_ARG_COUNT, ATTN_ARG_COUNT + 5);
  EXPECT_EQ(ATTN_ARG_PARAMS, 31);
  EXPECT_EQ(ATTN_ARG_TENSORS, 32);
  EXPECT_EQ(ATTN_ARG_SPLIT, 33); // the CPU's split-KV words (unused on the GPU)
  EXPECT_EQ(ATTN_ARG_PARTIALS, 36);
  EXPECT_EQ(ATTN_ARG_GPU_ERROR, 37); // attn_test_flag_gpu reads it at byte 37 * 8
  // The attn_tensor array the kernels read on the device.
  EXPECT_EQ(sizeof(attn_tensor), 144u);
  EXPECT_EQ(offsetof(attn_tensor, shape), 16u);
  EXPECT_EQ(offsetof(attn_tensor, strides), 80u);
}

//===----------------------------------------------------------------------===//
// With a GPU
//===----------------------------------------------------------------------===//

#define REQUIRE_GPU()                                                                             \
  do {                                                                                            \
    if (attn_gpu_available() != ATTN_OK)                                                          \
      GTEST_SKIP() << "no GPU: " << attn_last_error();                                            \
  } while (0)

/// Two kernels written in PTX against the ABI of attn/gpu.h (the driver
/// JIT-compiles PTX for the device):
///  attn_test_rows_gpu: thread id = (b*H + h)*Sq + row writes
///    o[b, h, row, 0] = id + params[0] and o[b, h, row, 1] = tensors[0][b]
///    (f32 o, i32 tensor), through the block's strides;
///  attn_test_flag_gpu: every thread ORs ATTN_ERROR_OUT_OF_RANGE (2) into
///    the error flag.
const char kTestPtx[] = R"(
.version 7.0
.target sm_70
.address_size 64

.visible .entry attn_test_rows_gpu(.param .u64 args_param)
{
  .reg .pred %p<2>;
  .reg .b32 %r<8>;
  .reg .b64 %rd<32>;
  .reg .f32 %f<4>;
  .reg .f64 %fd<4>;

  ld.param.u64 %rd1, [args_param];
  mov.u32 %r1, %ctaid.x;
  mov.u32 %r2, %ntid.x;
  mov.u32 %r3, %tid.x;
  mul.wide.u32 %rd2, %r1, %r2;
  cvt.u64.u32 %rd3, %r3;
  add.s64 %rd2, %rd2, %rd3;
  ld.u64 %rd4, [%rd1+40];
  ld.u64 %rd5, [%rd1+48];
  ld.u64 %rd6, [%rd1+64];
  mul.lo.s64 %rd7, %rd4, %rd5;
  mul.lo.s64 %rd7, %rd7, %rd6;
  setp.ge.s64 %p1, %rd2, %rd7;
  @%p1 bra DONE;
  rem.s64 %rd8, %rd2, %rd6;
  div.s64 %rd9, %rd2, %rd6;
  rem.s64 %rd10, %rd9, %rd5;
  div.s64 %rd11, %rd9, %rd5;
  ld.u64 %rd12, [%rd1+24];
  ld.u64 %rd13, [%rd1+192];
  ld.u64 %rd14, [%rd1+200];
  ld.u64 %rd15, [%rd1+208];
  ld.u64 %rd16, [%rd1+216];
  mul.lo.s64 %rd17, %rd11, %rd13;
  mad.lo.s64 %rd17, %rd10, %rd14, %rd17;
  mad.lo.s64 %rd17, %rd8, %rd15, %rd17;
  ld.u64 %rd18, [%rd1+248];
  ld.f64 %fd1, [%rd18];
  cvt.rn.f64.u64 %fd2, %rd2;
  add.f64 %fd2, %fd2, %fd1;
  cvt.rn.f32.f64 %f1, %fd2;
  shl.b64 %rd19, %rd17, 2;
  add.s64 %rd19, %rd12, %rd19;
  st.f32 [%rd19], %f1;
  ld.u64 %rd20, [%rd1+256];
  ld.u64 %rd21, [%rd20];
  ld.u64 %rd22, [%rd20+80];
  mul.lo.s64 %rd23, %rd11, %rd22;
  shl.b64 %rd23, %rd23, 2;
  add.s64 %rd23, %rd21, %rd23;
  ld.s32 %r4, [%rd23];
  cvt.rn.f32.s32 %f2, %r4;
  shl.b64 %rd24, %rd16, 2;
  add.s64 %rd24, %rd19, %rd24;
  st.f32 [%rd24], %f2;
DONE:
  ret;
}

.visible .entry attn_test_flag_gpu(.param .u64 args_param)
{
  .reg .b32 %r<2>;
  .reg .b64 %rd<4>;
  ld.param.u64 %rd1, [args_param];
  ld.u64 %rd2, [%rd1+296];
  atom.or.b32 %r1, [%rd2], 2;
  ret;
}
)";

/// Device memory freed at scope exit.
struct DeviceBuffer {
  void *ptr = nullptr;
  size_t bytes = 0;
  explicit DeviceBuffer(size_t n) : bytes(n) {
    EXPECT_EQ(attn_gpu_alloc(n, &ptr), ATTN_OK) << attn_last_error();
  }
  ~DeviceBuffer() { attn_gpu_free(ptr); }
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
};

/// A call of attn_test_rows_gpu: o f32 [B, H, Sq, 2] with padded strides.
struct RowsCall {
  int64_t B, H, Sq;
  attn_param_info params[1] = {{"offset", ATTN_F32, 1, 0.5}};
  attn_tensor_info tensorInfo[1] = {{"tag", ATTN_I32, 1, {-(1 + ATTN_SIZE_B)}}};
  attn_variant_info info{"rows", ATTN_F32, 1, params, 1, tensorInfo, 0, 1};
  DeviceBuffer qkv, out, tags;
  attn_tensor q, k, v, o, tag;
  std::vector<int32_t> tagValues;

  RowsCall(int64_t B, int64_t H, int64_t Sq)
      : B(B), H(H), Sq(Sq), qkv(static_cast<size_t>(B * H * Sq * 2) * 4),
        out(static_cast<size_t>(B * H * Sq * 3) * 4), tags(static_cast<size_t>(B) * 4) {
    q = view(ATTN_F32, {B, H, Sq, 2}, qkv.ptr);
    k = view(ATTN_F32, {B, H, Sq, 2}, qkv.ptr);
    v = k;
    // o: [B, H, Sq, 2] stored as [B, H, Sq, 3] (a padded, non-contiguous view).
    o = view(ATTN_F32, {B, H, Sq, 3}, out.ptr);
    o.shape[3] = 2;
    tag = view(ATTN_I32, {B}, tags.ptr);
    for (int64_t b = 0; b < B; ++b)
      tagValues.push_back(static_cast<int32_t>(1000 * (b + 1) - 7));
    EXPECT_EQ(attn_gpu_copy_to_device(tags.ptr, tagValues.data(), tags.bytes), ATTN_OK);
    std::vector<float> nan(out.bytes / 4, std::nanf(""));
    EXPECT_EQ(attn_gpu_copy_to_device(out.ptr, nan.data(), out.bytes), ATTN_OK);
  }

  /// Checks o against the kernel's formula with params[0] = `offset`.
  void check(double offset) {
    std::vector<float> host(out.bytes / 4);
    ASSERT_EQ(attn_gpu_copy_to_host(host.data(), out.ptr, out.bytes), ATTN_OK);
    int64_t wrong = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t r = 0; r < Sq; ++r) {
          int64_t id = (b * H + h) * Sq + r;
          const float *row = &host[static_cast<size_t>(id * 3)];
          wrong += row[0] != static_cast<float>(id + offset);
          wrong += row[1] != static_cast<float>(tagValues[b]);
          wrong += !std::isnan(row[2]); // the padding stays untouched
        }
    EXPECT_EQ(wrong, 0);
  }
};

struct GpuFixture : ::testing::Test {
  attn_gpu_module *module = nullptr;
  void SetUp() override {
    REQUIRE_GPU();
    ASSERT_EQ(attn_gpu_module_load(kTestPtx, sizeof kTestPtx, &module), ATTN_OK)
        << attn_last_error();
  }
  void TearDown() override { EXPECT_EQ(attn_gpu_module_unload(module), ATTN_OK); }
};

TEST(GpuDevice, PropertiesAndMemory) {
  REQUIRE_GPU();
  attn_gpu_device_info props;
  ASSERT_EQ(attn_gpu_device_properties(&props), ATTN_OK) << attn_last_error();
  std::printf("device %d: %s, sm_%d%d, %d SMs, %.1f GiB, driver CUDA %d\n", props.ordinal,
              props.name, props.cc_major, props.cc_minor, props.sm_count,
              props.total_memory / 1073741824.0, props.driver_version);
  EXPECT_GT(props.sm_count, 0);
  std::vector<int32_t> in(1000), back(1000);
  for (int i = 0; i < 1000; ++i)
    in[i] = i * 7 - 3;
  DeviceBuffer buf(in.size() * 4);
  ASSERT_EQ(attn_gpu_copy_to_device(buf.ptr, in.data(), buf.bytes), ATTN_OK);
  ASSERT_EQ(attn_gpu_copy_to_host(back.data(), buf.ptr, buf.bytes), ATTN_OK);
  EXPECT_EQ(in, back);
  EXPECT_EQ(attn_gpu_synchronize(), ATTN_OK);
  void *none = reinterpret_cast<void *>(1);
  EXPECT_EQ(attn_gpu_alloc(0, &none), ATTN_OK);
  EXPECT_EQ(none, nullptr);
}

TEST_F(GpuFixture, ModuleCache) {
  attn_gpu_module *again = nullptr;
  ASSERT_EQ(attn_gpu_module_load(kTestPtx, sizeof kTestPtx, &again), ATTN_OK);
  EXPECT_EQ(again, module);
  EXPECT_EQ(attn_gpu_module_unload(again), ATTN_OK);
  // A copy of the image at another address is another module.
  std::string copy(kTestPtx, sizeof kTestPtx);
  attn_gpu_module *other = nullptr;
  ASSERT_EQ(attn_gpu_module_load(copy.data(), copy.size(), &other), ATTN_OK);
  EXPECT_NE(other, module);
  EXPECT_EQ(attn_gpu_module_unload(other), ATTN_OK);
  // Not an image.
  const char junk[] = "this is not a cubin";
  attn_gpu_module *bad = nullptr;
  EXPECT_NE(attn_gpu_module_load(junk, sizeof junk, &bad), ATTN_OK);
  EXPECT_EQ(bad, nullptr);
  EXPECT_TRUE(std::string(attn_last_error()).find("CUDA_ERROR") != std::string::npos)
      << attn_last_error();
}

TEST_F(GpuFixture, RowsParamsTensorsStrides) {
  for (auto shape : {std::vector<int64_t>{2, 3, 5}, {2, 8, 300}, {1, 1, 1}, {3, 7, 129}}) {
    RowsCall c(shape[0], shape[1], shape[2]);
    // Null params: the default (0.5) reaches the kernel.
    ASSERT_EQ(attn_gpu_launch(&c.info, module, "attn_test_rows_gpu", &c.q, &c.k, &c.v, &c.o,
                              nullptr, nullptr, &c.tag, -1, nullptr),
              ATTN_OK)
        << attn_last_error();
    c.check(0.5);
    double p[1] = {-3.25};
    ASSERT_EQ(attn_gpu_launch(&c.info, module, "attn_test_rows_gpu", &c.q, &c.k, &c.v, &c.o,
                              nullptr, p, &c.tag, -1, nullptr),
              ATTN_OK)
        << attn_last_error();
    c.check(-3.25);
  }
}

TEST_F(GpuFixture, ErrorFlag) {
  RowsCall c(2, 2, 3);
  EXPECT_EQ(attn_gpu_launch(&c.info, module, "attn_test_flag_gpu", &c.q, &c.k, &c.v, &c.o,
                            nullptr, nullptr, &c.tag, -1, nullptr),
            ATTN_ERROR_OUT_OF_RANGE);
  EXPECT_TRUE(std::string(attn_last_error()).find("out of range in variant 'rows'") !=
              std::string::npos)
      << attn_last_error();
  // The flag is zeroed again for the next launch.
  EXPECT_EQ(attn_gpu_launch(&c.info, module, "attn_test_rows_gpu", &c.q, &c.k, &c.v, &c.o,
                            nullptr, nullptr, &c.tag, -1, nullptr),
            ATTN_OK)
      << attn_last_error();
  c.check(0.5);
}

TEST_F(GpuFixture, UnknownKernel) {
  RowsCall c(1, 1, 4);
  expectInvalid(attn_gpu_launch(&c.info, module, "attn_nope_gpu", &c.q, &c.k, &c.v, &c.o,
                                nullptr, nullptr, &c.tag, -1, nullptr),
                "kernel 'attn_nope_gpu' not found");
}

TEST_F(GpuFixture, ViewsMustLieInDeviceMemory) {
  RowsCall c(2, 2, 4);
  std::vector<float> host(64);
  attn_tensor hostQ = view(ATTN_F32, {2, 2, 4, 2}, host.data());
  expectInvalid(attn_gpu_launch(&c.info, module, "attn_test_rows_gpu", &hostQ, &c.k, &c.v, &c.o,
                                nullptr, nullptr, &c.tag, -1, nullptr),
                "q: data 0x");
  // Views far past their allocations.
  attn_tensor wide = c.k;
  wide.strides[0] = int64_t(1) << 22;
  expectInvalid(attn_gpu_launch(&c.info, module, "attn_test_rows_gpu", &c.q, &wide, &wide,
                                &c.o, nullptr, nullptr, &c.tag, -1, nullptr),
                "k: the view");
  attn_tensor badTag = c.tag;
  badTag.strides[0] = int64_t(1) << 22;
  expectInvalid(attn_gpu_launch(&c.info, module, "attn_test_rows_gpu", &c.q, &c.k, &c.v, &c.o,
                                nullptr, nullptr, &badTag, -1, nullptr),
                "tensor 'tag': the view");
}

TEST_F(GpuFixture, NoKeysGiveZerosAndMinusInfinity) {
  attn_variant_info info{"empty", ATTN_F32, 0, nullptr, 0, nullptr, 1, 1};
  DeviceBuffer qb(2 * 3 * 4 * 5 * 4), ob(2 * 3 * 4 * 5 * 4), lb(2 * 3 * 4 * 4), kb(4);
  attn_tensor q = view(ATTN_F32, {2, 3, 4, 5}, qb.ptr), o = view(ATTN_F32, {2, 3, 4, 5}, ob.ptr);
  attn_tensor k = view(ATTN_F32, {2, 3, 0, 5}, kb.ptr), lse = view(ATTN_F32, {2, 3, 4}, lb.ptr);
  std::vector<float> poison(2 * 3 * 4 * 5, std::nanf(""));
  ASSERT_EQ(attn_gpu_copy_to_device(ob.ptr, poison.data(), ob.bytes), ATTN_OK);
  ASSERT_EQ(attn_gpu_copy_to_device(lb.ptr, poison.data(), lb.bytes), ATTN_OK);
  ASSERT_EQ(attn_gpu_launch(&info, module, "attn_test_rows_gpu", &q, &k, &k, &o, &lse, nullptr,
                            nullptr, -1, nullptr),
            ATTN_OK)
      << attn_last_error();
  std::vector<float> oh(poison.size()), lh(2 * 3 * 4);
  ASSERT_EQ(attn_gpu_copy_to_host(oh.data(), ob.ptr, ob.bytes), ATTN_OK);
  ASSERT_EQ(attn_gpu_copy_to_host(lh.data(), lb.ptr, lb.bytes), ATTN_OK);
  for (float x : oh)
    EXPECT_EQ(x, 0.0f);
  for (float x : lh)
    EXPECT_EQ(x, -std::numeric_limits<float>::infinity());
}

TEST_F(GpuFixture, Timing) {
  RowsCall c(4, 16, 1024);
  std::vector<float> times(20);
  double median = 0;
  ASSERT_EQ(attn_gpu_time_launches(&c.info, module, "attn_test_rows_gpu", &c.q, &c.k, &c.v, &c.o,
                                   nullptr, nullptr, &c.tag, -1, nullptr, 3, 20, times.data(),
                                   &median),
            ATTN_OK)
      << attn_last_error();
  EXPECT_GT(median, 0.0);
  for (float t : times)
    EXPECT_GT(t, 0.0f);
  c.check(0.5);
  EXPECT_EQ(attn_gpu_time_launches(&c.info, module, "attn_test_flag_gpu", &c.q, &c.k, &c.v, &c.o,
                                   nullptr, nullptr, &c.tag, -1, nullptr, 0, 2, nullptr, &median),
            ATTN_ERROR_OUT_OF_RANGE);
}

TEST_F(GpuFixture, ManyThreads) {
  // Launches on the default stream from several threads share one scratch
  // buffer: each must see its own argument block.
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      RowsCall c(1 + t, 2, 33 + t);
      for (int i = 0; i < 25; ++i) {
        double p[1] = {t * 100.0 + i};
        if (attn_gpu_launch(&c.info, module, "attn_test_rows_gpu", &c.q, &c.k, &c.v, &c.o,
                            nullptr, p, &c.tag, -1, nullptr) != ATTN_OK) {
          ++failures;
          continue;
        }
        std::vector<float> host(c.out.bytes / 4);
        attn_gpu_copy_to_host(host.data(), c.out.ptr, c.out.bytes);
        if (host[0] != static_cast<float>(p[0]))
          ++failures;
      }
    });
  for (auto &th : threads)
    th.join();
  EXPECT_EQ(failures.load(), 0);
}

//===----------------------------------------------------------------------===//
// The launcher's geometry of the tensor-core kernels (mock driver only)
//===----------------------------------------------------------------------===//

struct MockLaunches {
  void (*reset)() = nullptr;
  int (*count)() = nullptr;
  int (*launch)(int, char *, int, unsigned *, unsigned *, unsigned *) = nullptr;
  int (*sharedLimit)(const char *) = nullptr;
  int (*tensorMap)(int, int, int64_t *) = nullptr;
  int (*table)(int, int64_t *, int64_t *) = nullptr;
  explicit operator bool() const {
    return reset && count && launch && sharedLimit && tensorMap && table;
  }
};

/// The mock driver's launch log, when ATTN_CUDA_DRIVER names it.
MockLaunches mockLaunches() {
  MockLaunches m;
  const char *path = std::getenv("ATTN_CUDA_DRIVER");
  void *h = path ? dlopen(path, RTLD_NOW) : nullptr;
  if (!h)
    return m;
  m.reset = reinterpret_cast<void (*)()>(dlsym(h, "attn_mock_reset_launches"));
  m.count = reinterpret_cast<int (*)()>(dlsym(h, "attn_mock_launch_count"));
  m.launch = reinterpret_cast<int (*)(int, char *, int, unsigned *, unsigned *, unsigned *)>(
      dlsym(h, "attn_mock_launch"));
  m.sharedLimit = reinterpret_cast<int (*)(const char *)>(dlsym(h, "attn_mock_shared_limit"));
  m.tensorMap = reinterpret_cast<int (*)(int, int, int64_t *)>(dlsym(h, "attn_mock_launch_tensor_map"));
  m.table = reinterpret_cast<int (*)(int, int64_t *, int64_t *)>(dlsym(h, "attn_mock_launch_table"));
  return m;
}

struct Launch {
  std::string name;
  unsigned grid[3], block[3], shared;
};

std::vector<Launch> launches(const MockLaunches &m) {
  std::vector<Launch> out;
  for (int i = 0; i < m.count(); ++i) {
    char name[128];
    Launch l;
    EXPECT_EQ(m.launch(i, name, sizeof name, l.grid, l.block, &l.shared), 0);
    l.name = name;
    out.push_back(l);
  }
  return out;
}

/// One bf16 call of the mock variant `geom` (tier 128, split and merge
/// kernels present) on device buffers; returns the launches it made.
/// Contiguous bf16 q, k, v, o of a `geom` call in mock device memory.
struct GeomTensors {
  DeviceBuffer qb, kb, vb, ob;
  attn_tensor q, k, v, o;
  GeomTensors(int64_t B, int64_t H, int64_t Hkv, int64_t Sq, int64_t Skv, int64_t D)
      : qb(B * H * Sq * D * 2), kb(B * Hkv * Skv * D * 2), vb(B * Hkv * Skv * D * 2),
        ob(B * H * Sq * D * 2), q(view(ATTN_BF16, {B, H, Sq, D}, qb.ptr)),
        k(view(ATTN_BF16, {B, Hkv, Skv, D}, kb.ptr)), v(view(ATTN_BF16, {B, Hkv, Skv, D}, vb.ptr)),
        o(view(ATTN_BF16, {B, H, Sq, D}, ob.ptr)) {}
};

std::vector<Launch> geomCall(const MockLaunches &m, attn_gpu_module *module, int64_t B, int64_t H,
                             int64_t Hkv, int64_t Sq, int64_t Skv, const char *splitEnv,
                             int64_t qOffset = -1, int64_t D = 128) {
  GeomTensors t(B, H, Hkv, Sq, Skv, D);
  attn_variant_info info{"geom", ATTN_BF16, 0, nullptr, 0, nullptr, 0, 1};
  ::setenv("ATTN_SPLIT_KV", splitEnv, 1);
  m.reset();
  attn_status s = attn_gpu_launch(&info, module, "attn_geom_bf16_gpu", &t.q, &t.k, &t.v, &t.o,
                                  nullptr, nullptr, nullptr, qOffset, nullptr);
  ::unsetenv("ATTN_SPLIT_KV");
  EXPECT_EQ(s, ATTN_OK) << attn_last_error();
  EXPECT_EQ(attn_gpu_synchronize(), ATTN_OK);
  return launches(m);
}

/// The line attnc writes into every image (attn/gpu.h's ATTN_GPU_ABI_VERSION).
#define ATTN_TEST_STR2(x) #x
#define ATTN_TEST_STR(x) ATTN_TEST_STR2(x)
#define ABI_MARKER                                                                                 \
  ".visible .global .align 4 .u32 attn_gpu_abi_version = " ATTN_TEST_STR(ATTN_GPU_ABI_VERSION) ";\n"

/// `geom`'s module with a `_classes` kernel: its mask reads a tensor.
const char kGeomClassesImage[] = ABI_MARKER ".visible .entry attn_geom_bf16_gpu(\n"
                                            ".visible .entry attn_geom_bf16_gpu_d128(\n"
                                            ".visible .entry attn_geom_bf16_gpu_d128_split(\n"
                                            ".visible .entry attn_geom_bf16_gpu_d128_merge(\n"
                                            ".visible .entry attn_geom_bf16_gpu_d128_classes(\n";

/// The mock variant `geom`'s module: the row kernel and tier 128's
/// tensor-core, split and merge kernels (the mock records their launches).
void loadGeomModule(attn_gpu_module **module) {
  ASSERT_EQ(attn_gpu_available(), ATTN_OK) << attn_last_error();
  static const char image[] = ABI_MARKER ".visible .entry attn_geom_bf16_gpu(\n"
                              ".visible .entry attn_geom_bf16_gpu_d128(\n"
                              ".visible .entry attn_geom_bf16_gpu_d128_split(\n"
                              ".visible .entry attn_geom_bf16_gpu_d128_merge(\n";
  ASSERT_EQ(attn_gpu_module_load(image, sizeof image, module), ATTN_OK) << attn_last_error();
}

// A module whose tensor-core kernels were built for another GPU ABI (another
// key tile, shared memory, argument words), or by an attnc from before the
// marker, is refused with both versions named, not launched with this
// runtime's geometry; its row kernel still runs on request.
TEST(GpuMockLaunch, RefusesTensorCoreKernelsOfAnotherAbi) {
  MockLaunches m = mockLaunches();
  if (!m)
    GTEST_SKIP() << "needs the mock driver (ATTN_CUDA_DRIVER=libattn_mock_cuda.so)";
  ASSERT_EQ(attn_gpu_available(), ATTN_OK) << attn_last_error();
  static const char unmarked[] = ".visible .entry attn_geom_bf16_gpu(\n"
                                 ".visible .entry attn_geom_bf16_gpu_d128(\n";
  static const char older[] = ".visible .global .align 4 .u32 attn_gpu_abi_version = 1;\n"
                              ".visible .entry attn_geom_bf16_gpu(\n"
                              ".visible .entry attn_geom_bf16_gpu_d128(\n ";
  GeomTensors t(1, 2, 2, 64, 64, 128);
  attn_tensor &q = t.q, &k = t.k, &v = t.v, &o = t.o;
  attn_variant_info info{"geom", ATTN_BF16, 0, nullptr, 0, nullptr, 0, 1};
  for (const char *image : {unmarked, older}) {
    attn_gpu_module *module = nullptr;
    size_t size = image == unmarked ? sizeof unmarked : sizeof older;
    ASSERT_EQ(attn_gpu_module_load(image, size, &module), ATTN_OK) << attn_last_error();
    m.reset();
    EXPECT_EQ(attn_gpu_launch(&info, module, "attn_geom_bf16_gpu", &q, &k, &v, &o, nullptr,
                              nullptr, nullptr, -1, nullptr),
              ATTN_ERROR_UNSUPPORTED);
    std::string why = attn_last_error();
    EXPECT_NE(why.find("built for GPU ABI 1"), std::string::npos) << why;
    EXPECT_NE(why.find("runs ABI " ATTN_TEST_STR(ATTN_GPU_ABI_VERSION)), std::string::npos) << why;
    EXPECT_EQ(m.count(), 0) << "nothing launched";
    ::setenv("ATTN_GPU_KERNEL", "rows", 1);
    EXPECT_EQ(attn_gpu_launch(&info, module, "attn_geom_bf16_gpu", &q, &k, &v, &o, nullptr,
                              nullptr, nullptr, -1, nullptr),
              ATTN_OK)
        << attn_last_error();
    ::unsetenv("ATTN_GPU_KERNEL");
    EXPECT_EQ(attn_gpu_synchronize(), ATTN_OK);
    ASSERT_EQ(m.count(), 1);
    EXPECT_EQ(launches(m)[0].name, "attn_geom_bf16_gpu");
    attn_gpu_module_unload(module);
  }
}

// A module of ATTN_GPU_ABI_THREE_STAGES (attnc --gpu-overlap) runs its
// tensor-core kernels with the shared memory of three unpadded stages, one of
// ATTN_GPU_ABI_VERSION with that of two padded ones, one of
// ATTN_GPU_ABI_PRODUCER (attnc --gpu-producer) with two padded stages and
// the two Q barriers in blocks of 384 threads, one of
// ATTN_GPU_ABI_PERSISTENT_PRODUCER (--gpu-persistent with the producer) with the persistent grid,
// two Q buffers and six Q barriers in blocks of 384 threads, one of ATTN_GPU_ABI_PAIRED (the
// same with V's four barriers: --gpu-paired-mma); the next version is refused.
TEST(GpuMockLaunch, ThreeStageAndPersistentModulesGetTheirGeometry) {
  MockLaunches m = mockLaunches();
  if (!m)
    GTEST_SKIP() << "needs the mock driver (ATTN_CUDA_DRIVER=libattn_mock_cuda.so)";
  ASSERT_EQ(attn_gpu_available(), ATTN_OK) << attn_last_error();
  auto image = [](int abi) {
    return ".visible .global .align 4 .u32 attn_gpu_abi_version = " + std::to_string(abi) +
           ";\n.visible .entry attn_geom_bf16_gpu(\n.visible .entry attn_geom_bf16_gpu_d128(\n";
  };
  GeomTensors t(1, 2, 2, 300, 300, 128);
  attn_variant_info info{"geom", ATTN_BF16, 0, nullptr, 0, nullptr, 0, 1};
  const int64_t two = attn_gpu_mma_smem_bytes(128, ATTN_GPU_MMA_STAGES),
                three = attn_gpu_mma_smem_bytes(128, 3);
  EXPECT_EQ(ATTN_GPU_MMA_STAGES, 2);
  EXPECT_GT(three, two);
  EXPECT_LE(three, 227 * 1024) << "an H100 block's opt-in limit";
  const int64_t persistent = attn_gpu_mma_persistent_smem_bytes(128);
  EXPECT_GT(persistent, two);
  EXPECT_LE(persistent, 227 * 1024) << "an H100 block's opt-in limit";
  for (auto [abi, bytes] : {std::pair<int, int64_t>{ATTN_GPU_ABI_VERSION, two},
                            std::pair<int, int64_t>{ATTN_GPU_ABI_THREE_STAGES, three},
                            std::pair<int, int64_t>{ATTN_GPU_ABI_PERSISTENT, persistent},
                            std::pair<int, int64_t>{ATTN_GPU_ABI_PRODUCER, two + 16},
                            std::pair<int, int64_t>{ATTN_GPU_ABI_PERSISTENT_PRODUCER, persistent + 64},
                            // ABI 9: the persistent producer that dealt its items (session 19).
                            std::pair<int, int64_t>{9, -1},
                            std::pair<int, int64_t>{ATTN_GPU_ABI_PAIRED, persistent + 64 + 32},
                            std::pair<int, int64_t>{ATTN_GPU_ABI_PAIRED + 1, -1}}) {
    SCOPED_TRACE(abi);
    std::string text = image(abi);
    attn_gpu_module *module = nullptr;
    ASSERT_EQ(attn_gpu_module_load(text.c_str(), text.size() + 1, &module), ATTN_OK) << attn_last_error();
    m.reset();
    attn_status s = attn_gpu_launch(&info, module, "attn_geom_bf16_gpu", &t.q, &t.k, &t.v, &t.o,
                                    nullptr, nullptr, nullptr, -1, nullptr);
    EXPECT_EQ(attn_gpu_synchronize(), ATTN_OK);
    if (bytes < 0) {
      EXPECT_EQ(s, ATTN_ERROR_UNSUPPORTED);
      EXPECT_EQ(m.count(), 0) << "nothing launched";
    } else {
      ASSERT_EQ(s, ATTN_OK) << attn_last_error();
      std::vector<Launch> l = launches(m);
      ASSERT_EQ(l.size(), 1u);
      EXPECT_EQ(l[0].name, "attn_geom_bf16_gpu_d128");
      EXPECT_EQ(l[0].shared, unsigned(bytes));
      EXPECT_GE(m.sharedLimit("attn_geom_bf16_gpu_d128"), bytes);
      // 3 query tiles of 2 heads: a block each, or (persistent) one per SM
      // (the mock has 1) that takes the 6 items in rounds.
      bool persistentAbi = abi == ATTN_GPU_ABI_PERSISTENT || abi == ATTN_GPU_ABI_PERSISTENT_PRODUCER ||
                           abi == ATTN_GPU_ABI_PAIRED;
      EXPECT_EQ(l[0].grid[0], persistentAbi ? 1u : 3u);
      EXPECT_EQ(l[0].grid[1], persistentAbi ? 1u : 2u);
      EXPECT_EQ(l[0].grid[2], 1u);
      EXPECT_EQ(l[0].block[0],
                abi == ATTN_GPU_ABI_PRODUCER || abi == ATTN_GPU_ABI_PERSISTENT_PRODUCER ||
                        abi == ATTN_GPU_ABI_PAIRED
                    ? 384u
                    : 256u);
      EXPECT_EQ(ATTN_GPU_MMA_PRODUCER_BLOCK_SIZE, 384);
      EXPECT_EQ(l[0].block[1] * l[0].block[2], 1u);
    }
    attn_gpu_module_unload(module);
  }
}

// Any tier attnc builds (a multiple of 32 up to 256, --gpu-head-dims) runs:
// D runs the smallest tier >= D that the module holds, and a D above every
// tier runs the row kernel (a module of tiers 96 and 224 only).
TEST(GpuMockLaunch, RunsTheSmallestTierAtLeastD) {
  MockLaunches m = mockLaunches();
  if (!m)
    GTEST_SKIP() << "needs the mock driver (ATTN_CUDA_DRIVER=libattn_mock_cuda.so)";
  ASSERT_EQ(attn_gpu_available(), ATTN_OK) << attn_last_error();
  static const char image[] = ABI_MARKER ".visible .entry attn_geom_bf16_gpu(\n"
                              ".visible .entry attn_geom_bf16_gpu_d96(\n"
                              ".visible .entry attn_geom_bf16_gpu_d224(\n";
  attn_gpu_module *module = nullptr;
  ASSERT_EQ(attn_gpu_module_load(image, sizeof image, &module), ATTN_OK) << attn_last_error();
  const struct {
    int64_t D;
    const char *kernel;
  } cases[] = {{8, "attn_geom_bf16_gpu_d96"},   {96, "attn_geom_bf16_gpu_d96"},
               {97, "attn_geom_bf16_gpu_d224"}, {224, "attn_geom_bf16_gpu_d224"},
               {232, "attn_geom_bf16_gpu"}};
  for (const auto &c : cases) {
    std::vector<Launch> l = geomCall(m, module, 1, 2, 2, 200, 300, "0", -1, c.D);
    ASSERT_EQ(l.size(), 1u) << "D " << c.D;
    EXPECT_EQ(l[0].name, c.kernel) << "D " << c.D;
  }
  const int64_t tiers[] = {224, 96};
  EXPECT_EQ(attn_gpu_tier_for(80, tiers, 2), 96);
  EXPECT_EQ(attn_gpu_tier_for(100, tiers, 2), 224);
  EXPECT_EQ(attn_gpu_tier_for(225, tiers, 2), 0);
  EXPECT_EQ(attn_gpu_module_unload(module), ATTN_OK);
}

// The launcher's 32-bit index guard on Skv and Sq (attn/gpu.h's ATTN_GPU_MAX_INDEX):
// K and V of ATTN_GPU_MAX_INDEX + 1 keys run the row kernel, of
// ATTN_GPU_MAX_INDEX keys the tensor-core kernel. The views overlap (key
// stride 1 element), so that they span 1 GB of address space, not 128; the
// mock's allocation is never touched.
TEST(GpuMockLaunch, IndicesPastTheBoundRunTheRowKernel) {
  MockLaunches m = mockLaunches();
  if (!m)
    GTEST_SKIP() << "needs the mock driver (ATTN_CUDA_DRIVER=libattn_mock_cuda.so)";
  attn_gpu_module *module = nullptr;
  ASSERT_NO_FATAL_FAILURE(loadGeomModule(&module));
  const int64_t B = 1, H = 2, Sq = 64, D = 128, maxKeys = ATTN_GPU_MAX_INDEX + 1;
  DeviceBuffer qb(B * H * Sq * D * 2), ob(B * H * Sq * D * 2);
  // One 1 GB buffer for K and V (address space: the mock's pages are never touched).
  void *kv = nullptr;
  if (attn_gpu_alloc((maxKeys + D) * 2, &kv) != ATTN_OK)
    GTEST_SKIP() << "the mock could not reserve 1 GB of address space: " << attn_last_error();
  struct Free {
    void *p;
    ~Free() { attn_gpu_free(p); }
  } freeKv{kv};
  // 1 GB more for the Sq case's O, which must not overlap its Q.
  void *out = nullptr;
  if (attn_gpu_alloc(maxKeys * 2, &out) != ATTN_OK)
    GTEST_SKIP() << "the mock could not reserve another 1 GB: " << attn_last_error();
  Free freeOut{out};
  attn_tensor q = view(ATTN_BF16, {B, H, Sq, D}, qb.ptr), o = view(ATTN_BF16, {B, H, Sq, D}, ob.ptr);
  attn_variant_info info{"geom", ATTN_BF16, 0, nullptr, 0, nullptr, 0, 1};
  // One call: the kernel it launched, the row kernel when the index bound refuses.
  auto expectKernel = [&](const attn_tensor &qv, const attn_tensor &kv1, const attn_tensor &vv,
                          attn_tensor ov, int64_t qOffset, int64_t n, const char *what) {
    m.reset();
    ASSERT_EQ(attn_gpu_launch(&info, module, "attn_geom_bf16_gpu", &qv, &kv1, &vv, &ov, nullptr,
                              nullptr, nullptr, qOffset, nullptr),
              ATTN_OK)
        << what << " " << n << ": " << attn_last_error();
    EXPECT_EQ(attn_gpu_synchronize(), ATTN_OK);
    std::vector<Launch> l = launches(m);
    ASSERT_EQ(l.size(), 1u) << what << " " << n;
    EXPECT_EQ(l[0].name, n > ATTN_GPU_MAX_INDEX ? "attn_geom_bf16_gpu" : "attn_geom_bf16_gpu_d128")
        << what << " " << n;
  };
  ::setenv("ATTN_SPLIT_KV", "0", 1);
  for (int64_t skv : {maxKeys, maxKeys - 1}) {
    attn_tensor k = view(ATTN_BF16, {B, 1, skv, D}, kv), v = view(ATTN_BF16, {B, 1, skv, D}, kv);
    for (attn_tensor *t : {&k, &v}) {
      t->strides[2] = 1;
      t->strides[1] = t->strides[0] = skv + D;
    }
    // q_offset 0: the default (Skv - Sq) would trip the q_offset + Sq bound instead.
    expectKernel(q, k, v, o, 0, skv, "Skv");
  }
  // The Sq bound: Sq = ATTN_GPU_MAX_INDEX + 1 queries of one head and D = 1
  // (tier 128 still) over one key (the default q_offset, Skv - Sq =
  // -ATTN_GPU_MAX_INDEX, passes its own bounds). Q and the key are views of
  // the K / V allocation; O, which must not overlap them, has 1 GB of its own.
  attn_tensor k1 = view(ATTN_BF16, {1, 1, 1, 1}, kv), v1 = view(ATTN_BF16, {1, 1, 1, 1}, kv);
  for (int64_t sq : {maxKeys, maxKeys - 1}) {
    attn_tensor qq = view(ATTN_BF16, {1, 1, sq, 1}, kv), oo = view(ATTN_BF16, {1, 1, sq, 1}, out);
    expectKernel(qq, k1, v1, oo, -1, sq, "Sq");
  }
  ::unsetenv("ATTN_SPLIT_KV");
  EXPECT_EQ(attn_gpu_module_unload(module), ATTN_OK);
}

TEST(GpuMockLaunch, TensorCoreSplitAndMergeGeometry) {
  MockLaunches m = mockLaunches();
  if (!m)
    GTEST_SKIP() << "needs the mock driver (ATTN_CUDA_DRIVER=libattn_mock_cuda.so)";
  attn_gpu_module *module = nullptr;
  ASSERT_NO_FATAL_FAILURE(loadGeomModule(&module));

  // Prefill, no split: blocks of 128 rows of one (b, h), 256 threads, the
  // pipeline's shared memory, the function's limit raised to it.
  std::vector<Launch> l = geomCall(m, module, 2, 8, 2, 300, 1000, "0");
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].name, "attn_geom_bf16_gpu_d128");
  EXPECT_EQ(l[0].grid[0], 3u); // ceil(300 / 128)
  EXPECT_EQ(l[0].grid[1], 8u);
  EXPECT_EQ(l[0].grid[2], 2u);
  EXPECT_EQ(l[0].block[0], unsigned(ATTN_GPU_MMA_BLOCK_SIZE));
  int64_t smem = attn_gpu_mma_smem_bytes(128, ATTN_GPU_MMA_STAGES);
  EXPECT_EQ(l[0].shared, unsigned(smem));
  EXPECT_GT(smem, 48 * 1024); // above the default: the launcher must raise the limit
  EXPECT_GE(m.sharedLimit("attn_geom_bf16_gpu_d128"), smem);

  // The tensor-core kernels compute indices in 32 bits: a query position
  // past ATTN_GPU_MAX_INDEX runs the row kernel; the last one that fits, or
  // a negative q_offset (Sq > Skv with the default, -200), does not.
  for (auto [sq, skv, off] : {std::tuple<int64_t, int64_t, int64_t>{300, 1000, ATTN_GPU_MAX_INDEX - 299}}) {
    l = geomCall(m, module, 2, 8, 2, sq, skv, "0", off);
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0].name, "attn_geom_bf16_gpu") << "Sq " << sq << " Skv " << skv << " q_offset " << off;
  }
  for (auto [sq, skv, off] : {std::tuple<int64_t, int64_t, int64_t>{300, 1000, ATTN_GPU_MAX_INDEX - 300},
                              {300, 100, -1}}) {
    l = geomCall(m, module, 2, 8, 2, sq, skv, "0", off);
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0].name, "attn_geom_bf16_gpu_d128") << "Sq " << sq << " Skv " << skv << " q_offset " << off;
  }

  // Decode with GQA 4:1 over 4 chunks: split blocks own the 4 query heads of a
  // KV head (one row block of 16 rows: 1 query x 4 heads), grid y = Hkv, grid
  // z = B * W; then the merge, one thread per output element.
  l = geomCall(m, module, 2, 8, 2, 1, 4096, "4");
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].name, "attn_geom_bf16_gpu_d128_split");
  EXPECT_EQ(l[0].grid[0], 1u);
  EXPECT_EQ(l[0].grid[1], 2u);
  EXPECT_EQ(l[0].grid[2], 8u);
  EXPECT_EQ(l[0].block[0], unsigned(ATTN_GPU_SPLIT_BLOCK_SIZE));
  EXPECT_EQ(l[0].shared, unsigned(attn_gpu_split_smem_bytes(128)));
  EXPECT_EQ(l[1].name, "attn_geom_bf16_gpu_d128_merge");
  EXPECT_EQ(l[1].grid[0], unsigned((2 * 8 * 1 * 128 + ATTN_GPU_BLOCK_SIZE - 1) / ATTN_GPU_BLOCK_SIZE));
  EXPECT_EQ(l[1].block[0], unsigned(ATTN_GPU_BLOCK_SIZE));
  EXPECT_EQ(l[1].shared, 0u);

  // 40 queries x 4 heads = 160 packed rows: 10 row blocks.
  l = geomCall(m, module, 1, 8, 2, 40, 4096, "4");
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].grid[0], 10u);
  EXPECT_EQ(l[0].grid[1], 2u);
  EXPECT_EQ(l[0].grid[2], 4u);
  EXPECT_EQ(attn_gpu_module_unload(module), ATTN_OK);
}

// A persistent module (ATTN_GPU_ABI_PERSISTENT): the classes kernel keeps its
// grid over (key tile, query tile, b); the tensor-core kernel runs one block
// per SM (the mock has 1) for its B * H * 3 items.
TEST(GpuMockLaunch, PersistentModuleKeepsTheClassesGrid) {
  MockLaunches m = mockLaunches();
  if (!m)
    GTEST_SKIP() << "needs the mock driver (ATTN_CUDA_DRIVER=libattn_mock_cuda.so)";
  ASSERT_EQ(attn_gpu_available(), ATTN_OK) << attn_last_error();
  std::string image = std::string(".visible .global .align 4 .u32 attn_gpu_abi_version = ") +
                      std::to_string(ATTN_GPU_ABI_PERSISTENT) + ";\n" +
                      (kGeomClassesImage + std::strlen(ABI_MARKER));
  attn_gpu_module *module = nullptr;
  ASSERT_EQ(attn_gpu_module_load(image.c_str(), image.size() + 1, &module), ATTN_OK)
      << attn_last_error();
  std::vector<Launch> l = geomCall(m, module, 2, 8, 2, 300, 1000, "0");
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].name, "attn_geom_bf16_gpu_d128_classes");
  EXPECT_EQ(l[0].grid[1], 3u);
  EXPECT_EQ(l[0].grid[2], 2u);
  EXPECT_EQ(l[1].name, "attn_geom_bf16_gpu_d128");
  EXPECT_EQ(l[1].grid[0], 1u);
  EXPECT_EQ(l[1].grid[1], 1u);
  EXPECT_EQ(l[1].grid[2], 1u);
  EXPECT_EQ(l[1].shared, unsigned(attn_gpu_mma_persistent_smem_bytes(128)));
  EXPECT_EQ(attn_gpu_module_unload(module), ATTN_OK);
}

TEST(GpuMockLaunch, TileClassesRunFirst) {
  MockLaunches m = mockLaunches();
  if (!m)
    GTEST_SKIP() << "needs the mock driver (ATTN_CUDA_DRIVER=libattn_mock_cuda.so)";
  ASSERT_EQ(attn_gpu_available(), ATTN_OK) << attn_last_error();
  attn_gpu_module *module = nullptr;
  ASSERT_EQ(attn_gpu_module_load(kGeomClassesImage, sizeof kGeomClassesImage, &module), ATTN_OK)
      << attn_last_error();
  // Prefill: the classes of (b, query tile, key tile) first, then the
  // tensor-core kernel; both read a table of B * 3 * 16 bytes (the mask
  // reads no head).
  std::vector<Launch> l = geomCall(m, module, 2, 8, 2, 300, 1000, "0");
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].name, "attn_geom_bf16_gpu_d128_classes");
  EXPECT_EQ(l[0].grid[0], unsigned((1000 + attn_gpu_mma_key_tile(128) - 1) / attn_gpu_mma_key_tile(128)));
  EXPECT_EQ(l[0].grid[1], 3u); // ceil(300 / 128)
  EXPECT_EQ(l[0].grid[2], 2u);
  EXPECT_EQ(l[0].block[0], unsigned(ATTN_GPU_CLASSES_BLOCK_SIZE));
  EXPECT_EQ(l[0].shared, 0u);
  EXPECT_EQ(l[1].name, "attn_geom_bf16_gpu_d128");
  int64_t table[2], room[2];
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(m.table(i, &table[i], &room[i]), 0);
  EXPECT_NE(table[0], 0);
  EXPECT_EQ(table[0], table[1]);
  EXPECT_GE(room[0], int64_t(2 * 3 * 16));
  // Decode split in 4: the split kernel classes its tiles itself.
  l = geomCall(m, module, 2, 8, 2, 1, 4096, "4");
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].name, "attn_geom_bf16_gpu_d128_split");
  ASSERT_EQ(m.table(0, &table[0], &room[0]), 0);
  EXPECT_EQ(table[0], 0);
  EXPECT_EQ(attn_gpu_module_unload(module), ATTN_OK);
  // A mask that reads h: `_classes_h`, a table per (b, h), B * H * 3 * 313 bytes (more than the
  // scratch's 4096-byte minimum).
  static const char perHead[] = ABI_MARKER ".visible .entry attn_geom_bf16_gpu(\n"
                                ".visible .entry attn_geom_bf16_gpu_d128(\n"
                                ".visible .entry attn_geom_bf16_gpu_d128_classes_h(\n";
  ASSERT_EQ(attn_gpu_module_load(perHead, sizeof perHead, &module), ATTN_OK) << attn_last_error();
  l = geomCall(m, module, 2, 8, 2, 300, 20000, "0");
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].name, "attn_geom_bf16_gpu_d128_classes_h");
  EXPECT_EQ(l[0].grid[0], unsigned((20000 + attn_gpu_mma_key_tile(128) - 1) / attn_gpu_mma_key_tile(128)));
  EXPECT_EQ(l[1].name, "attn_geom_bf16_gpu_d128");
  ASSERT_EQ(m.table(1, &table[1], &room[1]), 0);
  EXPECT_GE(room[1], int64_t(2 * 8 * 3) * ((20000 + attn_gpu_mma_key_tile(128) - 1) / attn_gpu_mma_key_tile(128)));
  EXPECT_EQ(attn_gpu_module_unload(module), ATTN_OK);
}

// The caller's class table (attn_gpu_class_table, FlexAttention's BlockMask
// reuse): the first call fills it (the classes kernel, then the main kernel,
// both on the caller's table), a call of the same fingerprint skips the
// classes kernel, another param value or filled_for = 0 fills it again;
// timed launches class the tiles once; a table too small or in host memory
// is refused; a call that uses no table (split-KV) leaves it alone.
TEST(GpuMockLaunch, CallersClassTableIsFilledOnceAndReused) {
  MockLaunches m = mockLaunches();
  if (!m)
    GTEST_SKIP() << "needs the mock driver (ATTN_CUDA_DRIVER=libattn_mock_cuda.so)";
  ASSERT_EQ(attn_gpu_available(), ATTN_OK) << attn_last_error();
  attn_gpu_module *module = nullptr;
  ASSERT_EQ(attn_gpu_module_load(kGeomClassesImage, sizeof kGeomClassesImage, &module), ATTN_OK)
      << attn_last_error();
  const int64_t B = 2, H = 8, Hkv = 2, Sq = 300, Skv = 1000, D = 128;
  GeomTensors g(B, H, Hkv, Sq, Skv, D);
  attn_tensor &q = g.q, &k = g.k, &v = g.v, &o = g.o;
  attn_param_info paramInfo[1] = {{"w", ATTN_I32, 1, 4.0}};
  attn_variant_info info{"geom", ATTN_BF16, 1, paramInfo, 0, nullptr, 0, 1};
  double params[1] = {7};
  const char *kernel = "attn_geom_bf16_gpu";
  ::setenv("ATTN_SPLIT_KV", "0", 1);
  size_t bytes = 0;
  ASSERT_EQ(attn_gpu_class_table_bytes(&info, module, kernel, &q, &k, &v, &o, nullptr, params,
                                       nullptr, -1, &bytes),
            ATTN_OK)
      << attn_last_error();
  const int64_t keyTiles = (Skv + attn_gpu_mma_key_tile(128) - 1) / attn_gpu_mma_key_tile(128);
  EXPECT_EQ(bytes, size_t(B * 3 * keyTiles)); // per b (the mask reads no head), 3 query tiles
  DeviceBuffer tb(bytes);
  attn_gpu_class_table table{tb.ptr, bytes, 0};
  auto call = [&](attn_gpu_class_table *t) {
    m.reset();
    EXPECT_EQ(attn_gpu_launch_with_table(&info, module, kernel, &q, &k, &v, &o, nullptr, params,
                                         nullptr, -1, t, nullptr),
              ATTN_OK)
        << attn_last_error();
    return launches(m);
  };
  auto tableWord = [&](int i) {
    int64_t word = 0, room = 0;
    EXPECT_EQ(m.table(i, &word, &room), 0);
    return word;
  };
  const int64_t callers = static_cast<int64_t>(reinterpret_cast<uintptr_t>(tb.ptr));
  std::vector<Launch> l = call(&table);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].name, "attn_geom_bf16_gpu_d128_classes");
  EXPECT_EQ(l[1].name, "attn_geom_bf16_gpu_d128");
  EXPECT_EQ(tableWord(0), callers);
  EXPECT_EQ(tableWord(1), callers);
  const uint64_t filled = table.filled_for;
  EXPECT_NE(filled, 0u);
  l = call(&table); // the same call: the table holds its classes
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].name, "attn_geom_bf16_gpu_d128");
  EXPECT_EQ(tableWord(0), callers);
  EXPECT_EQ(table.filled_for, filled);
  params[0] = 9; // another param value: classed again
  l = call(&table);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].name, "attn_geom_bf16_gpu_d128_classes");
  EXPECT_NE(table.filled_for, filled);
  EXPECT_NE(table.filled_for, 0u);
  table.filled_for = 0; // the caller's tensors changed
  EXPECT_EQ(call(&table).size(), 2u);
  EXPECT_EQ(call(&table).size(), 1u);
  // Without a table every call classes its tiles.
  EXPECT_EQ(call(nullptr).size(), 2u);
  EXPECT_EQ(call(nullptr).size(), 2u);
  // Timed: one warm-up and three timed launches class the tiles once when the
  // table is empty, never when it is filled; attn_gpu_time_launches each time.
  auto timed = [&](attn_gpu_class_table *t) {
    m.reset();
    double median = 0;
    EXPECT_EQ(t ? attn_gpu_time_launches_with_table(&info, module, kernel, &q, &k, &v, &o, nullptr,
                                                    params, nullptr, -1, t, nullptr, 1, 3, nullptr,
                                                    &median)
                : attn_gpu_time_launches(&info, module, kernel, &q, &k, &v, &o, nullptr, params,
                                         nullptr, -1, nullptr, 1, 3, nullptr, &median),
              ATTN_OK)
        << attn_last_error();
    return launches(m).size();
  };
  EXPECT_EQ(timed(&table), 4u);
  table.filled_for = 0;
  EXPECT_EQ(timed(&table), 5u);
  EXPECT_EQ(timed(nullptr), 8u);
  // Too small, or host memory: refused before any launch, the table untouched.
  const uint64_t before = table.filled_for;
  attn_gpu_class_table small{tb.ptr, bytes - 1, before};
  m.reset();
  EXPECT_EQ(attn_gpu_launch_with_table(&info, module, kernel, &q, &k, &v, &o, nullptr, params,
                                       nullptr, -1, &small, nullptr),
            ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attn_last_error()).find("the class table has " + std::to_string(bytes - 1) +
                                                " bytes, this call needs " + std::to_string(bytes)),
            std::string::npos)
      << attn_last_error();
  std::vector<char> host(bytes);
  attn_gpu_class_table onHost{host.data(), bytes, before};
  EXPECT_EQ(attn_gpu_launch_with_table(&info, module, kernel, &q, &k, &v, &o, nullptr, params,
                                       nullptr, -1, &onHost, nullptr),
            ATTN_ERROR_INVALID_ARGUMENT);
  attn_gpu_class_table onO{g.ob.ptr, bytes, before}; // the classes kernel would write into o
  EXPECT_EQ(attn_gpu_launch_with_table(&info, module, kernel, &q, &k, &v, &o, nullptr, params,
                                       nullptr, -1, &onO, nullptr),
            ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(std::string(attn_last_error()), "variant 'geom': the class table shares memory with o");
  EXPECT_EQ(launches(m).size(), 0u);
  for (const attn_gpu_class_table *refused : {&small, &onHost, &onO})
    EXPECT_EQ(refused->filled_for, before);
  // The fingerprint holds the table's place: the same call on another
  // buffer fills that one.
  DeviceBuffer tb2(bytes);
  attn_gpu_class_table moved{tb2.ptr, bytes, before};
  EXPECT_EQ(call(&moved).size(), 2u);
  EXPECT_NE(moved.filled_for, before);
  EXPECT_EQ(call(&moved).size(), 1u);
  // Decode split in 4 uses no table: none needed, the caller's left alone.
  ::setenv("ATTN_SPLIT_KV", "4", 1);
  attn_tensor q1 = view(ATTN_BF16, {B, H, 1, D}, g.qb.ptr), o1 = view(ATTN_BF16, {B, H, 1, D}, g.ob.ptr);
  ASSERT_EQ(attn_gpu_class_table_bytes(&info, module, kernel, &q1, &k, &v, &o1, nullptr, params,
                                       nullptr, -1, &bytes),
            ATTN_OK);
  EXPECT_EQ(bytes, 0u);
  m.reset();
  EXPECT_EQ(attn_gpu_launch_with_table(&info, module, kernel, &q1, &k, &v, &o1, nullptr, params,
                                       nullptr, -1, &table, nullptr),
            ATTN_OK)
      << attn_last_error();
  l = launches(m);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].name, "attn_geom_bf16_gpu_d128_split");
  EXPECT_EQ(table.filled_for, before);
  // The same through a compiled variant's binaries (the JIT's and AOT
  // libraries' path): one fill, then reuse.
  ::setenv("ATTN_SPLIT_KV", "0", 1);
  attn_gpu_binary binary{&info, kGeomClassesImage, sizeof kGeomClassesImage, kernel};
  ASSERT_EQ(attn_gpu_binary_class_table_bytes(&binary, 1, &q, &k, &v, &o, nullptr, params, nullptr,
                                              -1, &bytes),
            ATTN_OK)
      << attn_last_error();
  EXPECT_EQ(bytes, size_t(B * 3 * keyTiles));
  table.filled_for = 0;
  for (size_t expected : {2u, 1u}) {
    m.reset();
    EXPECT_EQ(attn_gpu_binary_run_with_table(&binary, 1, &q, &k, &v, &o, nullptr, params, nullptr,
                                             -1, &table, nullptr),
              ATTN_OK)
        << attn_last_error();
    EXPECT_EQ(launches(m).size(), expected);
  }
  EXPECT_EQ(attn_gpu_binary_release(&binary, 1), ATTN_OK);
  ::unsetenv("ATTN_SPLIT_KV");
  EXPECT_EQ(attn_gpu_synchronize(), ATTN_OK);
  EXPECT_EQ(attn_gpu_module_unload(module), ATTN_OK);
}

/// One bf16 prefill call of the mock variant `geom` (tier 128) with K and V
/// of `kvShape`, row stride `rowStride` elements, under ATTN_GPU_TMA=`tmaEnv`
/// (null: unset); returns whether the launch had the tensor maps of K and V
/// (0; 1 = none) and sets `qMap` to whether it had Q's; the maps in
/// maps[which][0..16) (K, V, Q), the data in kv[which].
int geomMaps(const MockLaunches &m, attn_gpu_module *module, int64_t Skv, int64_t D, int64_t rowStride,
             const char *tmaEnv, int64_t maps[3][16], uintptr_t kv[3], int *qMap = nullptr) {
  const int64_t B = 2, H = 8, Hkv = 2, Sq = 300;
  DeviceBuffer qb(B * H * Sq * D * 2), kb(B * Hkv * Skv * rowStride * 2),
      vb(B * Hkv * Skv * rowStride * 2), ob(B * H * Sq * D * 2);
  attn_tensor q = view(ATTN_BF16, {B, H, Sq, D}, qb.ptr), o = view(ATTN_BF16, {B, H, Sq, D}, ob.ptr);
  attn_tensor k = view(ATTN_BF16, {B, Hkv, Skv, D}, kb.ptr), v = view(ATTN_BF16, {B, Hkv, Skv, D}, vb.ptr);
  for (attn_tensor *t : {&k, &v}) {
    t->strides[2] = rowStride;
    t->strides[1] = Skv * rowStride;
    t->strides[0] = Hkv * Skv * rowStride;
  }
  kv[0] = reinterpret_cast<uintptr_t>(kb.ptr);
  kv[1] = reinterpret_cast<uintptr_t>(vb.ptr);
  kv[2] = reinterpret_cast<uintptr_t>(qb.ptr);
  attn_variant_info info{"geom", ATTN_BF16, 0, nullptr, 0, nullptr, 0, 1};
  ::setenv("ATTN_SPLIT_KV", "0", 1);
  if (tmaEnv)
    ::setenv("ATTN_GPU_TMA", tmaEnv, 1);
  m.reset();
  attn_status s = attn_gpu_launch(&info, module, "attn_geom_bf16_gpu", &q, &k, &v, &o, nullptr,
                                  nullptr, nullptr, -1, nullptr);
  ::unsetenv("ATTN_SPLIT_KV");
  ::unsetenv("ATTN_GPU_TMA");
  EXPECT_EQ(s, ATTN_OK) << attn_last_error();
  EXPECT_EQ(attn_gpu_synchronize(), ATTN_OK);
  EXPECT_EQ(m.count(), 1);
  int r0 = m.tensorMap(0, 0, maps[0]), r1 = m.tensorMap(0, 1, maps[1]), r2 = m.tensorMap(0, 2, maps[2]);
  EXPECT_EQ(r0, r1) << "K and V maps come together";
  EXPECT_TRUE(r2 == 1 || r0 == 0) << "a Q map only with K's and V's";
  if (qMap)
    *qMap = r2;
  return r0;
}

TEST(GpuMockLaunch, TensorMapsOfKVAndQ) {
  MockLaunches m = mockLaunches();
  if (!m)
    GTEST_SKIP() << "needs the mock driver (ATTN_CUDA_DRIVER=libattn_mock_cuda.so)";
  attn_gpu_module *module = nullptr;
  ASSERT_NO_FATAL_FAILURE(loadGeomModule(&module));
  int64_t maps[3][16];
  uintptr_t kv[3];
  int qMap = -1;
  // Dense K / V, D = 100 in tier 128, rows padded to 104 elements (208
  // bytes, a multiple of 16): maps over (D, Skv, Hkv, B) with byte strides,
  // 64 x 64-key boxes, 128-byte swizzle, zero fill, 16-bit elements. Q's
  // rows are 100 elements (200 bytes): no Q map.
  ASSERT_EQ(geomMaps(m, module, 1000, 100, 104, "1", maps, kv, &qMap), 0);
  EXPECT_EQ(qMap, 1);
  for (int w = 0; w < 2; ++w) {
    SCOPED_TRACE(w ? "V" : "K");
    EXPECT_EQ(maps[w][0], int64_t(kv[w]));
    EXPECT_EQ(std::vector<int64_t>(maps[w] + 1, maps[w] + 5), (std::vector<int64_t>{100, 1000, 2, 2}));
    EXPECT_EQ(std::vector<int64_t>(maps[w] + 5, maps[w] + 8),
              (std::vector<int64_t>{208, 208 * 1000, 208 * 1000 * 2}));
    EXPECT_EQ(std::vector<int64_t>(maps[w] + 8, maps[w] + 12),
              (std::vector<int64_t>{64, attn_gpu_mma_key_tile(128), 1, 1}));
    EXPECT_EQ(maps[w][12], 1); // CU_TENSOR_MAP_DATA_TYPE_UINT16
    EXPECT_EQ(maps[w][13], 3); // CU_TENSOR_MAP_SWIZZLE_128B
    EXPECT_EQ(maps[w][14], 0); // zeros out of bounds
  }
  // Dense Q of D = 128 (300 queries, 8 heads, 2 batches): its map has boxes
  // of 64 columns and 64 rows (a consumer warpgroup's).
  ASSERT_EQ(geomMaps(m, module, 1000, 128, 128, "1", maps, kv, &qMap), 0);
  ASSERT_EQ(qMap, 0);
  EXPECT_EQ(maps[2][0], int64_t(kv[2]));
  EXPECT_EQ(std::vector<int64_t>(maps[2] + 1, maps[2] + 5), (std::vector<int64_t>{128, 300, 8, 2}));
  EXPECT_EQ(std::vector<int64_t>(maps[2] + 5, maps[2] + 8),
            (std::vector<int64_t>{256, 256 * 300, 256 * 300 * 8}));
  EXPECT_EQ(std::vector<int64_t>(maps[2] + 8, maps[2] + 12), (std::vector<int64_t>{64, 64, 1, 1}));
  EXPECT_EQ(maps[2][13], 3); // CU_TENSOR_MAP_SWIZZLE_128B
  EXPECT_EQ(maps[2][14], 0); // zeros out of bounds
  // Rows 100 elements apart (200 bytes, not a multiple of 16): no maps, the
  // kernel copies with cp.async.
  EXPECT_EQ(geomMaps(m, module, 1000, 100, 100, "1", maps, kv), 1);
  // On by default; ATTN_GPU_TMA=0 turns them off.
  EXPECT_EQ(geomMaps(m, module, 1000, 128, 128, nullptr, maps, kv), 0);
  EXPECT_EQ(geomMaps(m, module, 1000, 128, 128, "0", maps, kv, &qMap), 1);
  EXPECT_EQ(qMap, 1);
  EXPECT_EQ(geomMaps(m, module, 1000, 128, 128, "1", maps, kv), 0);
  // ATTN_GPU_TMA=kv: K's and V's, not Q's.
  EXPECT_EQ(geomMaps(m, module, 1000, 128, 128, "kv", maps, kv, &qMap), 0);
  EXPECT_EQ(qMap, 1);
  EXPECT_EQ(attn_gpu_module_unload(module), ATTN_OK);
}

//===----------------------------------------------------------------------===//
// attnc's own kernel (ATTN_TEST_CUBIN, ATTN_TEST_KERNEL)
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
  // Round to nearest even through the hardware-independent bit recipe.
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  if (x > 0x7f800000u)
    return static_cast<uint16_t>(sign | 0x7e00u);
  if (x >= 0x477ff000u)
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (x < 0x38800000u) { // subnormal or zero
    float a;
    std::memcpy(&a, &x, 4);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));
  }
  uint32_t r = x + 0xfffu + ((x >> 13) & 1u) - 0x38000000u;
  return static_cast<uint16_t>(sign | (r >> 13));
}
float fromF16(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  float f;
  if (e == 0)
    f = std::ldexp(static_cast<float>(m), -24);
  else if (e == 31)
    f = m ? std::nanf("") : std::numeric_limits<float>::infinity();
  else
    f = std::ldexp(static_cast<float>(m | 0x400), static_cast<int>(e) - 25);
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u |= sign;
  std::memcpy(&f, &u, 4);
  return f;
}

/// attn_<variant>_<dtype>_gpu -> (variant, dtype).
bool parseKernelName(const std::string &name, std::string &variant, attn_dtype &dtype) {
  const std::string suffix = "_gpu";
  if (name.rfind("attn_", 0) != 0 || name.size() < 9 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  std::string core = name.substr(5, name.size() - 5 - suffix.size());
  for (auto [text, t] : {std::pair<const char *, attn_dtype>{"_bf16", ATTN_BF16},
                         {"_f16", ATTN_F16},
                         {"_f32", ATTN_F32}}) {
    std::string s = text;
    if (core.size() > s.size() && core.compare(core.size() - s.size(), s.size(), s) == 0) {
      variant = core.substr(0, core.size() - s.size());
      dtype = t;
      return true;
    }
  }
  return false;
}

struct AttncKernelCase {
  const char *name;
  int64_t B, H, Hkv, Sq, Skv, D, qOffset;
};

TEST(GpuAttncKernel, MatchesFloat64) {
  const char *cubin = std::getenv("ATTN_TEST_CUBIN");
  const char *kernel = std::getenv("ATTN_TEST_KERNEL");
  if (!cubin || !kernel)
    GTEST_SKIP() << "set ATTN_TEST_CUBIN and ATTN_TEST_KERNEL to test attnc's kernel";
  REQUIRE_GPU();
  std::string variant;
  attn_dtype dtype;
  ASSERT_TRUE(parseKernelName(kernel, variant, dtype))
      << "ATTN_TEST_KERNEL must be attn_<variant>_<bf16|f16|f32>_gpu, got " << kernel;
  if (variant != "full" && variant != "causal")
    GTEST_SKIP() << "this test knows full and causal; attn-gpu-bench checks the others";
  const bool causal = variant == "causal";
  std::ifstream file(cubin, std::ios::binary);
  ASSERT_TRUE(file) << "cannot read " << cubin;
  std::vector<char> image((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  attn_gpu_module *module = nullptr;
  ASSERT_EQ(attn_gpu_module_load(image.data(), image.size(), &module), ATTN_OK)
      << attn_last_error();
  const double tolerance = dtype == ATTN_BF16 ? 1e-2 : dtype == ATTN_F16 ? 2e-3 : 1e-4;
  const size_t es = attn_dtype_size(dtype);
  attn_variant_info info{variant.c_str(), dtype, 0, nullptr, 0, nullptr, 1, 1};
  std::mt19937 rng(12345);
  std::normal_distribution<float> normal(0.0f, 1.0f);

  const AttncKernelCase cases[] = {
      {"mha", 2, 4, 4, 130, 130, 64, -1},    {"gqa", 1, 8, 2, 77, 77, 128, -1},
      {"decode", 3, 8, 2, 1, 300, 128, -1},  {"chunk", 1, 4, 1, 16, 200, 64, -1},
      {"q_offset", 1, 2, 2, 40, 100, 64, 30}, {"d80", 1, 2, 2, 33, 33, 80, -1}};
  for (const auto &cs : cases) {
    SCOPED_TRACE(cs.name);
    const int64_t B = cs.B, H = cs.H, Hkv = cs.Hkv, Sq = cs.Sq, Skv = cs.Skv, D = cs.D;
    const int64_t qOff = cs.qOffset < 0 ? Skv - Sq : cs.qOffset;
    auto make = [&](int64_t n, std::vector<double> &exact, std::vector<uint16_t> &bits16,
                    std::vector<float> &bits32) {
      exact.resize(static_cast<size_t>(n));
      for (auto &x : exact) {
        float f = normal(rng);
        if (dtype == ATTN_BF16) {
          bits16.push_back(toBf16(f));
          x = fromBf16(bits16.back());
        } else if (dtype == ATTN_F16) {
          bits16.push_back(toF16(f));
          x = fromF16(bits16.back());
        } else {
          bits32.push_back(f);
          x = f;
        }
      }
    };
    std::vector<double> qd, kd, vd;
    std::vector<uint16_t> q16, k16, v16;
    std::vector<float> q32, k32, v32;
    make(B * H * Sq * D, qd, q16, q32);
    make(B * Hkv * Skv * D, kd, k16, k32);
    make(B * Hkv * Skv * D, vd, v16, v32);
    auto upload = [&](DeviceBuffer &buf, std::vector<uint16_t> &b16, std::vector<float> &b32) {
      const void *src = dtype == ATTN_F32 ? static_cast<const void *>(b32.data()) : b16.data();
      ASSERT_EQ(attn_gpu_copy_to_device(buf.ptr, src, buf.bytes), ATTN_OK);
    };
    DeviceBuffer qb(qd.size() * es), kb(kd.size() * es), vb(vd.size() * es),
        ob(qd.size() * es), lb(static_cast<size_t>(B * H * Sq) * 4);
    upload(qb, q16, q32);
    upload(kb, k16, k32);
    upload(vb, v16, v32);
    std::vector<unsigned char> poison(ob.bytes, 0xff); // NaN in every dtype
    ASSERT_EQ(attn_gpu_copy_to_device(ob.ptr, poison.data(), ob.bytes), ATTN_OK);
    ASSERT_EQ(attn_gpu_copy_to_device(lb.ptr, poison.data(), lb.bytes), ATTN_OK);
    attn_tensor q = view(dtype, {B, H, Sq, D}, qb.ptr), k = view(dtype, {B, Hkv, Skv, D}, kb.ptr),
                v = view(dtype, {B, Hkv, Skv, D}, vb.ptr), o = view(dtype, {B, H, Sq, D}, ob.ptr),
                lse = view(ATTN_F32, {B, H, Sq}, lb.ptr);
    ASSERT_EQ(attn_gpu_launch(&info, module, kernel, &q, &k, &v, &o, &lse, nullptr, nullptr,
                              cs.qOffset, nullptr),
              ATTN_OK)
        << attn_last_error();
    std::vector<unsigned char> ohost(ob.bytes);
    std::vector<float> lhost(static_cast<size_t>(B * H * Sq));
    ASSERT_EQ(attn_gpu_copy_to_host(ohost.data(), ob.ptr, ob.bytes), ATTN_OK);
    ASSERT_EQ(attn_gpu_copy_to_host(lhost.data(), lb.ptr, lb.bytes), ATTN_OK);
    auto out = [&](size_t i) -> double {
      if (dtype == ATTN_F32)
        return reinterpret_cast<const float *>(ohost.data())[i];
      uint16_t h = reinterpret_cast<const uint16_t *>(ohost.data())[i];
      return dtype == ATTN_BF16 ? fromBf16(h) : fromF16(h);
    };
    double errSq = 0, refSq = 0, lseErr = 0;
    int64_t unwritten = 0;
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    std::vector<double> s(static_cast<size_t>(Skv)), acc(static_cast<size_t>(D));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h) {
        int64_t hk = h / (H / Hkv);
        for (int64_t r = 0; r < Sq; ++r) {
          int64_t i = qOff + r;
          const double *qrow = &qd[static_cast<size_t>(((b * H + h) * Sq + r) * D)];
          double m = -INFINITY;
          for (int64_t j = 0; j < Skv; ++j) {
            s[j] = -INFINITY;
            if (causal && j > i)
              continue;
            const double *krow = &kd[static_cast<size_t>(((b * Hkv + hk) * Skv + j) * D)];
            double dot = 0;
            for (int64_t d = 0; d < D; ++d)
              dot += qrow[d] * krow[d];
            s[j] = dot * scale;
            m = std::max(m, s[j]);
          }
          std::fill(acc.begin(), acc.end(), 0.0);
          double z = 0;
          for (int64_t j = 0; j < Skv; ++j) {
            if (s[j] == -INFINITY)
              continue;
            double w = std::exp(s[j] - m);
            z += w;
            const double *vrow = &vd[static_cast<size_t>(((b * Hkv + hk) * Skv + j) * D)];
            for (int64_t d = 0; d < D; ++d)
              acc[d] += w * vrow[d];
          }
          size_t rowIndex = static_cast<size_t>((b * H + h) * Sq + r);
          for (int64_t d = 0; d < D; ++d) {
            double ref = z > 0 ? acc[d] / z : 0.0;
            double got = out(rowIndex * D + d);
            if (std::isnan(got))
              ++unwritten;
            else
              errSq += (got - ref) * (got - ref);
            refSq += ref * ref;
          }
          double refLse = z > 0 ? m + std::log(z) : -INFINITY;
          double gotLse = lhost[rowIndex];
          if (refLse == -INFINITY)
            lseErr = std::max(lseErr, gotLse == -INFINITY ? 0.0 : INFINITY);
          else
            lseErr = std::max(lseErr, std::isnan(gotLse) ? INFINITY : std::fabs(gotLse - refLse));
        }
      }
    double rel = std::sqrt(errSq / std::max(refSq, 1e-300));
    std::printf("%s %s B=%lld H=%lld Hkv=%lld Sq=%lld Skv=%lld D=%lld: rel err %.2e, lse max "
                "abs err %.2e\n",
                kernel, cs.name, (long long)B, (long long)H, (long long)Hkv, (long long)Sq,
                (long long)Skv, (long long)D, rel, lseErr);
    EXPECT_EQ(unwritten, 0);
    EXPECT_LT(rel, tolerance);
    EXPECT_LT(lseErr, 1e-3);
  }
  EXPECT_EQ(attn_gpu_module_unload(module), ATTN_OK);
}

} // namespace
