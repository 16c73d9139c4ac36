/*
 * cv_shim.h: the small C interface over OpenCV DNN (4.6) that the onnx
 * backend (onnx.c) uses; cv_shim.cpp is the only C++ in the backend.
 *
 * Errors: functions returning char * return NULL on success or a malloc'd
 * message (free with free()). No C++ exception crosses this header.
 * Threads: a net is used by one thread at a time (one net per instance).
 * cvs_set_threads is process-wide (OpenCV's parallel_for pool).
 */
#ifndef INFERD_CV_SHIM_H
#define INFERD_CV_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cvs_net cvs_net_t;
typedef struct cvs_result cvs_result_t;

enum { CVS_ONNX = 0, CVS_TENSORFLOW = 1 };

/* "4.6.0" */
const char *cvs_version(void);
void cvs_set_threads(int n); /* n <= 0: OpenCV's default */
int cvs_get_threads(void);

/* Imports a model from memory (format CVS_*). */
char *cvs_load(const void *buf, size_t len, int format, cvs_net_t **out);
void cvs_free(cvs_net_t *net); /* NULL ignored */

/* One input, FP32 data borrowed for the duration of cvs_forward. */
typedef struct cvs_input {
  const char *name;
  const float *data;
  const int64_t *shape;
  uint32_t n_dims;
} cvs_input_t;

/* Sets the inputs and computes the named outputs (layer/blob names). */
char *cvs_forward(cvs_net_t *net, const cvs_input_t *in, uint32_t n_in,
                  const char *const *outputs, uint32_t n_out,
                  cvs_result_t **out);

/* Output i as contiguous FP32; OpenCV's own shape (rank >= 2 for tensors it
 * holds as 2-D matrices). Valid until cvs_result_free. */
void cvs_result_tensor(const cvs_result_t *r, uint32_t i, const int64_t **shape,
                       uint32_t *n_dims, const float **data, uint64_t *count);
void cvs_result_free(cvs_result_t *r); /* NULL ignored */

#ifdef __cplusplus
}
#endif
#endif /* INFERD_CV_SHIM_H */
