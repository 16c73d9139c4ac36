// add_sub_kernel.cu: the CUDA kernels of the cuda_add_sub backend, behind a
// C entry point so that the backend itself stays C (cuda_add_sub.c).
#include <cuda_runtime.h>
#include <stdint.h>

#include "add_sub_kernel.h"

template <typename T>
__global__ void add_sub(const T *a, const T *b, T *sum, T *diff, uint64_t n) {
  uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
  uint64_t step = (uint64_t)gridDim.x * blockDim.x;
  for (; i < n; i += step) {
    if (sum)
      sum[i] = a[i] + b[i];
    if (diff)
      diff[i] = a[i] - b[i];
  }
}

extern "C" int cas_launch(int fp32, const void *a, const void *b, void *sum,
                          void *diff, uint64_t n, void *stream) {
  if (n == 0)
    return 0;
  unsigned threads = 256;
  uint64_t want = (n + threads - 1) / threads;
  unsigned blocks = want > 65535 ? 65535u : (unsigned)want;
  cudaStream_t s = (cudaStream_t)stream;
  if (fp32)
    add_sub<float><<<blocks, threads, 0, s>>>(
        (const float *)a, (const float *)b, (float *)sum, (float *)diff, n);
  else /* INT32 through uint32_t: wrap-around is defined */
    add_sub<uint32_t><<<blocks, threads, 0, s>>>(
        (const uint32_t *)a, (const uint32_t *)b, (uint32_t *)sum,
        (uint32_t *)diff, n);
  return (int)cudaGetLastError();
}
