#pragma once
// The AVX2 and AVX-512 builds of the kernels, declared for the baseline build's dispatch
// lines (tensor/dispatch.h): the same list as tensor/kernels.h, in the namespaces that
// CMakeLists.txt compiles tensor/cpu/*.cpp into with -march=x86-64-v3 and -v4.
#include "tensor/kernels.h"

namespace focus::kernels::avx2 {
#include "tensor/kernel_functions.h"
}  // namespace focus::kernels::avx2

namespace focus::kernels::avx512 {
#include "tensor/kernel_functions.h"
}  // namespace focus::kernels::avx512
