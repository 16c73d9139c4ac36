/* add_sub_kernel.h: the kernel launcher of the cuda_add_sub backend. */
#ifndef INFERD_CUDA_ADD_SUB_KERNEL_H
#define INFERD_CUDA_ADD_SUB_KERNEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
/* Enqueues sum = a + b and diff = a - b (either may be NULL) over n
 * elements (FP32 when fp32, else INT32) on stream (a cudaStream_t), all
 * pointers device memory. Returns the cudaError_t of the launch. */
int cas_launch(int fp32, const void *a, const void *b, void *sum, void *diff,
               uint64_t n, void *stream);
#ifdef __cplusplus
}
#endif
#endif
