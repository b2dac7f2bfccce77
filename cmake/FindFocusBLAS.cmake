# OpenBLAS is not linked: focus loads it at run time (tensor/openblas.cpp), after setting
# OPENBLAS_CORETYPE from the CPU, so that it runs the kernels the CPU deserves. Here we only
# find cblas.h (for the function types) and the file to load.
#
# One thread pool on the machine: OpenBLAS's OpenMP build shares the pool that our own
# parallel loops use. Two pools (OpenBLAS pthreads beside OpenMP) spin against each other on
# small machines. We load the OpenMP variant by full path, so the system-wide alternative
# (often the pthreads build) does not matter; without it, whatever libopenblas.so.0 the
# loader finds.
add_library(focus_blas INTERFACE)
find_path(FOCUS_CBLAS_INCLUDE cblas.h PATH_SUFFIXES openblas x86_64-linux-gnu REQUIRED)
find_file(FOCUS_OPENBLAS_OPENMP libopenblas.so.0
  PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp
  NO_DEFAULT_PATH)
if(FOCUS_OPENBLAS_OPENMP)
  target_compile_definitions(focus_blas INTERFACE FOCUS_OPENBLAS_PATH="${FOCUS_OPENBLAS_OPENMP}")
  message(STATUS "focus: loads OpenBLAS (OpenMP threading) from ${FOCUS_OPENBLAS_OPENMP}")
else()
  message(WARNING "focus: libopenblas0-openmp not found; focus will load whatever libopenblas.so.0 is "
                  "installed. Its own thread pool may compete with OpenMP's (apt-get install libopenblas0-openmp).")
endif()
target_include_directories(focus_blas INTERFACE $<BUILD_INTERFACE:${FOCUS_CBLAS_INCLUDE}>)
