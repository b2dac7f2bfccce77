// The CUDA backend's device management: availability, the current device, the stream,
// cuBLAS handles and copies. Every CUDA call is checked and fails with the file, line
// and CUDA's own message.
#include <mutex>
#include <string>
#include <vector>

#include "tensor/cuda/backend.h"
#include "tensor/cuda/common.cuh"
#include "tensor/cuda/index_errors.cuh"

namespace focus::cuda {

void check_status(cudaError_t status, const char* what, const char* file, int line) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call does not report it again
  throw std::runtime_error(std::string("CUDA error in ") + what + " at " + file + ":" + std::to_string(line) + ": " +
                           cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + ")");
}

void check_cublas(cublasStatus_t status, const char* what, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw std::runtime_error(std::string("cuBLAS error in ") + what + " at " + file + ":" + std::to_string(line) + ": " +
                           cublasGetStatusString(status));
}

void built_without_cuda() {
  throw std::runtime_error(
      "focus was built without CUDA: reconfigure with -DFOCUS_CUDA=ON on a machine with nvcc");
}

int device_count() {
  int count = 0;
  // No driver or no GPU reads as zero devices, not as an error.
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the error state
    return 0;
  }
  return count;
}

bool is_available() { return device_count() > 0; }

void synchronize() {
  if (!is_available()) return;
  FOCUS_CUDA_CHECK(cudaStreamSynchronize(stream()));
  check_index_errors();  // every kernel has run: report a bad index one of them met
}

namespace {
void require_device(int device_index) {
  int count = device_count();
  if (device_index < 0 || device_index >= count)
    throw std::runtime_error("cuda:" + std::to_string(device_index) + " is not available: this machine has " +
                             std::to_string(count) + " CUDA device(s)");
}
}  // namespace

DeviceGuard::DeviceGuard(int device_index) {
  int current = 0;
  FOCUS_CUDA_CHECK(cudaGetDevice(&current));
  if (current == device_index) return;
  require_device(device_index);
  FOCUS_CUDA_CHECK(cudaSetDevice(device_index));
  previous_ = current;
}

DeviceGuard::~DeviceGuard() {
  if (previous_ >= 0) cudaSetDevice(previous_);  // never throws from a destructor
}

// The legacy default stream: every host thread (the DataLoader's too) queues on it, so
// the order of copies and kernels is the order they were issued in.
cudaStream_t stream() { return cudaStreamLegacy; }

cublasHandle_t cublas_handle() {
  static std::mutex mutex;
  static std::vector<cublasHandle_t> handles;
  int device = 0;
  FOCUS_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mutex);
  if (handles.size() <= static_cast<size_t>(device)) handles.resize(device + 1, nullptr);
  if (!handles[device]) {
    FOCUS_CUBLAS_CHECK(cublasCreate(&handles[device]));
    FOCUS_CUBLAS_CHECK(cublasSetStream(handles[device], stream()));
    // float32 GEMMs stay float32 (no TF32), so GPU results match the CPU's to ~1e-5.
    FOCUS_CUBLAS_CHECK(cublasSetMathMode(handles[device], CUBLAS_DEFAULT_MATH));
  }
  return handles[device];
}

void copy_bytes(void* dst, const void* src, size_t nbytes, CopyKind kind, int device_index, bool src_pinned) {
  if (nbytes == 0) return;
  require_device(device_index);
  DeviceGuard guard(device_index);
  switch (kind) {
    case CopyKind::HostToDevice:
      FOCUS_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, stream()));
      // From pageable memory the driver stages the bytes before returning; from pinned memory
      // the copy runs on the stream while the host goes on (allocator.cu keeps the block alive).
      if (!src_pinned) FOCUS_CUDA_CHECK(cudaStreamSynchronize(stream()));
      return;
    case CopyKind::DeviceToHost:
      FOCUS_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, stream()));
      FOCUS_CUDA_CHECK(cudaStreamSynchronize(stream()));
      // The data may come from a kernel that met a bad index (and wrote 0 or NaN there): say so
      // now, before anyone reads it.
      check_index_errors();
      return;
    case CopyKind::DeviceToDevice:
      FOCUS_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, stream()));
      return;
  }
}

}  // namespace focus::cuda
