# One thread pool on the machine: OpenBLAS's OpenMP build shares the pool that our
# own parallel loops use. Two pools (OpenBLAS pthreads beside OpenMP) spin against
# each other on small machines. We link the OpenMP variant by full path and give
# the binaries an RPATH to its folder, so the system-wide alternative (often the
# pthreads build) does not matter. Falls back to any CBLAS when it is missing.
add_library(focus_blas INTERFACE)
find_path(FOCUS_CBLAS_INCLUDE cblas.h PATH_SUFFIXES openblas x86_64-linux-gnu)
find_file(FOCUS_OPENBLAS_OPENMP libopenblas.so.0
  PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp
  NO_DEFAULT_PATH)
if(FOCUS_OPENBLAS_OPENMP)
  get_filename_component(_blas_dir ${FOCUS_OPENBLAS_OPENMP} DIRECTORY)
  target_link_libraries(focus_blas INTERFACE ${FOCUS_OPENBLAS_OPENMP})
  target_link_options(focus_blas INTERFACE "-Wl,-rpath,${_blas_dir}" "-Wl,--disable-new-dtags")
  message(STATUS "focus: OpenBLAS (OpenMP threading) at ${FOCUS_OPENBLAS_OPENMP}")
else()
  find_library(FOCUS_OPENBLAS NAMES openblas REQUIRED)
  target_link_libraries(focus_blas INTERFACE ${FOCUS_OPENBLAS})
  message(WARNING "focus: libopenblas0-openmp not found; using ${FOCUS_OPENBLAS}. "
                  "Its own thread pool may compete with OpenMP's (apt-get install libopenblas0-openmp).")
endif()
target_include_directories(focus_blas INTERFACE $<BUILD_INTERFACE:${FOCUS_CBLAS_INCLUDE}>)
