# lit configuration for attnc. Tools come from the build's bin/ folder;
# FileCheck and `not` from LLVM 22.
import os
import lit.formats

config.name = "attnc"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".mlir", ".attn", ".test"]
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "CMakeLists.txt", "README.md", "unit", "Inputs", "fuzz"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attnc_obj_root, "test")

path = [config.attnc_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")]
config.environment["PATH"] = os.pathsep.join(path)
config.substitutions.append(("%examples", os.path.join(config.attnc_src_root, "examples")))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
# libattnrt and its headers, for host programs that tests compile and link.
config.substitutions.append(("%attnc_libdir", os.path.join(config.attnc_obj_root, "lib")))
config.substitutions.append(("%attnc_include", os.path.join(config.attnc_src_root, "runtime", "include")))
# `REQUIRES: ptxas`: the tests that compile cubins need the CUDA toolkit (not a GPU).
cuda_home = config.environment.get("CUDA_HOME") or os.environ.get("CUDA_HOME") or "/usr/local/cuda"
if os.path.exists(os.path.join(cuda_home, "bin", "ptxas")):
    config.available_features.add("ptxas")
config.substitutions.append(("%cuda_home", cuda_home))
