//===- AttnDialect.td - The attn dialect -------------------*- tablegen -*-===//
//
// `attn` holds a variant as the user wrote it: params, tensors, and the
// score / bias / mask / scale / norm statements as regions over index and
// scalar values built from builtin types and the arith / math dialects.
//
//===----------------------------------------------------------------------===//
#ifndef ATTN_DIALECT_TD
#define ATTN_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::attn";
  let summary = "Attention variants as written in .attn files";
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect"];
  /// Folded floordiv / floormod become `arith.constant`.
  let hasConstantMaterializer = 1;
}

class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, traits>;

def Attn_NormKind : I32EnumAttr<"NormKind", "normalisation of the kept scores", [
    I32EnumAttrCase<"softmax", 0>, I32EnumAttrCase<"sigmoid", 1>,
    I32EnumAttrCase<"relu", 2>, I32EnumAttrCase<"relu2", 3>,
    I32EnumAttrCase<"softplus", 4>, I32EnumAttrCase<"linear", 5>,
    I32EnumAttrCase<"none", 6>, I32EnumAttrCase<"custom", 7>]> {
  let cppNamespace = "::attn";
}

def Attn_ReduceKind : I32EnumAttr<"ReduceKind", "row reduction of a custom norm", [
    I32EnumAttrCase<"max", 0>, I32EnumAttrCase<"min", 1>, I32EnumAttrCase<"sum", 2>]> {
  let cppNamespace = "::attn";
}

def Attn_SizeKind : I32EnumAttr<"SizeKind", "a size known at call time", [
    I32EnumAttrCase<"B", 0>, I32EnumAttrCase<"H", 1>, I32EnumAttrCase<"Hkv", 2>,
    I32EnumAttrCase<"Sq", 3>, I32EnumAttrCase<"Skv", 4>, I32EnumAttrCase<"D", 5>]> {
  let cppNamespace = "::attn";
}

#endif // ATTN_DIALECT_TD
