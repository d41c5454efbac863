//===- CpuCodegen.h - tile kernels -> LLVM -> JIT or object file -*- C++ -*-===//
#ifndef ATTNC_COMPILER_TARGETS_CPU_CPUCODEGEN_H
#define ATTNC_COMPILER_TARGETS_CPU_CPUCODEGEN_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"

#include <memory>

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
} // namespace llvm

namespace mlir {
class DialectRegistry;
class ExecutionEngine;
} // namespace mlir

namespace attn {

/// Registers the dialects and LLVM IR translations the CPU target produces.
void registerCpuCodegenDialects(mlir::DialectRegistry &registry);

/// Lowers a module of tile kernels (func / scf / arith / math / memref /
/// llvm) to the LLVM dialect; math functions become polynomial
/// approximations so that loops vectorise.
mlir::LogicalResult lowerCpuKernelsToLLVM(mlir::ModuleOp module);

/// A TargetMachine for the host CPU (its name and features, PIC, O3).
llvm::Expected<std::unique_ptr<llvm::TargetMachine>> createHostTargetMachine();

/// Translates an LLVM-dialect module to LLVM IR and optimises it at O3 for
/// `tm`.
llvm::Expected<std::unique_ptr<llvm::Module>>
translateAndOptimize(mlir::ModuleOp module, llvm::LLVMContext &ctx,
                     llvm::TargetMachine &tm);

/// Emits an ELF object for `module`.
llvm::Error emitObject(llvm::Module &module, llvm::TargetMachine &tm,
                       llvm::SmallVectorImpl<char> &object);

/// JIT-compiles an LLVM-dialect module at O3 for the host.
llvm::Expected<std::unique_ptr<mlir::ExecutionEngine>>
jitCompile(mlir::ModuleOp module);

} // namespace attn

#endif
