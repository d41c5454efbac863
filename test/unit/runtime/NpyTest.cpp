//===- NpyTest.cpp - .npy reader/writer: round trips and malformed files --===//
#include "attn/npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

std::string tempPath(const std::string &name) {
  const char *dir = std::getenv("TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/attn_npytest_" +
         std::to_string(::getpid()) + "_" + name;
}

/// Builds a .npy file image by hand (independent of the writer).
std::string makeNpy(const std::string &dict, const std::string &data,
                    int major = 1) {
  std::string hdr = dict;
  size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + hdr.size() + 1) % 64 != 0)
    hdr += ' ';
  hdr += '\n';
  std::string out = "\x93NUMPY";
  out += (char)major;
  out += '\0';
  size_t n = hdr.size();
  out += (char)(n & 0xff);
  out += (char)((n >> 8) & 0xff);
  if (major != 1) {
    out += (char)((n >> 16) & 0xff);
    out += (char)((n >> 24) & 0xff);
  }
  return out + hdr + data;
}

std::string floatBytes(const std::vector<float> &v) {
  return std::string((const char *)v.data(), v.size() * 4);
}

TEST(Npy, ReadsHandWrittenV1V2V3) {
  std::vector<float> vals = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -0.5f};
  for (int major : {1, 2, 3}) {
    std::string file = makeNpy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        floatBytes(vals), major);
    attn_npy_array a;
    ASSERT_EQ(attn_npy_read_buffer(file.data(), file.size(), &a), ATTN_OK)
        << attn_last_error();
    EXPECT_EQ(a.dtype, ATTN_F32);
    ASSERT_EQ(a.rank, 2);
    EXPECT_EQ(a.shape[0], 2);
    EXPECT_EQ(a.shape[1], 3);
    std::vector<double> d(6);
    ASSERT_EQ(attn_npy_to_f64(&a, d.data()), ATTN_OK);
    for (int e = 0; e < 6; ++e)
      EXPECT_EQ(d[e], vals[e]);
    attn_npy_free(&a);
  }
}

TEST(Npy, ReadsBigEndianAndScalars) {
  // '>f8' value 2.5 = 0x4004000000000000
  std::string be = std::string("\x40\x04\0\0\0\0\0\0", 8);
  std::string file = makeNpy(
      "{'descr': '>f8', 'fortran_order': False, 'shape': (), }", be);
  attn_npy_array a;
  ASSERT_EQ(attn_npy_read_buffer(file.data(), file.size(), &a), ATTN_OK)
      << attn_last_error();
  EXPECT_EQ(a.rank, 0);
  EXPECT_EQ(attn_npy_num_elements(&a), 1);
  EXPECT_EQ(((double *)a.data)[0], 2.5);
  attn_npy_free(&a);
}

TEST(Npy, RoundTripsEveryDtype) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> dist(-100.0, 100.0);
  for (attn_dtype dt : {ATTN_F32, ATTN_F64, ATTN_I32, ATTN_F16, ATTN_BF16,
                        ATTN_BOOL}) {
    for (int rank : {0, 1, 3}) {
      int64_t shape[3] = {3, 1, 5};
      attn_npy_array a;
      ASSERT_EQ(attn_npy_alloc(dt, rank, shape, &a), ATTN_OK);
      int64_t n = attn_npy_num_elements(&a);
      std::vector<double> in(n), back(n), again(n);
      for (auto &x : in)
        x = dist(rng);
      ASSERT_EQ(attn_npy_from_f64(&a, in.data(), n), ATTN_OK);
      ASSERT_EQ(attn_npy_to_f64(&a, back.data()), ATTN_OK);
      // Conversion error bounded by the dtype's precision.
      double relTol = dt == ATTN_F64 ? 0 : dt == ATTN_F32 ? 1e-7
                      : dt == ATTN_F16 ? 1e-3 : 8e-3;
      for (int64_t e = 0; e < n; ++e) {
        if (dt == ATTN_I32)
          EXPECT_EQ(back[e], std::nearbyint(in[e]));
        else if (dt == ATTN_BOOL)
          EXPECT_EQ(back[e], in[e] != 0 ? 1.0 : 0.0);
        else
          EXPECT_LE(std::fabs(back[e] - in[e]), relTol * std::fabs(in[e]));
      }
      std::string path = tempPath("rt.npy");
      ASSERT_EQ(attn_npy_write(path.c_str(), &a), ATTN_OK) << attn_last_error();
      attn_npy_array b;
      ASSERT_EQ(attn_npy_read(path.c_str(), &b), ATTN_OK) << attn_last_error();
      EXPECT_EQ(b.dtype, dt);
      ASSERT_EQ(b.rank, rank);
      for (int r = 0; r < rank; ++r)
        EXPECT_EQ(b.shape[r], shape[r]);
      ASSERT_EQ(b.nbytes, a.nbytes);
      EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes), 0);
      // The header is 64-byte aligned and NumPy-shaped.
      FILE *f = std::fopen(path.c_str(), "rb");
      char buf[128] = {};
      ASSERT_EQ(std::fread(buf, 1, 10, f), 10u);
      std::fclose(f);
      size_t hlen = (unsigned char)buf[8] | ((unsigned char)buf[9] << 8);
      EXPECT_EQ((10 + hlen) % 64, 0u);
      std::remove(path.c_str());
      attn_npy_free(&a);
      attn_npy_free(&b);
    }
  }
}

TEST(Npy, HalfConversions) {
  EXPECT_EQ(attn_f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(attn_f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(attn_f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(attn_f32_to_f16(65520.0f), 0x7c00); // rounds to inf
  EXPECT_EQ(attn_f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(attn_f32_to_f16(std::ldexp(1.0f, -26)), 0x0000); // ties to even
  EXPECT_EQ(attn_f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(attn_f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_TRUE(std::isnan(attn_f16_to_f32(attn_f32_to_f16(NAN))));
  EXPECT_EQ(attn_f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(attn_bf16_to_f32(0x4049), 3.140625f);
  EXPECT_TRUE(std::isnan(attn_bf16_to_f32(attn_f32_to_bf16(NAN))));
  // Every finite half survives f16 -> f32 -> f16.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00)
      continue;
    EXPECT_EQ(attn_f32_to_f16(attn_f16_to_f32((uint16_t)h)), h);
  }
}

/// A string literal with embedded NULs.
#define LIT(s) std::string(s, sizeof(s) - 1)

struct BadCase {
  const char *name;
  std::string bytes;
  attn_status status;
  const char *message;
};

TEST(Npy, RejectsMalformedFilesWithClearErrors) {
  std::string six = floatBytes({1, 2, 3, 4, 5, 6});
  std::vector<BadCase> cases = {
      {"empty", "", ATTN_ERROR_INVALID_ARGUMENT, "truncated"},
      {"bad magic", LIT("\x93NUMPX\x01\0\x10\0{}"), ATTN_ERROR_INVALID_ARGUMENT,
       "bad magic"},
      {"version", LIT("\x93NUMPY\x07\0\x10\0{}"), ATTN_ERROR_UNSUPPORTED,
       "version 7.0"},
      {"dtype", makeNpy("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
                        std::string(24, '\0')),
       ATTN_ERROR_UNSUPPORTED, "unsupported dtype '<i8'"},
      {"structured",
       makeNpy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
               std::string(4, '\0')),
       ATTN_ERROR_UNSUPPORTED, "structured"},
      {"fortran", makeNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", six),
       ATTN_ERROR_UNSUPPORTED, "Fortran"},
      {"truncated data",
       makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", six),
       ATTN_ERROR_INVALID_ARGUMENT, "promises 32 bytes, the file has 24"},
      {"huge shape",
       makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (100000000, 100000000, 100000000), }", six),
       ATTN_ERROR_INVALID_ARGUMENT, "too large"},
      {"overflowing dim",
       makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", six),
       ATTN_ERROR_INVALID_ARGUMENT, "too large"},
      {"negative", makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", six),
       ATTN_ERROR_INVALID_ARGUMENT, "negative"},
      {"rank 9",
       makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", six),
       ATTN_ERROR_INVALID_ARGUMENT, "rank exceeds 8"},
      {"missing key", makeNpy("{'descr': '<f4', 'shape': (1,), }", six),
       ATTN_ERROR_INVALID_ARGUMENT, "lacks"},
      {"extra key",
       makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", six),
       ATTN_ERROR_INVALID_ARGUMENT, "unexpected key 'x'"},
      {"not a dict", makeNpy("['descr']", six), ATTN_ERROR_INVALID_ARGUMENT,
       "not a dict"},
      {"unterminated", makeNpy("{'descr: <f4", six), ATTN_ERROR_INVALID_ARGUMENT,
       "unterminated"},
      {"header past end", std::string("\x93NUMPY\x01\0\xff\x7f{'descr'", 18),
       ATTN_ERROR_INVALID_ARGUMENT, "truncated .npy header"},
  };
  for (auto &c : cases) {
    attn_npy_array a;
    attn_status s = attn_npy_read_buffer(c.bytes.data(), c.bytes.size(), &a);
    EXPECT_EQ(s, c.status) << c.name << ": " << attn_last_error();
    EXPECT_NE(std::string(attn_last_error()).find(c.message), std::string::npos)
        << c.name << ": got '" << attn_last_error() << "'";
    EXPECT_EQ(a.data, nullptr) << c.name;
    // The same through a file.
    std::string path = tempPath("bad.npy");
    FILE *f = std::fopen(path.c_str(), "wb");
    std::fwrite(c.bytes.data(), 1, c.bytes.size(), f);
    std::fclose(f);
    EXPECT_EQ(attn_npy_read(path.c_str(), &a), c.status) << c.name;
    EXPECT_NE(std::string(attn_last_error()).find(c.message), std::string::npos)
        << c.name << " (file): got '" << attn_last_error() << "'";
    std::remove(path.c_str());
  }
}

TEST(Npy, UnreadableFile) {
  attn_npy_array a;
  EXPECT_EQ(attn_npy_read("/nonexistent/dir/x.npy", &a), ATTN_ERROR_IO);
  EXPECT_NE(std::string(attn_last_error()).find("cannot open"), std::string::npos);
  EXPECT_EQ(attn_npy_read("/", &a), ATTN_ERROR_IO) << attn_last_error();
}

TEST(Npy, FuzzedHeadersNeverCrash) {
  std::string good = makeNpy(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
      floatBytes({1, 2, 3, 4, 5, 6}));
  std::mt19937 rng(1234);
  int ok = 0, failed = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string f = good;
    int edits = 1 + rng() % 4;
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % f.size();
      switch (rng() % 3) {
      case 0: f[pos] = (char)(rng() & 0xff); break;
      case 1: f.erase(pos, 1 + rng() % 8); break;
      case 2: f.resize(pos); break;
      }
      if (f.empty())
        break;
    }
    attn_npy_array a;
    attn_status s = attn_npy_read_buffer(f.data(), f.size(), &a);
    if (s == ATTN_OK) {
      ++ok;
      EXPECT_LE((uint64_t)attn_npy_num_elements(&a) * attn_dtype_size(a.dtype),
                f.size());
      attn_npy_free(&a);
    } else {
      ++failed;
      EXPECT_NE(std::string(attn_last_error()), "");
    }
  }
  EXPECT_GT(failed, 0);
  EXPECT_GT(ok, 0); // edits in padding or data keep the file valid
}

} // namespace
