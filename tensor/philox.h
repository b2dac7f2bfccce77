#pragma once
// Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011): a counter-based generator. Its output is a pure function of (counter, key), so
// element i of a random tensor can be computed by whichever thread, CPU core or GPU lane
// holds it, in any order, and the values never depend on how the work was split.
//
// One header for host and device: the CPU kernels (tensor/cpu/random.cpp) and the CUDA
// kernels (tensor/cuda/random.cu) call this same function, so one seed gives bit-identical
// random tensors on both devices.
#include <cstdint>

#if defined(__CUDACC__)
#define FOCUS_PHILOX_HOST_DEVICE __host__ __device__
#else
#define FOCUS_PHILOX_HOST_DEVICE
#endif

namespace focus {

/// Four 32-bit words: a Philox counter, or the random block it maps to.
struct PhiloxBlock {
  uint32_t word[4];
};

/// Philox4x32 with 10 rounds: the 128-bit `counter` under the 64-bit key (key_lo, key_hi)
/// becomes 128 random bits. Matches Random123's philox4x32_R(10, ...): its known-answer
/// vectors are checked in tests/cuda/test_lstm_optim.cpp (on the host, with or without a GPU).
FOCUS_PHILOX_HOST_DEVICE inline PhiloxBlock philox4x32_10(PhiloxBlock counter, uint32_t key_lo, uint32_t key_hi) {
  // The round multipliers and the Weyl key increments (golden ratio, √3 − 1) of the paper.
  constexpr uint32_t kMultiplier0 = 0xD2511F53u, kMultiplier1 = 0xCD9E8D57u;
  constexpr uint32_t kKeyStep0 = 0x9E3779B9u, kKeyStep1 = 0xBB67AE85u;
  uint32_t* c = counter.word;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key_lo += kKeyStep0;
      key_hi += kKeyStep1;
    }
    // Two 32×32 → 64-bit products; their high halves are mixed with the other words and the key.
    const uint64_t product0 = static_cast<uint64_t>(kMultiplier0) * c[0];
    const uint64_t product1 = static_cast<uint64_t>(kMultiplier1) * c[2];
    const uint32_t hi0 = static_cast<uint32_t>(product0 >> 32), lo0 = static_cast<uint32_t>(product0);
    const uint32_t hi1 = static_cast<uint32_t>(product1 >> 32), lo1 = static_cast<uint32_t>(product1);
    const uint32_t next0 = hi1 ^ c[1] ^ key_lo, next2 = hi0 ^ c[3] ^ key_hi;
    c[0] = next0;
    c[1] = lo1;
    c[2] = next2;
    c[3] = lo0;
  }
  return counter;
}

/// The random block that holds elements 4·group … 4·group + 3 of the stream `key`: the group
/// number is the counter (low words first), the 64-bit key is Philox's key. Element i of a
/// random tensor is word i % 4 of block i / 4.
FOCUS_PHILOX_HOST_DEVICE inline PhiloxBlock philox_block(uint64_t key, uint64_t group) {
  PhiloxBlock counter{{static_cast<uint32_t>(group), static_cast<uint32_t>(group >> 32), 0u, 0u}};
  return philox4x32_10(counter, static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32));
}

}  // namespace focus
