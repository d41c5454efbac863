//===- VariantDescription.cpp - what the runtime needs to know ------------===//
#include "compiler/targets/common/VariantDescription.h"

#include "dialects/attn/AttnDialect.h"
#include "dialects/cascade/CascadeDialect.h"

#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdio>

using namespace mlir;

namespace attn {

static attn_dtype declType(Type t) {
  if (t.isF32())
    return ATTN_F32;
  if (t.isInteger(1))
    return ATTN_BOOL;
  return ATTN_I32;
}

const char *dtypeShortName(attn_dtype t) {
  switch (t) {
  case ATTN_BF16: return "bf16";
  case ATTN_F16: return "f16";
  default: return "f32";
  }
}

const char *dtypeEnumName(attn_dtype t) {
  switch (t) {
  case ATTN_F32: return "ATTN_F32";
  case ATTN_F16: return "ATTN_F16";
  case ATTN_BF16: return "ATTN_BF16";
  case ATTN_F64: return "ATTN_F64";
  case ATTN_I32: return "ATTN_I32";
  case ATTN_BOOL: return "ATTN_BOOL";
  }
  return "ATTN_F32";
}

std::unique_ptr<VariantDescription> describeVariant(VariantOp variant, attn_dtype dtype,
                                                    int64_t rowTile) {
  auto d = std::make_unique<VariantDescription>();
  d->name = variant.getSymName().str();
  bool hasLse = false;
  for (Operation &op : variant.getBody().front()) {
    if (auto p = dyn_cast<ParamOp>(op)) {
      d->paramNames.push_back(p.getSymName().str());
      attn_param_info info{};
      info.type = declType(p.getType());
      if (auto def = p.getDefaultValueAttr()) {
        info.has_default = 1;
        if (auto f = dyn_cast<FloatAttr>(def))
          info.default_value = f.getValueAsDouble();
        else if (auto i = dyn_cast<IntegerAttr>(def))
          info.default_value = p.getType().isInteger(1) ? (double)(i.getValue().getBoolValue())
                                                        : (double)i.getInt();
      }
      d->params.push_back(info);
    } else if (auto t = dyn_cast<TensorOp>(op)) {
      d->tensorNames.push_back(t.getSymName().str());
      attn_tensor_info info{};
      info.dtype = t.getElementType().isF32() ? ATTN_F32 : ATTN_I32;
      info.rank = (int32_t)t.getDims().size();
      int k = 0;
      for (Attribute dim : t.getDims()) {
        if (auto n = dyn_cast<IntegerAttr>(dim))
          info.dims[k] = n.getInt();
        else if (auto s = symbolizeSizeKind(cast<StringAttr>(dim).getValue()))
          info.dims[k] = -(1 + (int64_t)*s);
        ++k;
      }
      d->tensors.push_back(info);
    } else if (auto c = dyn_cast<cascade::CascadeOp>(op)) {
      auto out = cast<cascade::OutputOp>(c.getBody().front().getTerminator());
      hasLse = (bool)out.getLse();
    }
  }
  for (size_t k = 0; k < d->params.size(); ++k)
    d->params[k].name = d->paramNames[k].c_str();
  for (size_t k = 0; k < d->tensors.size(); ++k)
    d->tensors[k].name = d->tensorNames[k].c_str();
  d->info.name = d->name.c_str();
  d->info.input_dtype = dtype;
  d->info.num_params = (int32_t)d->params.size();
  d->info.params = d->params.data();
  d->info.num_tensors = (int32_t)d->tensors.size();
  d->info.tensors = d->tensors.data();
  d->info.has_lse = hasLse;
  d->info.row_tile = rowTile;
  return d;
}

std::string toInfoText(const VariantDescription &d) {
  std::string out;
  llvm::raw_string_ostream os(out);
  os << "variant " << d.name << "\nhas_lse " << d.info.has_lse << "\nrow_tile "
     << d.info.row_tile << "\n";
  static const char *kSizes[] = {"B", "H", "Hkv", "Sq", "Skv", "D"};
  for (const attn_param_info &p : d.params) {
    os << "param " << p.name << " "
       << (p.type == ATTN_I32 ? "i32" : p.type == ATTN_BOOL ? "bool" : "f32") << " ";
    if (!p.has_default) {
      os << "-";
    } else {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", p.default_value);
      os << buf;
    }
    os << "\n";
  }
  for (const attn_tensor_info &t : d.tensors) {
    os << "tensor " << t.name << " " << (t.dtype == ATTN_I32 ? "i32" : "f32");
    for (int k = 0; k < t.rank; ++k) {
      if (t.dims[k] >= 0)
        os << " " << t.dims[k];
      else
        os << " " << kSizes[-(t.dims[k] + 1)];
    }
    os << "\n";
  }
  return out;
}

} // namespace attn
