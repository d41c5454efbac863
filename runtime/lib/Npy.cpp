//===- Npy.cpp - NumPy .npy reader and writer ------------------------------===//
//
// The header is a Python dict literal; this file parses exactly the subset
// NumPy writes ('descr', 'fortran_order', 'shape') with bounds checks on
// every byte, so that a corrupted file yields a status, never a crash.
//
//===----------------------------------------------------------------------===//
#include "attn/npy.h"
#include "runtime/lib/Error.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

using attn::rt::fail;

namespace {

const unsigned char kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/// What the header says.
struct Header {
  attn_dtype dtype = ATTN_F32;
  bool byteSwap = false;
  int32_t rank = 0;
  int64_t shape[ATTN_MAX_RANK] = {};
  uint64_t numElements = 1;
  uint64_t dataBytes = 0;
  size_t dataOffset = 0; ///< where the data starts
};

/// A cursor over the header text that never reads past its end.
class DictParser {
public:
  DictParser(const char *text, size_t size) : text(text), size(size) {}

  attn_status parse(Header &h, const std::string &where) {
    this->where = where;
    bool haveDescr = false, haveOrder = false, haveShape = false;
    skipSpace();
    if (!consume('{'))
      return error("header is not a dict (expected '{')");
    while (true) {
      skipSpace();
      if (consume('}'))
        break;
      std::string key;
      if (attn_status s = parseString(key))
        return s;
      skipSpace();
      if (!consume(':'))
        return error("expected ':' after key '" + key + "'");
      skipSpace();
      if (key == "descr") {
        if (haveDescr)
          return error("duplicate key 'descr'");
        haveDescr = true;
        if (peek() == '[')
          return fail(ATTN_ERROR_UNSUPPORTED,
                      where + ": unsupported dtype: structured arrays are not "
                              "supported (need <f4, <f8, <f2, <i4 or <u2 = bf16)");
        std::string descr;
        if (attn_status s = parseString(descr))
          return s;
        if (attn_status s = decodeDescr(descr, h))
          return s;
      } else if (key == "fortran_order") {
        if (haveOrder)
          return error("duplicate key 'fortran_order'");
        haveOrder = true;
        if (consumeWord("True"))
          return fail(ATTN_ERROR_UNSUPPORTED,
                      where + ": Fortran-order arrays are not supported; save a "
                              "C-order array (np.ascontiguousarray)");
        if (!consumeWord("False"))
          return error("'fortran_order' must be True or False");
      } else if (key == "shape") {
        if (haveShape)
          return error("duplicate key 'shape'");
        haveShape = true;
        if (attn_status s = parseShape(h))
          return s;
      } else {
        return error("unexpected key '" + key + "' in header");
      }
      skipSpace();
      if (consume(','))
        continue;
      skipSpace();
      if (consume('}'))
        break;
      return error("expected ',' or '}' in header dict");
    }
    if (!haveDescr || !haveOrder || !haveShape)
      return error("header lacks one of 'descr', 'fortran_order', 'shape'");
    return ATTN_OK;
  }

private:
  const char *text;
  size_t size;
  size_t pos = 0;
  std::string where;

  attn_status error(const std::string &msg) {
    return fail(ATTN_ERROR_INVALID_ARGUMENT,
                where + ": malformed .npy header: " + msg);
  }
  int peek() const { return pos < size ? (unsigned char)text[pos] : -1; }
  bool consume(char c) {
    if (peek() != (unsigned char)c)
      return false;
    ++pos;
    return true;
  }
  bool consumeWord(const char *w) {
    size_t n = std::strlen(w);
    if (size - pos < n || std::memcmp(text + pos, w, n) != 0)
      return false;
    pos += n;
    return true;
  }
  void skipSpace() {
    while (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')
      ++pos;
  }
  attn_status parseString(std::string &out) {
    int quote = peek();
    if (quote != '\'' && quote != '"')
      return error("expected a quoted string");
    ++pos;
    while (peek() != quote) {
      if (peek() < 0)
        return error("unterminated string");
      if (out.size() > 64)
        return error("string too long");
      out.push_back(text[pos++]);
    }
    ++pos;
    return ATTN_OK;
  }
  attn_status parseShape(Header &h) {
    if (!consume('('))
      return error("'shape' must be a tuple");
    h.rank = 0;
    h.numElements = 1;
    bool anyZero = false;
    uint64_t nonZeroProduct = 1;
    while (true) {
      skipSpace();
      if (consume(')'))
        break;
      if (peek() == '-')
        return error("negative dimension in 'shape'");
      if (peek() < '0' || peek() > '9')
        return error("expected an integer in 'shape'");
      uint64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        v = v * 10 + (uint64_t)(peek() - '0');
        if (v > ((uint64_t)1 << 62))
          return fail(ATTN_ERROR_INVALID_ARGUMENT,
                      where + ": shape too large (a dimension overflows)");
        ++pos;
      }
      consume('L'); // Python 2 longs
      if (h.rank == ATTN_MAX_RANK)
        return fail(ATTN_ERROR_INVALID_ARGUMENT,
                    where + ": rank exceeds " + std::to_string(ATTN_MAX_RANK));
      h.shape[h.rank++] = (int64_t)v;
      if (v == 0)
        anyZero = true;
      else if (__builtin_mul_overflow(nonZeroProduct, v, &nonZeroProduct) ||
               nonZeroProduct > ATTN_NPY_MAX_BYTES)
        return fail(ATTN_ERROR_INVALID_ARGUMENT,
                    where + ": shape too large (more than " +
                        std::to_string(ATTN_NPY_MAX_BYTES) + " elements)");
      skipSpace();
      if (consume(','))
        continue;
      skipSpace();
      if (consume(')'))
        break;
      return error("expected ',' or ')' in 'shape'");
    }
    h.numElements = anyZero ? 0 : nonZeroProduct;
    return ATTN_OK;
  }
  attn_status decodeDescr(const std::string &d, Header &h) {
    static const struct {
      const char *code;
      attn_dtype dtype;
    } table[] = {{"f4", ATTN_F32}, {"f8", ATTN_F64}, {"i4", ATTN_I32},
                 {"f2", ATTN_F16}, {"u2", ATTN_BF16}};
    if (d == "|b1" || d == "<b1" || d == "=b1") {
      h.dtype = ATTN_BOOL;
      return ATTN_OK;
    }
    if (d.size() == 3 && (d[0] == '<' || d[0] == '>' || d[0] == '=')) {
      for (auto &e : table) {
        if (d.compare(1, 2, e.code) == 0) {
          h.dtype = e.dtype;
          h.byteSwap = d[0] == '>';
          return ATTN_OK;
        }
      }
    }
    return fail(ATTN_ERROR_UNSUPPORTED,
                where + ": unsupported dtype '" + d +
                    "' (supported: <f4, <f8, <f2, <i4, |b1, and <u2 holding "
                    "bf16 bits; convert with .astype(np.float32) or np.int32)");
  }
};

/// Parses the fixed prefix and the header in `bytes[0, avail)`. Sets
/// h.dataOffset; returns ATTN_OK or an error. `needMore` is set (and OK
/// returned) when avail is too short to hold the whole header.
attn_status parsePrefix(const unsigned char *bytes, size_t avail,
                        const std::string &where, Header &h,
                        size_t *needMore) {
  *needMore = 0;
  if (avail < 10) {
    if (avail >= 6 && std::memcmp(bytes, kMagic, 6) != 0)
      return fail(ATTN_ERROR_INVALID_ARGUMENT,
                  where + ": not a .npy file (bad magic)");
    return fail(ATTN_ERROR_INVALID_ARGUMENT,
                where + ": truncated .npy file (" + std::to_string(avail) +
                    " bytes, no complete header)");
  }
  if (std::memcmp(bytes, kMagic, 6) != 0)
    return fail(ATTN_ERROR_INVALID_ARGUMENT,
                where + ": not a .npy file (bad magic)");
  unsigned major = bytes[6], minor = bytes[7];
  size_t lenBytes;
  if (major == 1)
    lenBytes = 2;
  else if (major == 2 || major == 3)
    lenBytes = 4;
  else
    return fail(ATTN_ERROR_UNSUPPORTED,
                where + ": unsupported .npy format version " +
                    std::to_string(major) + "." + std::to_string(minor));
  if (avail < 8 + lenBytes)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, where + ": truncated .npy header");
  uint64_t hlen = 0;
  for (size_t i = 0; i < lenBytes; ++i)
    hlen |= (uint64_t)bytes[8 + i] << (8 * i);
  if (hlen > (1u << 24))
    return fail(ATTN_ERROR_INVALID_ARGUMENT,
                where + ": malformed .npy header: header length " +
                    std::to_string(hlen) + " is implausible");
  size_t start = 8 + lenBytes;
  if (avail < start + hlen) {
    *needMore = start + hlen;
    return ATTN_OK;
  }
  DictParser parser((const char *)bytes + start, hlen);
  if (attn_status s = parser.parse(h, where))
    return s;
  uint64_t esize = attn_dtype_size(h.dtype);
  if (__builtin_mul_overflow(h.numElements, esize, &h.dataBytes) ||
      h.dataBytes > ATTN_NPY_MAX_BYTES)
    return fail(ATTN_ERROR_INVALID_ARGUMENT,
                where + ": shape too large (more than " +
                    std::to_string(ATTN_NPY_MAX_BYTES) + " bytes of data)");
  h.dataOffset = start + hlen;
  return ATTN_OK;
}

void swapBytes(void *data, uint64_t count, size_t esize) {
  auto *p = (unsigned char *)data;
  for (uint64_t e = 0; e < count; ++e, p += esize)
    for (size_t a = 0, b = esize - 1; a < b; ++a, --b) {
      unsigned char t = p[a];
      p[a] = p[b];
      p[b] = t;
    }
}

attn_status finish(const Header &h, void *data, attn_npy_array *out) {
  if (h.byteSwap)
    swapBytes(data, h.numElements, attn_dtype_size(h.dtype));
  out->dtype = h.dtype;
  out->rank = h.rank;
  for (int r = 0; r < h.rank; ++r)
    out->shape[r] = h.shape[r];
  out->data = data;
  out->nbytes = (size_t)h.dataBytes;
  attn::rt::clearError();
  return ATTN_OK;
}

attn_status truncated(const std::string &where, const Header &h,
                      uint64_t have) {
  return fail(ATTN_ERROR_INVALID_ARGUMENT,
              where + ": truncated .npy data: the header promises " +
                  std::to_string(h.dataBytes) + " bytes, the file has " +
                  std::to_string(have));
}

/// malloc that never returns null for a zero-byte request.
void *allocBytes(uint64_t n) { return std::calloc(n ? n : 1, 1); }

} // namespace

extern "C" attn_status attn_npy_read_buffer(const void *bytes, size_t size,
                                            attn_npy_array *out) {
  if (!out)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_read_buffer: null output");
  std::memset(out, 0, sizeof(*out));
  if (!bytes && size)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_read_buffer: null buffer");
  const std::string where = "<buffer>";
  Header h;
  size_t needMore = 0;
  if (attn_status s =
          parsePrefix((const unsigned char *)bytes, size, where, h, &needMore))
    return s;
  if (needMore)
    return fail(ATTN_ERROR_INVALID_ARGUMENT,
                where + ": truncated .npy header (header needs " +
                    std::to_string(needMore) + " bytes, buffer has " +
                    std::to_string(size) + ")");
  uint64_t have = size - h.dataOffset;
  if (have < h.dataBytes)
    return truncated(where, h, have);
  void *data = allocBytes(h.dataBytes);
  if (!data)
    return fail(ATTN_ERROR_INTERNAL, where + ": out of memory");
  if (h.dataBytes)
    std::memcpy(data, (const unsigned char *)bytes + h.dataOffset, h.dataBytes);
  return finish(h, data, out);
}

extern "C" attn_status attn_npy_read(const char *path, attn_npy_array *out) {
  if (!out)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_read: null output");
  std::memset(out, 0, sizeof(*out));
  if (!path)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_read: null path");
  std::string where = path;
  FILE *f = std::fopen(path, "rb");
  if (!f)
    return fail(ATTN_ERROR_IO,
                where + ": cannot open: " + std::strerror(errno));
  struct Closer {
    FILE *f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  if (std::fseek(f, 0, SEEK_END) != 0)
    return fail(ATTN_ERROR_IO, where + ": cannot seek: " + std::strerror(errno));
  long endPos = std::ftell(f);
  if (endPos < 0)
    return fail(ATTN_ERROR_IO, where + ": cannot read (not a regular file?)");
  std::rewind(f);
  uint64_t fileSize = (uint64_t)endPos;

  std::string head(fileSize < 4096 ? (size_t)fileSize : 4096, '\0');
  if (std::fread(&head[0], 1, head.size(), f) != head.size())
    return fail(ATTN_ERROR_IO, where + ": read error");
  Header h;
  size_t needMore = 0;
  if (attn_status s = parsePrefix((const unsigned char *)head.data(),
                                  head.size(), where, h, &needMore))
    return s;
  if (needMore) {
    if (needMore > fileSize)
      return fail(ATTN_ERROR_INVALID_ARGUMENT,
                  where + ": truncated .npy header (header needs " +
                      std::to_string(needMore) + " bytes, file has " +
                      std::to_string(fileSize) + ")");
    size_t old = head.size();
    head.resize(needMore);
    if (std::fread(&head[old], 1, needMore - old, f) != needMore - old)
      return fail(ATTN_ERROR_IO, where + ": read error");
    if (attn_status s = parsePrefix((const unsigned char *)head.data(),
                                    head.size(), where, h, &needMore))
      return s;
  }
  uint64_t have = fileSize - h.dataOffset;
  if (have < h.dataBytes)
    return truncated(where, h, have);
  void *data = allocBytes(h.dataBytes);
  if (!data)
    return fail(ATTN_ERROR_INTERNAL, where + ": out of memory");
  if (std::fseek(f, (long)h.dataOffset, SEEK_SET) != 0 ||
      std::fread(data, 1, h.dataBytes, f) != h.dataBytes) {
    std::free(data);
    return fail(ATTN_ERROR_IO, where + ": read error");
  }
  return finish(h, data, out);
}

extern "C" attn_status attn_npy_write(const char *path,
                                      const attn_npy_array *array) {
  if (!path || !array)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_write: null argument");
  const char *descr = attn_npy_descr(array->dtype);
  if (!descr)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_write: unknown dtype");
  if (array->rank < 0 || array->rank > ATTN_MAX_RANK)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_write: bad rank");
  int64_t n = attn_npy_num_elements(array);
  if (n < 0)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_write: bad shape");
  size_t bytes = (size_t)n * attn_dtype_size(array->dtype);
  if (array->nbytes < bytes || (bytes && !array->data))
    return fail(ATTN_ERROR_INVALID_ARGUMENT,
                "attn_npy_write: data smaller than the shape says");

  std::string dict = std::string("{'descr': '") + descr +
                     "', 'fortran_order': False, 'shape': (";
  for (int r = 0; r < array->rank; ++r) {
    dict += std::to_string(array->shape[r]);
    if (array->rank == 1 || r + 1 < array->rank)
      dict += r + 1 < array->rank ? ", " : ",";
  }
  dict += "), }";
  // Pad with spaces so that magic + version + length + dict + '\n' is a
  // multiple of 64 bytes.
  auto padded = [&](size_t prefix) {
    return (prefix + dict.size() + 1 + 63) / 64 * 64;
  };
  size_t prefix = padded(10) - 10 > 65535 ? 12 : 10;
  size_t total = padded(prefix);
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict += '\n';

  std::string out(reinterpret_cast<const char *>(kMagic), 6);
  size_t hlen = dict.size();
  if (prefix == 10) {
    out += '\x01';
    out += '\x00';
    out += (char)(hlen & 0xff);
    out += (char)((hlen >> 8) & 0xff);
  } else {
    out += '\x02';
    out += '\x00';
    for (int i = 0; i < 4; ++i)
      out += (char)((hlen >> (8 * i)) & 0xff);
  }
  out += dict;

  FILE *f = std::fopen(path, "wb");
  if (!f)
    return fail(ATTN_ERROR_IO, std::string(path) + ": cannot open for writing: " +
                                   std::strerror(errno));
  bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size();
  if (bytes)
    ok = ok && std::fwrite(array->data, 1, bytes, f) == bytes;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok)
    return fail(ATTN_ERROR_IO, std::string(path) + ": write error");
  attn::rt::clearError();
  return ATTN_OK;
}

extern "C" int64_t attn_npy_num_elements(const attn_npy_array *array) {
  if (!array || array->rank < 0 || array->rank > ATTN_MAX_RANK)
    return -1;
  int64_t n = 1;
  for (int r = 0; r < array->rank; ++r) {
    if (array->shape[r] < 0 ||
        __builtin_mul_overflow(n, array->shape[r], &n))
      return -1;
  }
  return n;
}

extern "C" attn_status attn_npy_alloc(attn_dtype dtype, int32_t rank,
                                      const int64_t *shape,
                                      attn_npy_array *out) {
  if (!out)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_alloc: null output");
  std::memset(out, 0, sizeof(*out));
  if (!attn_npy_descr(dtype))
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_alloc: unknown dtype");
  if (rank < 0 || rank > ATTN_MAX_RANK || (rank && !shape))
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_alloc: bad rank");
  attn_npy_array tmp{};
  tmp.dtype = dtype;
  tmp.rank = rank;
  for (int r = 0; r < rank; ++r)
    tmp.shape[r] = shape[r];
  int64_t n = attn_npy_num_elements(&tmp);
  uint64_t bytes;
  if (n < 0 ||
      __builtin_mul_overflow((uint64_t)n, attn_dtype_size(dtype), &bytes) ||
      bytes > ATTN_NPY_MAX_BYTES)
    return fail(ATTN_ERROR_INVALID_ARGUMENT,
                "attn_npy_alloc: shape negative or too large");
  tmp.data = allocBytes(bytes);
  if (!tmp.data)
    return fail(ATTN_ERROR_INTERNAL, "attn_npy_alloc: out of memory");
  tmp.nbytes = (size_t)bytes;
  *out = tmp;
  return ATTN_OK;
}

extern "C" void attn_npy_free(attn_npy_array *array) {
  if (!array)
    return;
  std::free(array->data);
  std::memset(array, 0, sizeof(*array));
}

extern "C" attn_status attn_npy_to_f64(const attn_npy_array *array,
                                       double *out) {
  if (!array)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_to_f64: null array");
  int64_t n = attn_npy_num_elements(array);
  if (n < 0 || (uint64_t)n * attn_dtype_size(array->dtype) > array->nbytes ||
      (n && (!array->data || !out)))
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_to_f64: bad array");
  const void *d = array->data;
  for (int64_t e = 0; e < n; ++e) {
    switch (array->dtype) {
    case ATTN_F32: out[e] = ((const float *)d)[e]; break;
    case ATTN_F64: out[e] = ((const double *)d)[e]; break;
    case ATTN_I32: out[e] = ((const int32_t *)d)[e]; break;
    case ATTN_F16: out[e] = attn_f16_to_f32(((const uint16_t *)d)[e]); break;
    case ATTN_BF16: out[e] = attn_bf16_to_f32(((const uint16_t *)d)[e]); break;
    case ATTN_BOOL: out[e] = ((const uint8_t *)d)[e] != 0; break;
    default:
      return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_to_f64: unknown dtype");
    }
  }
  return ATTN_OK;
}

extern "C" attn_status attn_npy_from_f64(attn_npy_array *array,
                                         const double *in, int64_t count) {
  if (!array)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_from_f64: null array");
  int64_t n = attn_npy_num_elements(array);
  if (n < 0 || count != n ||
      (uint64_t)n * attn_dtype_size(array->dtype) > array->nbytes ||
      (n && (!array->data || !in)))
    return fail(ATTN_ERROR_INVALID_ARGUMENT,
                "attn_npy_from_f64: count does not match the array");
  void *d = array->data;
  for (int64_t e = 0; e < n; ++e) {
    double x = in[e];
    switch (array->dtype) {
    case ATTN_F32: ((float *)d)[e] = (float)x; break;
    case ATTN_F64: ((double *)d)[e] = x; break;
    case ATTN_I32: {
      int32_t v = 0;
      if (!std::isnan(x)) {
        double r = std::nearbyint(x);
        v = r >= 2147483647.0    ? INT32_MAX
            : r <= -2147483648.0 ? INT32_MIN
                                 : (int32_t)r;
      }
      ((int32_t *)d)[e] = v;
      break;
    }
    case ATTN_F16: ((uint16_t *)d)[e] = attn_f32_to_f16((float)x); break;
    case ATTN_BF16: ((uint16_t *)d)[e] = attn_f32_to_bf16((float)x); break;
    case ATTN_BOOL: ((uint8_t *)d)[e] = x != 0; break;
    default:
      return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_npy_from_f64: unknown dtype");
    }
  }
  return ATTN_OK;
}

extern "C" const char *attn_npy_descr(attn_dtype dtype) {
  switch (dtype) {
  case ATTN_F32: return "<f4";
  case ATTN_F64: return "<f8";
  case ATTN_I32: return "<i4";
  case ATTN_F16: return "<f2";
  case ATTN_BF16: return "<u2";
  case ATTN_BOOL: return "|b1";
  }
  return nullptr;
}

extern "C" const char *attn_dtype_name(attn_dtype dtype) {
  switch (dtype) {
  case ATTN_F32: return "f32";
  case ATTN_F64: return "f64";
  case ATTN_I32: return "i32";
  case ATTN_F16: return "f16";
  case ATTN_BF16: return "bf16";
  case ATTN_BOOL: return "bool";
  }
  return "unknown";
}

extern "C" int attn_dtype_from_name(const char *name, attn_dtype *out) {
  static const attn_dtype all[] = {ATTN_F32, ATTN_F64, ATTN_I32, ATTN_F16,
                                   ATTN_BF16, ATTN_BOOL};
  if (!name || !out)
    return 1;
  for (attn_dtype d : all)
    if (std::strcmp(name, attn_dtype_name(d)) == 0) {
      *out = d;
      return 0;
    }
  return 1;
}

extern "C" float attn_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0) {
    float v = std::ldexp((float)mant, -24);
    return sign ? -v : v;
  }
  uint32_t bits = exp == 31 ? (sign | 0x7f800000u | (mant << 13))
                            : (sign | ((exp - 15 + 127) << 23) | (mant << 13));
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

extern "C" uint16_t attn_f32_to_f16(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) // inf or NaN (keep a quiet NaN payload bit)
    return sign | 0x7c00 |
           (absx > 0x7f800000u ? (0x200 | ((absx >> 13) & 0x3ff)) : 0);
  if (absx >= 0x477ff000u) // >= 65520 rounds to infinity
    return sign | 0x7c00;
  if (absx < 0x38800000u) { // below 2^-14: half subnormal or zero
    float a;
    std::memcpy(&a, &absx, 4);
    // Exact scaling by 2^24, then round to nearest even in the default mode.
    return sign | (uint16_t)std::nearbyint(a * 16777216.0f);
  }
  uint32_t mant = absx & 0x7fffff;
  uint32_t h = ((((absx >> 23) - 127 + 15)) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
    ++h; // a carry into the exponent is the right answer
  return sign | (uint16_t)h;
}

extern "C" float attn_bf16_to_f32(uint16_t bits) {
  uint32_t x = (uint32_t)bits << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

extern "C" uint16_t attn_f32_to_bf16(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t)((x >> 16) | 0x40);
  x += 0x7fffu + ((x >> 16) & 1);
  return (uint16_t)(x >> 16);
}
