// The CUDA backend's device management: availability, memory, copies. Every CUDA
// call is checked and fails with the file, line and CUDA's own message.
#include <cuda_runtime.h>
#include <string>

#include <stdexcept>

#include "tensor/cuda/backend.h"

namespace focus::cuda {

namespace {
void check(cudaError_t status, const char* what, const char* file, int line) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error in ") + what + " at " + file + ":" + std::to_string(line) +
                             ": " + cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + ")");
}
#define FOCUS_CUDA_CHECK(call) check((call), #call, __FILE__, __LINE__)

void select(int device_index) {
  int count = device_count();
  if (device_index < 0 || device_index >= count)
    throw std::runtime_error("cuda:" + std::to_string(device_index) + " is not available: this machine has " +
                             std::to_string(count) + " CUDA device(s)");
  FOCUS_CUDA_CHECK(cudaSetDevice(device_index));
}
}  // namespace

int device_count() {
  int count = 0;
  // No driver or no GPU reads as zero devices, not as an error.
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error state
    return 0;
  }
  return count;
}

bool is_available() { return device_count() > 0; }

void synchronize() {
  if (is_available()) FOCUS_CUDA_CHECK(cudaDeviceSynchronize());
}

void* allocate(size_t nbytes, int device_index) {
  select(device_index);
  void* ptr = nullptr;
  FOCUS_CUDA_CHECK(cudaMalloc(&ptr, nbytes == 0 ? 1 : nbytes));
  FOCUS_CUDA_CHECK(cudaMemset(ptr, 0, nbytes));
  return ptr;
}

void deallocate(void* ptr, size_t, int device_index) {
  if (!ptr) return;
  cudaSetDevice(device_index);
  cudaFree(ptr);  // never throws from a destructor
}

void copy_bytes(void* dst, const void* src, size_t nbytes, bool to_device, int device_index) {
  select(device_index);
  FOCUS_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost));
}

}  // namespace focus::cuda
