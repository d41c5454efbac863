//===- CascadeOps.td - the Einsum-cascade dialect ----------*- tablegen -*-===//
//
// A variant as a cascade of extended Einsums (FuseMax, MICRO 2024) over named
// ranks: p (query row), m (key), e / f (head dims), and their partitions
// (m -> m1 x m0, p -> p1 x p0, m1 -> m2 x m1 for split-KV). Batch and head
// are implicit: a cascade describes one (b, h) slice.
//
// Every value is a fiber tensor (`!cascade.fiber<f32>` or `<i1>`); its ranks
// are named by the op that produces it (the `ranks` attribute). Operands are
// broadcast and indexed by rank name, so `SN[m,p] = exp(S[m,p] - GM[p])`
// reads `GM` at the `p` of each point.
//
//===----------------------------------------------------------------------===//
#ifndef CASCADE_OPS_TD
#define CASCADE_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/IR/OpAsmInterface.td"

/// Prints results as `%QK`, `%GM`, `%RM_prev/%RM/%RM_final` (the Einsum's name).
defvar Cascade_NamedResult =
    DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmResultNames"]>;
/// Also names a map action's block arguments `%b %h %i %j` and one per input
/// (the input's producer name in lower case: `%q`, `%qk`, `%gm`, `%rm`).
defvar Cascade_NamedBody =
    DeclareOpInterfaceMethods<OpAsmOpInterface,
                              ["getAsmResultNames", "getAsmBlockArgumentNames"]>;

def Cascade_Dialect : Dialect {
  let name = "cascade";
  let cppNamespace = "::cascade";
  let summary = "Cascades of extended Einsums over named ranks";
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::attn::AttnDialect"];
  let useDefaultTypePrinterParser = 1;
}

class Cascade_Op<string mnemonic, list<Trait> traits = []>
    : Op<Cascade_Dialect, mnemonic, traits>;

def Cascade_FiberType : TypeDef<Cascade_Dialect, "Fiber"> {
  let mnemonic = "fiber";
  let summary = "a tensor over named ranks (the ranks live on the producer)";
  let parameters = (ins "::mlir::Type":$elementType);
  let assemblyFormat = "`<` $elementType `>`";
}

def Cascade_F32Fiber : Type<
    CPred<"::llvm::isa<::cascade::FiberType>($_self) && "
          "::llvm::cast<::cascade::FiberType>($_self).getElementType().isF32()">,
    "fiber of f32">,
    BuildableType<"::cascade::FiberType::get($_builder.getContext(), $_builder.getF32Type())">;

def Cascade_I1Fiber : Type<
    CPred<"::llvm::isa<::cascade::FiberType>($_self) && "
          "::llvm::cast<::cascade::FiberType>($_self).getElementType().isInteger(1)">,
    "fiber of i1">,
    BuildableType<"::cascade::FiberType::get($_builder.getContext(), $_builder.getI1Type())">;

def Cascade_CombineKind : I32EnumAttr<"CombineKind", "reduction operator", [
    I32EnumAttrCase<"max", 0>, I32EnumAttrCase<"min", 1>, I32EnumAttrCase<"sum", 2>]> {
  let cppNamespace = "::cascade";
}

def Cascade_CascadeOp : Cascade_Op<"cascade", [
    SingleBlock, NoRegionArguments,
    RecursiveMemoryEffects]> {
  let summary = "the cascade of one variant (lives inside its attn.variant)";
  let description = [{
    `partitions` maps a partitioned rank to its tile size, e.g.
    `{m = 64, p = 64}`: rank `m` became `m1 x m0` with `m0` of extent 64
    (`j = m1 * 64 + m0`; points with `j >= Skv` are skipped like masked ones).
    `split` (split-KV) is the number of workers `m1` is divided among.
  }];
  let arguments = (ins OptionalAttr<DictionaryAttr>:$partitions,
                       OptionalAttr<I64Attr>:$split);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "attr-dict-with-keyword $body";
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
}

def Cascade_InputOp : Cascade_Op<"input", [Pure, Cascade_NamedResult]> {
  let summary = "Q [p, e], K [m, e] or V [m, f] of the current (b, h)";
  let arguments = (ins StrAttr:$name, ArrayAttr:$ranks);
  let results = (outs Cascade_FiberType:$result);
  let assemblyFormat = "$name custom<Ranks>($ranks) attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Cascade_EinsumOp : Cascade_Op<"einsum", [AttrSizedOperandSegments,
    SingleBlock, RecursiveMemoryEffects, Cascade_NamedBody]> {
  let summary = "an extended Einsum: a map action, optionally reduced";
  let description = [{
    `NAME[ranks] = reduce_{reduce_ranks} body(inputs...)`. The iteration
    space is `ranks` followed by `reduce_ranks`. At each point the body
    computes one scalar from the scalars of `inputs` at that point (block
    arguments: `b, h, i, j : i64`, then one per input; `i` is the absolute
    query position, `j` the key position, -1 where the Einsum has no key
    rank). With `reduce`, the values are combined over `reduce_ranks`
    starting from the identity (-inf / +inf / 0) or from `init` (a fiber
    over `ranks`, e.g. an attention sink); points where `keep` is false,
    or whose `j` is past the sequence, take no part (take the identity).
    `keep` and `init` need `reduce`. A map's value at a masked point is
    computed but must only be read by reductions guarded by the same `keep`.
  }];
  let arguments = (ins StrAttr:$name, ArrayAttr:$ranks,
                       OptionalAttr<Cascade_CombineKind>:$reduce,
                       DefaultValuedAttr<ArrayAttr, "{}">:$reduce_ranks,
                       Variadic<Cascade_FiberType>:$inputs,
                       Optional<Cascade_I1Fiber>:$keep,
                       Optional<Cascade_F32Fiber>:$init);
  let results = (outs Cascade_FiberType:$result);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $name custom<Ranks>($ranks) `=`
    ($reduce^ custom<Ranks>($reduce_ranks))?
    `(` $inputs `)` (`keep` $keep^)? (`init` $init^)?
    attr-dict (`:` type($inputs)^)? `->` type($result) $body
  }];
  let hasVerifier = 1;
}

def Cascade_IterateOp : Cascade_Op<"iterate", [SingleBlock, AttrSizedOperandSegments,
    RecursiveMemoryEffects, Cascade_NamedBody]> {
  let summary = "an iterative rank: R[r+1] = body(R[r], inputs[r])";
  let description = [{
    Builds `NAME` over `ranks` (which include the iterative rank `over`)
    step by step along `over`: `R[0]` is `init` (a fiber over `ranks`
    without `over`) or the `identity`; `R[r+1] = body(R[r], inputs at r)`.
    Block arguments: `b, h, i, j : i64` (j = -1), the previous value, then
    one scalar per input. Results: `prev` = R[r] and `cur` = R[r+1], both
    over `ranks`, and `final` = R[extent of `over`], over `ranks` without
    `over`. This is FuseMax's iterative construction (RM, RD, RNV).
  }];
  let arguments = (ins StrAttr:$name, ArrayAttr:$ranks, StrAttr:$over,
                       F64Attr:$identity,
                       Variadic<Cascade_FiberType>:$inputs,
                       Optional<Cascade_F32Fiber>:$init);
  let results = (outs Cascade_F32Fiber:$prev, Cascade_F32Fiber:$cur,
                      Cascade_F32Fiber:$final);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $name custom<Ranks>($ranks) `over` $over `identity` $identity
    `(` $inputs `)` (`init` $init^)?
    (`:` type($inputs)^)? attr-dict-with-keyword $body
  }];
  let hasVerifier = 1;
}

def Cascade_YieldOp : Cascade_Op<"yield", [Pure, Terminator, ReturnLike,
    ParentOneOf<["EinsumOp", "IterateOp"]>]> {
  let summary = "yields the scalar of a map action";
  let arguments = (ins AnyType:$value);
  let assemblyFormat = "$value attr-dict `:` type($value)";
}

def Cascade_OutputOp : Cascade_Op<"output", [Terminator, HasParent<"CascadeOp">,
    Pure]> {
  let summary = "the cascade's results: AV [p, f], optional LSE [p], kept count KN [p]";
  let description = [{
    Rows whose kept count is zero produce zeros and an LSE of -inf.
  }];
  let arguments = (ins Cascade_F32Fiber:$av,
                       Optional<Cascade_F32Fiber>:$lse,
                       Cascade_F32Fiber:$kept);
  let assemblyFormat = "$av (`lse` $lse^)? `kept` $kept attr-dict";
  let hasVerifier = 1;
}

#endif // CASCADE_OPS_TD
