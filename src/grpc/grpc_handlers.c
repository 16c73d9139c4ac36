/*
 * grpc_handlers.c: the unary RPCs other than ModelInfer. Each decodes its
 * request with protobuf-c, answers what the HTTP frontend answers for the
 * same operation (reference §1.3-§1.5, §1.10, §1.12, §1.15) and packs the
 * reply; repository load/unload reply later, from the server's callback, and
 * so do ModelMetadata and ModelConfig when their model is loaded on demand.
 * The shared memory RPCs are in grpc_shm.c. Features the server does not
 * have (trace) answer UNIMPLEMENTED with a message saying so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/grpc_internal.h"
#include "inferd/version.h"

static inferd_status_t *server_live(grpc_frontend_t *fe, const uint8_t *req,
                                    size_t len, grpc_fe_buf_t *reply) {
  UNPACK(Inference__ServerLiveRequest,
         inference__server_live_request__descriptor, in);
  FREE_MSG(in);
  Inference__ServerLiveResponse r = INFERENCE__SERVER_LIVE_RESPONSE__INIT;
  r.live = inferd_server_is_live(fe->server);
  return grpc_fe_pack(&r.base, reply);
}

static inferd_status_t *server_ready(grpc_frontend_t *fe, const uint8_t *req,
                                     size_t len, grpc_fe_buf_t *reply) {
  UNPACK(Inference__ServerReadyRequest,
         inference__server_ready_request__descriptor, in);
  FREE_MSG(in);
  Inference__ServerReadyResponse r = INFERENCE__SERVER_READY_RESPONSE__INIT;
  r.ready = inferd_server_is_ready(fe->server);
  return grpc_fe_pack(&r.base, reply);
}

/* acquires name/version of a request (version string as in the protocol) */
static inferd_status_t *acquire(grpc_frontend_t *fe, const char *name,
                                const char *version, inferd_model_t **m) {
  int64_t v;
  inferd_status_t *st = grpc_fe_parse_version(version, &v);
  if (st)
    return st;
  return inferd_server_model_acquire(fe->server, name, strlen(name), v, m);
}

static inferd_status_t *model_ready(grpc_frontend_t *fe, const uint8_t *req,
                                    size_t len, grpc_fe_buf_t *reply) {
  UNPACK(Inference__ModelReadyRequest,
         inference__model_ready_request__descriptor, in);
  inferd_model_t *m;
  inferd_status_t *st = acquire(fe, in->name, in->version, &m);
  FREE_MSG(in);
  if (st)
    return st;
  inferd_model_release(m);
  Inference__ModelReadyResponse r = INFERENCE__MODEL_READY_RESPONSE__INIT;
  r.ready = 1;
  return grpc_fe_pack(&r.base, reply);
}

static inferd_status_t *server_metadata(grpc_frontend_t *fe, const uint8_t *req,
                                        size_t len, grpc_fe_buf_t *reply) {
  UNPACK(Inference__ServerMetadataRequest,
         inference__server_metadata_request__descriptor, in);
  FREE_MSG(in);
  size_t n = inferd_server_extension_count(fe->server);
  char **ext = calloc(n ? n : 1, sizeof(char *));
  if (!ext)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  for (size_t i = 0; i < n; i++)
    ext[i] = (char *)inferd_server_extension(fe->server, i);
  Inference__ServerMetadataResponse r =
      INFERENCE__SERVER_METADATA_RESPONSE__INIT;
  r.name = (char *)inferd_server_id(fe->server);
  r.version = INFERD_VERSION_STRING;
  r.extensions = ext;
  r.n_extensions = n;
  inferd_status_t *st = grpc_fe_pack(&r.base, reply);
  free(ext);
  return st;
}

static void tensor_meta(Inference__ModelMetadataResponse__TensorMetadata *t,
                        const char *name, inferd_datatype_t dt,
                        const int64_t *dims, size_t nd, bool batch,
                        int64_t *shape_store) {
  inference__model_metadata_response__tensor_metadata__init(t);
  t->name = (char *)name;
  t->datatype = (char *)inferd_datatype_name(dt);
  size_t k = 0;
  if (batch)
    shape_store[k++] = -1;
  for (size_t i = 0; i < nd; i++)
    shape_store[k++] = dims[i];
  t->shape = shape_store;
  t->n_shape = k;
}

/* ModelMetadataResponse of m (borrowed) into reply. */
static inferd_status_t *metadata_pack(grpc_frontend_t *fe, inferd_model_t *m,
                                      bool explicit_version,
                                      grpc_fe_buf_t *reply) {
  inferd_status_t *st = NULL;
  int64_t *versions = NULL;
  size_t n_versions = 0;
  if (!explicit_version) {
    const char *name = inferd_model_name(m);
    st = inferd_server_model_ready_versions(fe->server, name, strlen(name),
                                            &versions, &n_versions);
    if (st)
      return st;
  }
  if (n_versions == 0) { /* explicit version, or it went away meanwhile */
    free(versions);
    versions = malloc(sizeof(int64_t));
    if (versions) {
      versions[0] = inferd_model_version(m);
      n_versions = 1;
    }
  }
  size_t ni = inferd_model_input_count(m), no = inferd_model_output_count(m);
  bool batch = inferd_model_max_batch_size(m) >= 1;
  char(*vs)[24] = calloc(n_versions ? n_versions : 1, sizeof(*vs));
  char **vp = calloc(n_versions ? n_versions : 1, sizeof(char *));
  Inference__ModelMetadataResponse__TensorMetadata *tm =
      calloc(ni + no + 1, sizeof(*tm));
  Inference__ModelMetadataResponse__TensorMetadata **tp =
      calloc(ni + no + 1, sizeof(*tp));
  int64_t **shapes = calloc(ni + no + 1, sizeof(*shapes));
  bool ok = vs && vp && tm && tp && shapes && versions;
  for (size_t i = 0; ok && i < n_versions; i++) {
    snprintf(vs[i], sizeof(vs[i]), "%lld", (long long)versions[i]);
    vp[i] = vs[i];
  }
  for (size_t i = 0; ok && i < ni + no; i++) {
    const char *name;
    inferd_datatype_t dt;
    const int64_t *dims;
    size_t nd;
    if (i < ni)
      inferd_model_input(m, i, &name, &dt, &dims, &nd);
    else
      inferd_model_output(m, i - ni, &name, &dt, &dims, &nd);
    shapes[i] = malloc((nd + 1) * sizeof(int64_t));
    if (!shapes[i]) {
      ok = false;
      break;
    }
    tensor_meta(&tm[i], name, dt, dims, nd, batch, shapes[i]);
    tp[i] = &tm[i];
  }
  if (ok) {
    Inference__ModelMetadataResponse r =
        INFERENCE__MODEL_METADATA_RESPONSE__INIT;
    r.name = (char *)inferd_model_name(m);
    r.versions = vp;
    r.n_versions = n_versions;
    r.platform = (char *)inferd_model_platform(m);
    r.inputs = tp;
    r.n_inputs = ni;
    r.outputs = tp + ni;
    r.n_outputs = no;
    st = grpc_fe_pack(&r.base, reply);
  } else {
    st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  for (size_t i = 0; shapes && i < ni + no; i++)
    free(shapes[i]);
  free(shapes), free(tp), free(tm), free(vp), free(vs), free(versions);
  return st;
}

/* ModelConfigResponse of m (borrowed) into reply. */
static inferd_status_t *config_pack(inferd_model_t *m, grpc_fe_buf_t *reply) {
  Inference__ModelConfigResponse r = INFERENCE__MODEL_CONFIG_RESPONSE__INIT;
  /* borrowed until release; packing only reads it */
  r.config = (Inference__ModelConfig *)inferd_model_config_message(m);
  return grpc_fe_pack(&r.base, reply);
}

/* ---- ModelMetadata and ModelConfig -----------------------------------------
 * Answered at once when the model is READY. When it is not, the server may
 * load it on demand (issue 9): the decoded request then waits in an info_op
 * and the server's callback answers, after a second acquire (never a
 * second wait), so no completion-queue thread waits for a load. */

typedef struct info_op {
  grpc_frontend_t *fe;
  grpc_call *call;
  bool config;
  ProtobufCMessage *in; /* the decoded request; name points into it */
  const char *name;
  int64_t version;
  bool explicit_version;
} info_op_t;

static void info_op_free(info_op_t *op) {
  if (op->in)
    protobuf_c_message_free_unpacked(op->in, NULL);
  free(op);
}

/* Replies to op with m (acquired, released here) or st (taken); frees op. */
static void info_answer(info_op_t *op, inferd_model_t *m, inferd_status_t *st) {
  grpc_fe_buf_t b = {0};
  if (!st) {
    st = op->config ? config_pack(m, &b)
                    : metadata_pack(op->fe, m, op->explicit_version, &b);
    inferd_model_release(m);
  }
  grpc_byte_buffer *bb = NULL;
  if (!st) {
    grpc_slice sl = grpc_slice_new(b.data, b.len, free);
    bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
  } else {
    free(b.data);
  }
  grpc_fe_reply(op->call, bb, st);
  info_op_free(op);
}

/* The server's callback of a load on demand (a repository thread). */
static void info_loaded_cb(inferd_status_t *st, void *userp) {
  info_op_t *op = userp;
  grpc_frontend_t *fe = op->fe;
  inferd_model_t *m = NULL;
  if (!st)
    st = inferd_server_model_acquire(fe->server, op->name, strlen(op->name),
                                     op->version, &m);
  info_answer(op, m, st);
  grpc_fe_ops_add(fe, -1); /* last: grpc_frontend_free may be waiting */
}

void grpc_fe_model_info_start(grpc_frontend_t *fe, grpc_call *call, bool config,
                              const uint8_t *req, size_t len) {
  info_op_t *op = calloc(1, sizeof(*op));
  if (!op) {
    grpc_fe_reply(call, NULL,
                  inferd_status_new(INFERD_NO_MEMORY, "out of memory"));
    return;
  }
  op->fe = fe;
  op->call = call;
  op->config = config;
  const ProtobufCMessageDescriptor *d =
      config ? &inference__model_config_request__descriptor
             : &inference__model_metadata_request__descriptor;
  op->in = protobuf_c_message_unpack(d, NULL, len, req);
  if (!op->in) {
    info_answer(op, NULL,
                inferd_status_new(INFERD_INVALID_ARG,
                                  "malformed %s: protobuf decoding failed",
                                  d->name));
    return;
  }
  const char *version;
  if (config) {
    const Inference__ModelConfigRequest *in = (const void *)op->in;
    op->name = in->name, version = in->version;
  } else {
    const Inference__ModelMetadataRequest *in = (const void *)op->in;
    op->name = in->name, version = in->version;
  }
  op->explicit_version = version && *version;
  inferd_status_t *st = grpc_fe_parse_version(version, &op->version);
  if (st) {
    info_answer(op, NULL, st);
    return;
  }
  inferd_model_t *m = NULL;
  st = inferd_server_model_acquire(fe->server, op->name, strlen(op->name),
                                   op->version, &m);
  if (st) { /* not READY: only now is a load on demand considered */
    grpc_fe_ops_add(fe, 1);
    bool waiting = false;
    inferd_status_t *e = inferd_server_model_load_on_demand_async(
        fe->server, op->name, strlen(op->name), info_loaded_cb, op, &waiting);
    if (!e && waiting) { /* op belongs to the callback, maybe running */
      inferd_status_free(st);
      return;
    }
    grpc_fe_ops_add(fe, -1);
    if (e) {
      inferd_status_free(st);
      st = e;
    }
  }
  info_answer(op, m, st);
}

static inferd_status_t *unsupported(const char *what) {
  return inferd_status_new(INFERD_UNSUPPORTED,
                           "%s is not supported by this "
                           "server",
                           what);
}

#define NOT_SUPPORTED(fn, type, desc, what)                                    \
  static inferd_status_t *fn(grpc_frontend_t *fe, const uint8_t *req,          \
                             size_t len, grpc_fe_buf_t *reply) {               \
    (void)fe, (void)reply;                                                     \
    UNPACK(type, desc, in);                                                    \
    FREE_MSG(in);                                                              \
    return unsupported(what);                                                  \
  }
NOT_SUPPORTED(trace_setting, Inference__TraceSettingRequest,
              inference__trace_setting_request__descriptor,
              "the trace extension (TraceSetting)")

static void set_duration(Inference__StatisticDuration *d,
                         inferd_duration_stat_t v) {
  inference__statistic_duration__init(d);
  d->count = v.count;
  d->ns = v.ns;
}

/* Statistics extension (reference §1.11): every READY version of every
 * model (empty name), of one model (empty version) or one version. */
static inferd_status_t *model_statistics(grpc_frontend_t *fe,
                                         const uint8_t *req, size_t len,
                                         grpc_fe_buf_t *reply) {
  UNPACK(Inference__ModelStatisticsRequest,
         inference__model_statistics_request__descriptor, in);
  int64_t v = -1;
  inferd_status_t *st = grpc_fe_parse_version(in->version, &v);
  inferd_model_stats_t *ms = NULL;
  size_t n = 0;
  if (!st) {
    bool all = !in->name || !*in->name;
    st = inferd_server_model_statistics(fe->server, all ? NULL : in->name,
                                        all ? 0 : strlen(in->name), v, &ms, &n);
  }
  FREE_MSG(in);
  if (st)
    return st;
  /* one block per model: the message, its stats and its batch entries */
  typedef struct {
    Inference__ModelStatistics m;
    Inference__InferStatistics is;
    Inference__StatisticDuration d[8];
    Inference__MemoryUsage mu; /* measured memory (issue 9), when known */
    Inference__MemoryUsage *mup;
    char version[24];
  } block_t;
  block_t *b = calloc(n ? n : 1, sizeof(*b));
  Inference__ModelStatistics **mp = calloc(n ? n : 1, sizeof(*mp));
  size_t n_batch = 0;
  for (size_t i = 0; i < n; i++)
    n_batch += ms[i].n_batch;
  Inference__InferBatchStatistics *bs = calloc(n_batch + 1, sizeof(*bs));
  Inference__InferBatchStatistics **bp = calloc(n_batch + 1, sizeof(*bp));
  Inference__StatisticDuration *bd =
      calloc(3 * n_batch + 1, sizeof(Inference__StatisticDuration));
  if (!b || !mp || !bs || !bp || !bd) {
    st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  } else {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
      block_t *x = &b[i];
      inference__model_statistics__init(&x->m);
      inference__infer_statistics__init(&x->is);
      snprintf(x->version, sizeof(x->version), "%lld",
               (long long)ms[i].version);
      x->m.name = ms[i].name;
      x->m.version = x->version;
      x->m.last_inference = ms[i].last_inference_ms;
      x->m.inference_count = ms[i].inference_count;
      x->m.execution_count = ms[i].execution_count;
      inferd_duration_stat_t src[8] = {
          ms[i].success,       ms[i].fail,          ms[i].queue,
          ms[i].compute_input, ms[i].compute_infer, ms[i].compute_output,
          ms[i].cache_hit,     ms[i].cache_miss};
      for (int j = 0; j < 8; j++)
        set_duration(&x->d[j], src[j]);
      x->is.success = &x->d[0];
      x->is.fail = &x->d[1];
      x->is.queue = &x->d[2];
      x->is.compute_input = &x->d[3];
      x->is.compute_infer = &x->d[4];
      x->is.compute_output = &x->d[5];
      x->is.cache_hit = &x->d[6];
      x->is.cache_miss = &x->d[7];
      x->m.inference_stats = &x->is;
      if (ms[i].memory_bytes > 0) {
        inference__memory_usage__init(&x->mu);
        x->mu.type = "CPU";
        x->mu.id = 0;
        x->mu.byte_size = ms[i].memory_bytes;
        x->mup = &x->mu;
        x->m.memory_usage = &x->mup;
        x->m.n_memory_usage = 1;
      }
      x->m.batch_stats = &bp[k];
      x->m.n_batch_stats = ms[i].n_batch;
      for (size_t j = 0; j < ms[i].n_batch; j++, k++) {
        inference__infer_batch_statistics__init(&bs[k]);
        bs[k].batch_size = ms[i].batch[j].batch_size;
        set_duration(&bd[3 * k], ms[i].batch[j].compute_input);
        set_duration(&bd[3 * k + 1], ms[i].batch[j].compute_infer);
        set_duration(&bd[3 * k + 2], ms[i].batch[j].compute_output);
        bs[k].compute_input = &bd[3 * k];
        bs[k].compute_infer = &bd[3 * k + 1];
        bs[k].compute_output = &bd[3 * k + 2];
        bp[k] = &bs[k];
      }
      mp[i] = &x->m;
    }
    Inference__ModelStatisticsResponse r =
        INFERENCE__MODEL_STATISTICS_RESPONSE__INIT;
    r.model_stats = mp;
    r.n_model_stats = n;
    st = grpc_fe_pack(&r.base, reply);
  }
  free(b), free(mp), free(bs), free(bp), free(bd);
  inferd_model_stats_free(ms, n);
  return st;
}

static inferd_status_t *repository_index(grpc_frontend_t *fe,
                                         const uint8_t *req, size_t len,
                                         grpc_fe_buf_t *reply) {
  UNPACK(Inference__RepositoryIndexRequest,
         inference__repository_index_request__descriptor, in);
  bool ready = in->ready;
  FREE_MSG(in); /* repository_name is ignored for the index, as Triton does */
  inferd_model_index_entry_t *e;
  size_t n;
  inferd_status_t *st = inferd_server_model_index(fe->server, ready, &e, &n);
  if (st)
    return st;
  Inference__RepositoryIndexResponse__ModelIndex *mi =
      calloc(n ? n : 1, sizeof(*mi));
  Inference__RepositoryIndexResponse__ModelIndex **mp =
      calloc(n ? n : 1, sizeof(*mp));
  char(*vs)[24] = calloc(n ? n : 1, sizeof(*vs));
  if (!mi || !mp || !vs) {
    st = inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  } else {
    for (size_t i = 0; i < n; i++) {
      inference__repository_index_response__model_index__init(&mi[i]);
      mi[i].name = e[i].name;
      if (e[i].version >= 0)
        snprintf(vs[i], sizeof(vs[i]), "%lld", (long long)e[i].version);
      mi[i].version = vs[i];
      mi[i].state = e[i].state ? e[i].state : "";
      mi[i].reason = e[i].reason ? e[i].reason : "";
      mp[i] = &mi[i];
    }
    Inference__RepositoryIndexResponse r =
        INFERENCE__REPOSITORY_INDEX_RESPONSE__INIT;
    r.models = mp;
    r.n_models = n;
    st = grpc_fe_pack(&r.base, reply);
  }
  free(mi), free(mp), free(vs);
  inferd_model_index_free(e, n);
  return st;
}

/* ---- repository load/unload -----------------------------------------------
 * Asynchronous: the handler starts the server's load/unload and returns; the
 * completion callback (the server's repository thread) sends the reply. The
 * decoded request stays alive until then, since the options point into it.
 * A client that cancels or runs out of deadline meanwhile only makes the
 * reply batch fail, which frees it; the load itself goes on. */

typedef struct repo_op {
  grpc_frontend_t *fe;
  grpc_call *call;
  bool load;
  ProtobufCMessage *in; /* the decoded request */
  inferd_model_file_t *files;
  inferd_model_load_options_t opts;
} repo_op_t;

static void repo_op_free(repo_op_t *op) {
  if (op->in)
    protobuf_c_message_free_unpacked(op->in, NULL);
  free(op->files);
  free(op);
}

static const char *repo_choice_name(int c) {
  switch (c) {
  case INFERENCE__MODEL_REPOSITORY_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM:
    return "bool_param";
  case INFERENCE__MODEL_REPOSITORY_PARAMETER__PARAMETER_CHOICE_INT64_PARAM:
    return "int64_param";
  case INFERENCE__MODEL_REPOSITORY_PARAMETER__PARAMETER_CHOICE_STRING_PARAM:
    return "string_param";
  case INFERENCE__MODEL_REPOSITORY_PARAMETER__PARAMETER_CHOICE_BYTES_PARAM:
    return "bytes_param";
  default:
    return "no value";
  }
}

/* The wire length of top-level string field `field` of a message, or -1
 * when absent or malformed. protobuf-c hands strings over NUL-terminated,
 * so a name with a NUL byte inside would otherwise be silently cut. */
static int64_t wire_string_len(const uint8_t *p, size_t n, uint32_t field) {
  size_t i = 0;
  int64_t found = -1;
  while (i < n) {
    uint64_t key = 0, len = 0;
    int shift = 0;
    do {
      if (i >= n || shift > 63)
        return -1;
      key |= (uint64_t)(p[i] & 0x7f) << shift;
      shift += 7;
    } while (p[i++] & 0x80);
    switch (key & 7) {
    case 0: /* varint */
      while (i < n && (p[i] & 0x80))
        i++;
      i++;
      break;
    case 1:
      i += 8;
      break;
    case 5:
      i += 4;
      break;
    case 2:
      shift = 0;
      do {
        if (i >= n || shift > 63)
          return -1;
        len |= (uint64_t)(p[i] & 0x7f) << shift;
        shift += 7;
      } while (p[i++] & 0x80);
      if (len > n - i)
        return -1;
      if ((key >> 3) == field)
        found = (int64_t)len; /* the last occurrence wins, as in protobuf */
      i += len;
      break;
    default:
      return -1;
    }
  }
  return found;
}

/* Decodes a RepositoryModelLoadRequest into op (name, config, files). */
static inferd_status_t *load_request(repo_op_t *op, const uint8_t *req,
                                     size_t len, const char **name,
                                     size_t *name_len) {
  UNPACK(Inference__RepositoryModelLoadRequest,
         inference__repository_model_load_request__descriptor, in);
  op->in = &in->base;
  *name = in->model_name;
  *name_len = strlen(in->model_name);
  if (wire_string_len(req, len, 2) > (int64_t)*name_len)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "invalid model name: it contains a NUL byte");
  if (in->repository_name && *in->repository_name)
    return inferd_status_new(INFERD_UNSUPPORTED,
                             "repository_name \"%s\": loading from a named "
                             "repository is not supported",
                             in->repository_name);
  if (in->n_parameters) {
    op->files = calloc(in->n_parameters, sizeof(*op->files));
    if (!op->files)
      return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  for (size_t i = 0; i < in->n_parameters; i++) {
    const char *k = in->parameters[i]->key ? in->parameters[i]->key : "";
    const Inference__ModelRepositoryParameter *v = in->parameters[i]->value;
    int c = v ? (int)v->parameter_choice_case : 0;
    if (strcmp(k, "config") == 0) {
      if (c !=
          INFERENCE__MODEL_REPOSITORY_PARAMETER__PARAMETER_CHOICE_STRING_PARAM)
        return inferd_status_new(INFERD_INVALID_ARG,
                                 "load parameter \"config\": expected "
                                 "string_param holding the JSON model config, "
                                 "got %s",
                                 repo_choice_name(c));
      op->opts.config_json = v->string_param;
      op->opts.config_json_len = strlen(v->string_param);
    } else if (strcmp(k, "pinned") == 0) {
      if (c !=
          INFERENCE__MODEL_REPOSITORY_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM)
        return inferd_status_new(INFERD_INVALID_ARG,
                                 "load parameter \"pinned\": expected "
                                 "bool_param, got %s",
                                 repo_choice_name(c));
      op->opts.pinned = v->bool_param;
    } else if (strncmp(k, "file:", 5) == 0) {
      if (c !=
          INFERENCE__MODEL_REPOSITORY_PARAMETER__PARAMETER_CHOICE_BYTES_PARAM)
        return inferd_status_new(INFERD_INVALID_ARG,
                                 "load parameter \"%s\": expected bytes_param "
                                 "holding the file contents, got %s",
                                 k, repo_choice_name(c));
      inferd_model_file_t *f = &op->files[op->opts.n_files++];
      f->path = k + 5;
      f->path_len = strlen(k + 5);
      f->data = v->bytes_param.data ? (const void *)v->bytes_param.data : "";
      f->byte_size = v->bytes_param.len;
    } else {
      return inferd_status_new(INFERD_INVALID_ARG,
                               "Unrecognized load parameter '%s'", k);
    }
  }
  op->opts.files = op->files;
  return NULL;
}

/* Decodes a RepositoryModelUnloadRequest (name, unload_dependents). */
static inferd_status_t *unload_request(repo_op_t *op, const uint8_t *req,
                                       size_t len, const char **name,
                                       size_t *name_len, bool *dependents) {
  UNPACK(Inference__RepositoryModelUnloadRequest,
         inference__repository_model_unload_request__descriptor, in);
  op->in = &in->base;
  *name = in->model_name;
  *name_len = strlen(in->model_name);
  if (wire_string_len(req, len, 2) > (int64_t)*name_len)
    return inferd_status_new(INFERD_INVALID_ARG,
                             "invalid model name: it contains a NUL byte");
  if (in->repository_name && *in->repository_name)
    return inferd_status_new(INFERD_UNSUPPORTED,
                             "repository_name \"%s\": unloading from a named "
                             "repository is not supported",
                             in->repository_name);
  for (size_t i = 0; i < in->n_parameters; i++) {
    const char *k = in->parameters[i]->key ? in->parameters[i]->key : "";
    const Inference__ModelRepositoryParameter *v = in->parameters[i]->value;
    int c = v ? (int)v->parameter_choice_case : 0;
    if (strcmp(k, "unload_dependents") == 0) {
      if (c !=
          INFERENCE__MODEL_REPOSITORY_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM)
        return inferd_status_new(INFERD_INVALID_ARG,
                                 "unload parameter \"unload_dependents\": "
                                 "expected bool_param, got %s",
                                 repo_choice_name(c));
      *dependents = v->bool_param;
    } else {
      return inferd_status_new(INFERD_INVALID_ARG,
                               "Unrecognized unload parameter '%s'", k);
    }
  }
  return NULL;
}

/* The server's repository thread, once per started operation: sends the
 * (empty) response message or the error. Never blocks: starting a batch
 * only queues it. */
static void repo_cb(inferd_status_t *st, void *userp) {
  repo_op_t *op = userp;
  grpc_frontend_t *fe = op->fe;
  grpc_byte_buffer *bb = NULL;
  if (!st) {
    Inference__RepositoryModelLoadResponse lr =
        INFERENCE__REPOSITORY_MODEL_LOAD_RESPONSE__INIT;
    Inference__RepositoryModelUnloadResponse ur =
        INFERENCE__REPOSITORY_MODEL_UNLOAD_RESPONSE__INIT;
    grpc_fe_buf_t b = {0};
    st = grpc_fe_pack(op->load ? &lr.base : &ur.base, &b);
    if (!st) {
      grpc_slice s = grpc_slice_new(b.data, b.len, free);
      bb = grpc_raw_byte_buffer_create(&s, 1);
      grpc_slice_unref(s);
    }
  }
  grpc_fe_reply(op->call, bb, st);
  repo_op_free(op);
  grpc_fe_ops_add(fe, -1); /* last: grpc_frontend_free may be waiting */
}

void grpc_fe_repository_start(grpc_frontend_t *fe, grpc_call *call, bool load,
                              const uint8_t *req, size_t len) {
  repo_op_t *op = calloc(1, sizeof(*op));
  if (!op) {
    grpc_fe_reply(call, NULL,
                  inferd_status_new(INFERD_NO_MEMORY, "out of memory"));
    return;
  }
  op->fe = fe;
  op->call = call;
  op->load = load;
  const char *name = NULL;
  size_t name_len = 0;
  bool dependents = false;
  inferd_status_t *st =
      load ? load_request(op, req, len, &name, &name_len)
           : unload_request(op, req, len, &name, &name_len, &dependents);
  if (!st) {
    grpc_fe_ops_add(fe, 1);
    /* from a successful call on, op belongs to repo_cb, which may already
     * be running */
    st = load ? inferd_server_model_load_async(fe->server, name, name_len,
                                               &op->opts, repo_cb, op)
              : inferd_server_model_unload_async(fe->server, name, name_len,
                                                 dependents, repo_cb, op);
    if (!st)
      return;
    grpc_fe_ops_add(fe, -1);
  }
  grpc_fe_reply(call, NULL, st);
  repo_op_free(op);
}

/* ---- logging
 * ---------------------------------------------------------------------- */

static const char *log_choice_name(int c) {
  switch (c) {
  case INFERENCE__LOG_SETTINGS_REQUEST__SETTING_VALUE__PARAMETER_CHOICE_BOOL_PARAM:
    return "bool_param";
  case INFERENCE__LOG_SETTINGS_REQUEST__SETTING_VALUE__PARAMETER_CHOICE_UINT32_PARAM:
    return "uint32_param";
  case INFERENCE__LOG_SETTINGS_REQUEST__SETTING_VALUE__PARAMETER_CHOICE_STRING_PARAM:
    return "string_param";
  default:
    return "no value";
  }
}

static inferd_status_t *log_settings(grpc_frontend_t *fe, const uint8_t *req,
                                     size_t len, grpc_fe_buf_t *reply) {
  (void)fe;
  UNPACK(Inference__LogSettingsRequest,
         inference__log_settings_request__descriptor, in);
  inferd_log_settings_t ls;
  inferd_log_get(&ls);
  inferd_status_t *st = NULL;
  enum {
    B = INFERENCE__LOG_SETTINGS_REQUEST__SETTING_VALUE__PARAMETER_CHOICE_BOOL_PARAM,
    U = INFERENCE__LOG_SETTINGS_REQUEST__SETTING_VALUE__PARAMETER_CHOICE_UINT32_PARAM,
    S = INFERENCE__LOG_SETTINGS_REQUEST__SETTING_VALUE__PARAMETER_CHOICE_STRING_PARAM
  };
  /* validate everything first: a bad entry changes nothing */
  for (size_t i = 0; !st && i < in->n_settings; i++) {
    const char *k = in->settings[i]->key ? in->settings[i]->key : "";
    const Inference__LogSettingsRequest__SettingValue *v =
        in->settings[i]->value;
    int c = v ? (int)v->parameter_choice_case : 0;
    if (strcmp(k, "log_info") == 0 || strcmp(k, "log_warning") == 0 ||
        strcmp(k, "log_error") == 0) {
      if (c != B) {
        st = inferd_status_new(INFERD_INVALID_ARG,
                               "log setting \"%s\": expected bool_param, got "
                               "%s",
                               k, log_choice_name(c));
        break;
      }
      bool *f = k[4] == 'i'   ? &ls.log_info
                : k[4] == 'w' ? &ls.log_warning
                              : &ls.log_error;
      *f = v->bool_param;
    } else if (strcmp(k, "log_verbose_level") == 0) {
      if (c != U || v->uint32_param > INT32_MAX) {
        st = inferd_status_new(INFERD_INVALID_ARG,
                               "log setting \"log_verbose_level\": expected "
                               "uint32_param, got %s",
                               log_choice_name(c));
        break;
      }
      ls.verbose_level = (int32_t)v->uint32_param;
    } else if (strcmp(k, "log_format") == 0) {
      if (c != S) {
        st = inferd_status_new(INFERD_INVALID_ARG,
                               "log setting \"log_format\": expected "
                               "string_param, got %s",
                               log_choice_name(c));
      } else if (strcmp(v->string_param, "default") == 0) {
        ls.format = INFERD_LOG_FORMAT_DEFAULT;
      } else if (strcmp(v->string_param, "ISO8601") == 0) {
        ls.format = INFERD_LOG_FORMAT_ISO8601;
      } else {
        st = inferd_status_new(INFERD_INVALID_ARG,
                               "log setting \"log_format\": expected "
                               "\"default\" or \"ISO8601\", got \"%s\"",
                               v->string_param);
      }
    } else if (strcmp(k, "log_file") == 0) {
      if (c != S)
        st = inferd_status_new(INFERD_INVALID_ARG,
                               "log setting \"log_file\": expected "
                               "string_param, got %s",
                               log_choice_name(c));
      else if (*v->string_param)
        st = inferd_status_new(INFERD_UNSUPPORTED,
                               "log setting \"log_file\": changing the log "
                               "file is not supported");
    } else {
      st = inferd_status_new(INFERD_INVALID_ARG, "unknown log setting \"%s\"",
                             k);
    }
  }
  FREE_MSG(in);
  if (st)
    return st;
  inferd_log_set(&ls);
  inferd_log_get(&ls);

  const char *keys[6] = {"log_file",  "log_info",          "log_warning",
                         "log_error", "log_verbose_level", "log_format"};
  Inference__LogSettingsResponse__SettingsEntry e[6], *ep[6];
  Inference__LogSettingsResponse__SettingValue sv[6];
  for (int i = 0; i < 6; i++) {
    inference__log_settings_response__settings_entry__init(&e[i]);
    inference__log_settings_response__setting_value__init(&sv[i]);
    e[i].key = (char *)keys[i];
    e[i].value = &sv[i];
    ep[i] = &e[i];
  }
  sv[0].parameter_choice_case =
      INFERENCE__LOG_SETTINGS_RESPONSE__SETTING_VALUE__PARAMETER_CHOICE_STRING_PARAM;
  sv[0].string_param = "";
  bool vals[3] = {ls.log_info, ls.log_warning, ls.log_error};
  for (int i = 1; i <= 3; i++) {
    sv[i].parameter_choice_case =
        INFERENCE__LOG_SETTINGS_RESPONSE__SETTING_VALUE__PARAMETER_CHOICE_BOOL_PARAM;
    sv[i].bool_param = vals[i - 1];
  }
  sv[4].parameter_choice_case =
      INFERENCE__LOG_SETTINGS_RESPONSE__SETTING_VALUE__PARAMETER_CHOICE_UINT32_PARAM;
  sv[4].uint32_param = (uint32_t)ls.verbose_level;
  sv[5].parameter_choice_case =
      INFERENCE__LOG_SETTINGS_RESPONSE__SETTING_VALUE__PARAMETER_CHOICE_STRING_PARAM;
  sv[5].string_param =
      ls.format == INFERD_LOG_FORMAT_ISO8601 ? "ISO8601" : "default";
  Inference__LogSettingsResponse r = INFERENCE__LOG_SETTINGS_RESPONSE__INIT;
  r.settings = ep;
  r.n_settings = 6;
  return grpc_fe_pack(&r.base, reply);
}

static inferd_status_t *health_check(grpc_frontend_t *fe, const uint8_t *req,
                                     size_t len, grpc_fe_buf_t *reply) {
  UNPACK(Grpc__Health__V1__HealthCheckRequest,
         grpc__health__v1__health_check_request__descriptor, in);
  FREE_MSG(in);
  Grpc__Health__V1__HealthCheckResponse r =
      GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  r.status =
      inferd_server_is_ready(fe->server)
          ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
          : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
  return grpc_fe_pack(&r.base, reply);
}

grpc_fe_unary_fn grpc_fe_unary_handler(grpc_fe_method_t m) {
  switch (m) {
  case GRPC_FE_SERVER_LIVE:
    return server_live;
  case GRPC_FE_SERVER_READY:
    return server_ready;
  case GRPC_FE_MODEL_READY:
    return model_ready;
  case GRPC_FE_SERVER_METADATA:
    return server_metadata;
  case GRPC_FE_MODEL_STATISTICS:
    return model_statistics;
  case GRPC_FE_REPOSITORY_INDEX:
    return repository_index;
  case GRPC_FE_SYSTEM_SHM_STATUS:
  case GRPC_FE_SYSTEM_SHM_REGISTER:
  case GRPC_FE_SYSTEM_SHM_UNREGISTER:
  case GRPC_FE_CUDA_SHM_STATUS:
  case GRPC_FE_CUDA_SHM_REGISTER:
  case GRPC_FE_CUDA_SHM_UNREGISTER:
    return grpc_fe_shm_handler(m);
  case GRPC_FE_TRACE_SETTING:
    return trace_setting;
  case GRPC_FE_LOG_SETTINGS:
    return log_settings;
  case GRPC_FE_HEALTH_CHECK:
    return health_check;
  default:
    return NULL;
  }
}
