/*
 * warmup.h: running a model version's `model_warmup` samples (reference §3,
 * ModelWarmup) before the version turns READY. Prefix model_.
 *
 * Each sample's inputs are built once (zeros, random bytes, or the raw bytes
 * of <model_dir>/warmup/<input_data_file>) and sent `count` times (0 means
 * once, as Triton) through the public request API and the model's own
 * scheduler, so warmup runs the same path as client traffic: validation,
 * queueing, batching, backend execute, statistics. A batching model gets one
 * request whose first dimension is the sample's batch_size (every batch
 * element carries the same data); a sample with batch_size 0 is skipped, as
 * in Triton. Warmup executions count in the model's statistics, as in Triton
 * (its warmup requests report statistics like any other).
 */
#ifndef INFERD_BACKEND_WARMUP_H
#define INFERD_BACKEND_WARMUP_H

#include "backend/model.h"

/* Runs every warmup sample of m's config, in config order, one request at a
 * time, waiting for each request's release before the next; stops at the
 * first failure. Needs m's instances and scheduler running and m->server
 * set; m need not be in the repository table. Returns NULL on success, else
 * an INVALID_ARG error (NO_MEMORY when out of memory), as Triton's, naming
 * the sample, e.g.
 *   model "m" version 1: warmup sample "s1": <request or response error>
 * Nothing of the warmup stays queued or allocated when it returns, whatever
 * the outcome. Blocks the calling thread (the repository/load thread) until
 * the samples have run; never call it from an instance or scheduler thread.
 */
inferd_status_t *model_warmup(inferd_model_t *m);

#endif
