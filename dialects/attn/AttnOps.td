//===- AttnOps.td - attn dialect operations ----------------*- tablegen -*-===//
//
// A variant is an `attn.variant` symbol whose body declares params and
// tensors and holds one op per statement (score, bias, mask, scale, norm),
// each with a region over the indices (b, h, i, j : i64) that yields the
// statement's value. Integers are i64, floats f32, predicates i1.
//
//===----------------------------------------------------------------------===//
#ifndef ATTN_OPS_TD
#define ATTN_OPS_TD

include "dialects/attn/AttnDialect.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/IR/OpAsmInterface.td"

/// Names a region's block arguments in the printed form (`%b %h %i %j`...).
defvar Attn_NamedBlockArgs =
    DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmBlockArgumentNames"]>;
/// Names an op's result in the printed form (`%qk`, `%H`, `%window`...).
defvar Attn_NamedResult =
    DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmResultNames"]>;

//===----------------------------------------------------------------------===//
// Structure
//===----------------------------------------------------------------------===//

def Attn_VariantOp : Attn_Op<"variant", [
    Symbol, SymbolTable, IsolatedFromAbove, NoTerminator, SingleBlock,
    NoRegionArguments]> {
  let summary = "an attention variant";
  let description = [{
    Holds the declarations (`attn.param`, `attn.tensor`) and statements
    (`attn.score`, `attn.bias`, `attn.mask`, `attn.scale`, `attn.norm`) of one
    variant. A missing statement takes LANGUAGE.md's default.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$sym_name attr-dict-with-keyword $body";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The statement ops, or null when the statement is absent.
    ScoreOp getScore();
    BiasOp getBias();
    MaskOp getMask();
    ScaleOp getScaleStmt();
    NormOp getNorm();
  }];
}

def Attn_ParamOp : Attn_Op<"param", [Symbol, HasParent<"VariantOp">]> {
  let summary = "a runtime scalar parameter";
  let description = [{
    `attn.param @window : i32 = 1024 : i32`. Types: i32, f32, i1. Without a
    default the caller must pass the value.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$type,
                       OptionalAttr<TypedAttrInterface>:$default_value);
  let assemblyFormat = "$sym_name `:` $type (`=` $default_value^)? attr-dict";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The type a reference to this param has in expressions (i32 -> i64).
    ::mlir::Type getValueType();
  }];
}

def Attn_TensorOp : Attn_Op<"tensor", [Symbol, HasParent<"VariantOp">]> {
  let summary = "an extra runtime input tensor";
  let description = [{
    `attn.tensor @doc : i32 ["B", "Skv"]`: element type (i32 or f32) and the
    dimensions, each a size name (B, H, Hkv, Sq, Skv, D) or a positive integer.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, TypeAttr:$element_type,
                       ArrayAttr:$dims);
  let assemblyFormat = "$sym_name `:` $element_type $dims attr-dict";
  let hasVerifier = 1;
}

// Statements have no results and no declared memory effects: they are the
// variant's meaning, so no pass may erase them as dead code. Each is a closed
// function of its block arguments (IsolatedFromAbove: folded constants stay
// inside the statement).
class Attn_StmtOp<string mnemonic, string what>
    : Attn_Op<mnemonic, [HasParent<"VariantOp">, SingleBlock, IsolatedFromAbove,
                         Attn_NamedBlockArgs]> {
  let summary = what;
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "attr-dict-with-keyword $body";
  let hasVerifier = 1;
}

def Attn_ScoreOp : Attn_StmtOp<"score", "the raw score of (b, h, i, j): f32">;
def Attn_BiasOp : Attn_StmtOp<"bias", "the additive bias of (b, h, i, j): f32">;
def Attn_MaskOp : Attn_StmtOp<"mask", "the keep predicate of (b, h, i, j): i1">;
def Attn_ScaleOp : Attn_StmtOp<"scale", "the scale replacing 1/sqrt(D), of (b, h, i, j): f32">;

def Attn_NormOp : Attn_Op<"norm", [HasParent<"VariantOp">, IsolatedFromAbove,
                                   Attn_NamedBlockArgs]> {
  let summary = "how kept scores become weights";
  let description = [{
    `kind` is one of LANGUAGE.md's norms. The region is empty for the
    built-in norms, except:
    - `softmax` with a sink: block (b, h, i : i64) yielding the sink (f32);
    - `custom`: block (b, h, i, j : i64, s : f32) evaluated per kept key,
      using `attn.reduce_j` for row reductions, yielding the weight `w`.
  }];
  let arguments = (ins Attn_NormKind:$kind);
  let regions = (region AnyRegion:$body);
  let assemblyFormat = "$kind attr-dict-with-keyword ($body^)?";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    bool hasSink() { return getKind() == NormKind::softmax && !getBody().empty(); }
  }];
}

def Attn_YieldOp : Attn_Op<"yield", [Pure, Terminator, ReturnLike,
    ParentOneOf<["ScoreOp", "BiasOp", "MaskOp", "ScaleOp", "NormOp", "SumDOp",
                 "ReduceJOp"]>]> {
  let summary = "yields a region's value";
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "attr-dict ($values^ `:` type($values))?";
}

//===----------------------------------------------------------------------===//
// Values available inside statements
//===----------------------------------------------------------------------===//

def Attn_SizeOp : Attn_Op<"size", [Pure, Attn_NamedResult]> {
  let summary = "a size known at call time (B, H, Hkv, Sq, Skv, D)";
  let arguments = (ins Attn_SizeKind:$size);
  let results = (outs I64:$result);
  let assemblyFormat = "$size attr-dict";
}

def Attn_GetScaleOp : Attn_Op<"get_scale", [Pure, Attn_NamedResult]> {
  let summary = "the variant's scale (its `scale` statement, or 1/sqrt(D))";
  let results = (outs F32:$result);
  let assemblyFormat = "attr-dict";
  let hasVerifier = 1;
}

def Attn_GetParamOp : Attn_Op<"get_param", [Pure, Attn_NamedResult,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "reads a runtime param (i32 params read as i64)";
  let arguments = (ins FlatSymbolRefAttr:$param);
  let results = (outs AnyTypeOf<[I64, F32, I1]>:$result);
  let assemblyFormat = "$param attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Attn_LoadOp : Attn_Op<"load", [Pure, Attn_NamedResult,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "reads an element of an extra tensor (i32 elements read as i64)";
  let description = [{
    Out-of-range indices are an error at run time (the targets check them),
    never a silent read.
  }];
  let arguments = (ins FlatSymbolRefAttr:$tensor, Variadic<I64>:$indices);
  let results = (outs AnyTypeOf<[I64, F32]>:$result);
  let assemblyFormat = "$tensor `[` $indices `]` attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Attn_QKOp : Attn_Op<"qk", [Pure, Attn_NamedResult]> {
  let summary = "the scaled dot product scale * sum_d q[d] * k[d] (score only)";
  let results = (outs F32:$result);
  let assemblyFormat = "attr-dict";
  let hasVerifier = 1;
}

def Attn_DotOp : Attn_Op<"dot", [Pure, Attn_NamedResult]> {
  let summary = "the unscaled dot product sum_d q[d] * k[d] (score only)";
  let results = (outs F32:$result);
  let assemblyFormat = "attr-dict";
  let hasVerifier = 1;
}

def Attn_SumDOp : Attn_Op<"sum_d", [SingleBlock, RecursiveMemoryEffects,
    DeclareOpInterfaceMethods<OpAsmOpInterface,
                              ["getAsmBlockArgumentNames", "getAsmResultNames"]>]> {
  let summary = "sum over the head dimension d of the region's value (score only)";
  let description = [{
    The region's block takes `d : i64` and yields an f32; `attn.q` and
    `attn.k` read the query and key elements at `d`.
  }];
  let regions = (region SizedRegion<1>:$body);
  let results = (outs F32:$result);
  let assemblyFormat = "attr-dict-with-keyword $body";
  let hasVerifier = 1;
}

def Attn_QElemOp : Attn_Op<"q", [Pure, Attn_NamedResult]> {
  let summary = "q[b, h, i, d] inside attn.sum_d";
  let arguments = (ins I64:$d);
  let results = (outs F32:$result);
  let assemblyFormat = "$d attr-dict";
  let hasVerifier = 1;
}

def Attn_KElemOp : Attn_Op<"k", [Pure, Attn_NamedResult]> {
  let summary = "k[b, hk, j, d] inside attn.sum_d";
  let arguments = (ins I64:$d);
  let results = (outs F32:$result);
  let assemblyFormat = "$d attr-dict";
  let hasVerifier = 1;
}

def Attn_ReduceJOp : Attn_Op<"reduce_j", [SingleBlock, RecursiveMemoryEffects,
                                           Attn_NamedResult]> {
  let summary = "a row reduction over the kept keys inside a custom norm";
  let description = [{
    Reduces the region's per-key value (evaluated with the enclosing norm
    block's `j` and `s` of each kept key) with max, min or sum; the identity
    (-inf, +inf, 0) when no key is kept. The region has no arguments.
  }];
  let arguments = (ins Attn_ReduceKind:$kind);
  let regions = (region SizedRegion<1>:$body);
  let results = (outs F32:$result);
  let assemblyFormat = "$kind attr-dict-with-keyword $body";
  let hasVerifier = 1;
}

def Attn_FloorDivOp : Attn_Op<"floordiv", [Pure, SameOperandsAndResultType]> {
  let summary = "integer division rounding toward -inf; x floordiv 0 = 0";
  let arguments = (ins I64:$lhs, I64:$rhs);
  let results = (outs I64:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict";
  let hasFolder = 1;
}

def Attn_FloorModOp : Attn_Op<"floormod", [Pure, SameOperandsAndResultType]> {
  let summary = "integer remainder with the sign of the divisor; x floormod 0 = 0";
  let arguments = (ins I64:$lhs, I64:$rhs);
  let results = (outs I64:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict";
  let hasFolder = 1;
}

#endif // ATTN_OPS_TD
