#include "tensor/storage.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#include "tensor/cuda/backend.h"

namespace focus {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.is_cuda()) {
    data_ = cuda::allocate(nbytes, device.index);
    return;
  }
  // Round up so aligned_alloc's size requirement holds, and never ask for 0 bytes.
  size_t padded = (nbytes + 63) / 64 * 64;
  if (padded == 0) padded = 64;
  data_ = std::aligned_alloc(64, padded);
  if (!data_) throw std::bad_alloc();
  std::memset(data_, 0, padded);
}

Storage::~Storage() {
  if (device_.is_cuda())
    cuda::deallocate(data_, nbytes_, device_.index);
  else
    std::free(data_);
}

}  // namespace focus
