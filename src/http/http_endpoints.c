/*
 * http_endpoints.c: the REST endpoints other than infer (reference §1.2-§1.5,
 * §1.10-§1.12, §1.15): health, server and model metadata, model readiness,
 * model config, statistics, repository index/load/unload, logging (shared
 * memory is in http_shm.c), and a 501 UNSUPPORTED answer for trace and
 * generate, which server.h does not offer yet. None of these is on the hot
 * path, so their JSON is built with jansson.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_dashboard.h"
#include "http/http_endpoints.h"

static json_t *version_str(int64_t v) {
  char buf[24];
  snprintf(buf, sizeof(buf), "%" PRId64, v);
  return json_string(buf);
}

static json_t *shape_json(const int64_t *dims, size_t n, bool batch) {
  json_t *a = json_array();
  if (batch)
    json_array_append_new(a, json_integer(-1));
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, json_integer(dims[i]));
  return a;
}

/* Acquires the route's model version, or queues the error and returns NULL.
 * With on_demand, a model that is not loaded may be loaded first (the
 * connection is then suspended and the handler runs again afterwards). */
static inferd_model_t *acquire(http_req_t *q, bool on_demand,
                               enum MHD_Result *ret) {
  const http_route_t *r = http_req_route(q);
  if (r->version_overflow) {
    *ret = http_queue_error(q, inferd_status_new(INFERD_INVALID_ARG,
                                                 "model version is out of "
                                                 "range"));
    return NULL;
  }
  inferd_model_t *m = NULL;
  inferd_status_t *st = inferd_server_model_acquire(
      http_req_server(q), r->model, r->model_len, r->version, &m);
  if (st) {
    *ret = on_demand ? http_req_wait_model(q, st) : http_queue_error(q, st);
    return NULL;
  }
  return m;
}

static enum MHD_Result server_metadata(http_req_t *q) {
  inferd_server_t *s = http_req_server(q);
  json_t *ext = json_array();
  size_t n = inferd_server_extension_count(s);
  for (size_t i = 0; i < n; i++)
    json_array_append_new(ext, json_string(inferd_server_extension(s, i)));
  json_t *j = json_object();
  json_object_set_new(j, "name", json_string(inferd_server_id(s)));
  json_object_set_new(j, "version", json_string(INFERD_VERSION_STRING));
  json_object_set_new(j, "extensions", ext);
  return http_queue_json(q, 200, j);
}

static json_t *tensors_json(inferd_model_t *m, bool outputs) {
  json_t *a = json_array();
  size_t n =
      outputs ? inferd_model_output_count(m) : inferd_model_input_count(m);
  bool batch = inferd_model_max_batch_size(m) > 0;
  for (size_t i = 0; i < n; i++) {
    const char *name;
    inferd_datatype_t dt;
    const int64_t *dims;
    size_t nd;
    if (outputs)
      inferd_model_output(m, i, &name, &dt, &dims, &nd);
    else
      inferd_model_input(m, i, &name, &dt, &dims, &nd);
    json_t *t = json_object();
    json_object_set_new(t, "name", json_string(name));
    json_object_set_new(t, "datatype", json_string(inferd_datatype_name(dt)));
    json_object_set_new(t, "shape", shape_json(dims, nd, batch));
    json_array_append_new(a, t);
  }
  return a;
}

static enum MHD_Result model_metadata(http_req_t *q) {
  enum MHD_Result ret;
  inferd_model_t *m = acquire(q, true, &ret);
  if (!m)
    return ret;
  const http_route_t *r = http_req_route(q);
  json_t *versions = json_array();
  if (r->version >= 0) {
    json_array_append_new(versions, version_str(r->version));
  } else {
    int64_t *v = NULL;
    size_t n = 0;
    inferd_status_t *st = inferd_server_model_ready_versions(
        http_req_server(q), r->model, r->model_len, &v, &n);
    if (st) {
      json_decref(versions);
      inferd_model_release(m);
      return http_queue_error(q, st);
    }
    for (size_t i = 0; i < n; i++)
      json_array_append_new(versions, version_str(v[i]));
    free(v);
  }
  json_t *j = json_object();
  json_object_set_new(j, "name", json_string(inferd_model_name(m)));
  json_object_set_new(j, "versions", versions);
  json_object_set_new(j, "platform", json_string(inferd_model_platform(m)));
  json_object_set_new(j, "inputs", tensors_json(m, false));
  json_object_set_new(j, "outputs", tensors_json(m, true));
  inferd_model_release(m);
  return http_queue_json(q, 200, j);
}

static enum MHD_Result model_ready(http_req_t *q) {
  enum MHD_Result ret;
  /* readiness is a question, never a reason to load */
  inferd_model_t *m = acquire(q, false, &ret);
  if (!m)
    return ret;
  inferd_model_release(m);
  return http_queue_empty(q, 200);
}

static enum MHD_Result model_config(http_req_t *q) {
  enum MHD_Result ret;
  inferd_model_t *m = acquire(q, true, &ret);
  if (!m)
    return ret;
  size_t len = 0;
  const char *cfg = inferd_model_config_json(m, &len);
  char *copy = malloc(len ? len : 1);
  if (!copy) {
    inferd_model_release(m);
    return http_queue_error(
        q, inferd_status_new(INFERD_NO_MEMORY, "out of memory"));
  }
  if (len)
    memcpy(copy, cfg, len);
  inferd_model_release(m);
  return http_queue_buf(q, 200, copy, len, "application/json");
}

static json_t *duration(const inferd_duration_stat_t *d) {
  json_t *j = json_object();
  json_object_set_new(j, "count", json_integer((json_int_t)d->count));
  json_object_set_new(j, "ns", json_integer((json_int_t)d->ns));
  return j;
}

/* [] as Triton answers on CPU; with the measured memory of a version
 * (issue 9): [{"type":"CPU","id":0,"byte_size":N}] */
static json_t *memory_usage(uint64_t byte_size) {
  json_t *a = json_array();
  if (byte_size == 0)
    return a;
  json_t *u = json_object();
  json_object_set_new(u, "type", json_string("CPU"));
  json_object_set_new(u, "id", json_integer(0));
  json_object_set_new(u, "byte_size", json_integer((json_int_t)byte_size));
  json_array_append_new(a, u);
  return a;
}

static enum MHD_Result model_stats(http_req_t *q) {
  const http_route_t *r = http_req_route(q);
  if (r->version_overflow)
    return http_queue_error(q, inferd_status_new(INFERD_INVALID_ARG,
                                                 "model version is out of "
                                                 "range"));
  inferd_model_stats_t *stats = NULL;
  size_t n = 0;
  inferd_status_t *st = inferd_server_model_statistics(
      http_req_server(q), r->model, r->model_len, r->version, &stats, &n);
  if (st)
    return http_queue_error(q, st);
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    const inferd_model_stats_t *s = &stats[i];
    json_t *e = json_object();
    json_object_set_new(e, "name", json_string(s->name));
    json_object_set_new(e, "version", version_str(s->version));
    json_object_set_new(e, "last_inference",
                        json_integer((json_int_t)s->last_inference_ms));
    json_object_set_new(e, "inference_count",
                        json_integer((json_int_t)s->inference_count));
    json_object_set_new(e, "execution_count",
                        json_integer((json_int_t)s->execution_count));
    json_t *is = json_object();
    json_object_set_new(is, "success", duration(&s->success));
    json_object_set_new(is, "fail", duration(&s->fail));
    json_object_set_new(is, "queue", duration(&s->queue));
    json_object_set_new(is, "compute_input", duration(&s->compute_input));
    json_object_set_new(is, "compute_infer", duration(&s->compute_infer));
    json_object_set_new(is, "compute_output", duration(&s->compute_output));
    json_object_set_new(is, "cache_hit", duration(&s->cache_hit));
    json_object_set_new(is, "cache_miss", duration(&s->cache_miss));
    json_object_set_new(e, "inference_stats", is);
    json_object_set_new(e, "response_stats", json_object());
    json_t *bs = json_array();
    for (size_t k = 0; k < s->n_batch; k++) {
      json_t *b = json_object();
      json_object_set_new(b, "batch_size",
                          json_integer((json_int_t)s->batch[k].batch_size));
      json_object_set_new(b, "compute_input",
                          duration(&s->batch[k].compute_input));
      json_object_set_new(b, "compute_infer",
                          duration(&s->batch[k].compute_infer));
      json_object_set_new(b, "compute_output",
                          duration(&s->batch[k].compute_output));
      json_array_append_new(bs, b);
    }
    json_object_set_new(e, "batch_stats", bs);
    json_object_set_new(e, "memory_usage", memory_usage(s->memory_bytes));
    json_array_append_new(arr, e);
  }
  inferd_model_stats_free(stats, n);
  json_t *j = json_object();
  json_object_set_new(j, "model_stats", arr);
  return http_queue_json(q, 200, j);
}

static enum MHD_Result repo_index(http_req_t *q) {
  json_t *body;
  inferd_status_t *st = http_req_body_json(q, &body);
  if (st)
    return http_queue_error(q, st);
  bool ready = false;
  json_t *rj = body ? json_object_get(body, "ready") : NULL;
  if (rj) {
    if (!json_is_boolean(rj))
      return http_queue_error(q, inferd_status_new(INFERD_INVALID_ARG,
                                                   "\"ready\" must be a "
                                                   "boolean"));
    ready = json_is_true(rj);
  }
  inferd_model_index_entry_t *e = NULL;
  size_t n = 0;
  st = inferd_server_model_index(http_req_server(q), ready, &e, &n);
  if (st)
    return http_queue_error(q, st);
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(e[i].name));
    if (e[i].version >= 0)
      json_object_set_new(o, "version", version_str(e[i].version));
    if (e[i].state)
      json_object_set_new(o, "state", json_string(e[i].state));
    if (e[i].reason && *e[i].reason)
      json_object_set_new(o, "reason", json_string(e[i].reason));
    /* inferd's figures (issue 9), only where there is something to say, so
     * an index without them reads exactly as Triton's */
    if (e[i].extended &&
        (e[i].memory_bytes || e[i].n_loads || e[i].n_evictions ||
         e[i].n_on_demand || e[i].pinned)) {
      json_object_set_new(o, "memory_bytes",
                          json_integer((json_int_t)e[i].memory_bytes));
      json_object_set_new(o, "loads", json_integer((json_int_t)e[i].n_loads));
      json_object_set_new(o, "evictions",
                          json_integer((json_int_t)e[i].n_evictions));
      json_object_set_new(o, "on_demand_loads",
                          json_integer((json_int_t)e[i].n_on_demand));
      json_object_set_new(o, "pinned", json_boolean(e[i].pinned));
    }
    json_array_append_new(arr, o);
  }
  inferd_model_index_free(e, n);
  return http_queue_json(q, 200, arr);
}

/* One "file:<path>" load parameter: its base64 value decoded into the arena
 * (kept until the request state is freed, after the load's callback). */
static inferd_status_t *file_param(http_req_t *q, const char *key, json_t *v,
                                   inferd_model_file_t *f) {
  if (!json_is_string(v))
    return inferd_status_new(INFERD_INVALID_ARG,
                             "load parameter \"%s\" must be a base64 string "
                             "holding the file contents",
                             key);
  size_t b64_len = json_string_length(v);
  uint8_t *data =
      http_arena_alloc(http_req_arena(q), http_base64_decoded_max(b64_len));
  if (!data)
    return inferd_status_new(
        INFERD_NO_MEMORY, "out of memory decoding load parameter \"%s\"", key);
  size_t n = 0;
  inferd_status_t *st =
      http_base64_decode(json_string_value(v), b64_len, data, &n);
  if (st)
    return inferd_status_prefix(st, "load parameter \"%s\"", key);
  f->path = key + 5;
  f->path_len = strlen(key + 5);
  f->data = data;
  f->byte_size = n;
  return NULL;
}

/* Reads the load/unload parameters (reference §1.12) into *opts (load) or
 * *dependents (unload). Strings are borrowed from the body JSON and decoded
 * files live in the arena: both last until the request state is freed. */
static inferd_status_t *repo_params(http_req_t *q, bool load, json_t *params,
                                    inferd_model_load_options_t *opts,
                                    bool *dependents) {
  size_t n = json_object_size(params);
  inferd_model_file_t *files = NULL;
  if (load && n) {
    files = http_arena_alloc(http_req_arena(q), n * sizeof(*files));
    if (!files)
      return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  const char *key;
  json_t *v;
  json_object_foreach(params, key, v) {
    if (load && strcmp(key, "config") == 0) {
      if (!json_is_string(v))
        return inferd_status_new(INFERD_INVALID_ARG,
                                 "load parameter \"config\" must be a string "
                                 "holding the model config JSON");
      opts->config_json = json_string_value(v);
      opts->config_json_len = json_string_length(v);
    } else if (load && strcmp(key, "pinned") == 0) {
      if (!json_is_boolean(v))
        return inferd_status_new(INFERD_INVALID_ARG,
                                 "load parameter \"pinned\" must be a "
                                 "boolean");
      opts->pinned = json_is_true(v);
    } else if (load && strncmp(key, "file:", 5) == 0) {
      inferd_status_t *st = file_param(q, key, v, &files[opts->n_files]);
      if (st)
        return st;
      opts->n_files++;
    } else if (!load && strcmp(key, "unload_dependents") == 0) {
      if (!json_is_boolean(v))
        return inferd_status_new(INFERD_INVALID_ARG,
                                 "unload parameter \"unload_dependents\" must "
                                 "be a boolean");
      *dependents = json_is_true(v);
    } else {
      return inferd_status_new(INFERD_INVALID_ARG,
                               "Unrecognized %s parameter '%s'",
                               load ? "load" : "unload", key);
    }
  }
  opts->files = files;
  return NULL;
}

static enum MHD_Result repo_load_unload(http_req_t *q, bool load) {
  const http_route_t *r = http_req_route(q);
  if (r->has_repo)
    return http_queue_error(
        q, inferd_status_new(INFERD_UNSUPPORTED,
                             "explicit repository name in the load/unload "
                             "path is not supported"));
  json_t *body;
  inferd_status_t *st = http_req_body_json(q, &body);
  if (st)
    return http_queue_error(q, st);
  json_t *params = body ? json_object_get(body, "parameters") : NULL;
  if (params && !json_is_object(params))
    return http_queue_error(q, inferd_status_new(INFERD_INVALID_ARG,
                                                 "\"parameters\" must be an "
                                                 "object"));
  /* in the arena: the server may read them until its callback has run */
  inferd_model_load_options_t *opts =
      http_arena_alloc(http_req_arena(q), sizeof(*opts));
  char *name =
      core_arena_strndup(&http_req_arena(q)->a, r->model, r->model_len);
  if (!opts || !name)
    return http_queue_error(
        q, inferd_status_new(INFERD_NO_MEMORY, "out of memory"));
  memset(opts, 0, sizeof(*opts));
  bool dependents = false;
  if (params && (st = repo_params(q, load, params, opts, &dependents)))
    return http_queue_error(q, st);
  return http_req_start_repo_op(q, name, r->model_len, load ? opts : NULL,
                                dependents);
}

static json_t *log_settings_json(void) {
  inferd_log_settings_t s;
  inferd_log_get(&s);
  json_t *j = json_object();
  json_object_set_new(j, "log_file", json_string(""));
  json_object_set_new(j, "log_info", json_boolean(s.log_info));
  json_object_set_new(j, "log_warning", json_boolean(s.log_warning));
  json_object_set_new(j, "log_error", json_boolean(s.log_error));
  json_object_set_new(j, "log_verbose_level", json_integer(s.verbose_level));
  json_object_set_new(j, "log_format",
                      json_string(s.format == INFERD_LOG_FORMAT_ISO8601
                                      ? "ISO8601"
                                      : "default"));
  return j;
}

static enum MHD_Result logging(http_req_t *q) {
  if (!http_req_route(q)->is_post)
    return http_queue_json(q, 200, log_settings_json());
  json_t *body;
  inferd_status_t *st = http_req_body_json(q, &body);
  if (st)
    return http_queue_error(q, st);
  inferd_log_settings_t s;
  inferd_log_get(&s);
  const char *key;
  json_t *v;
  if (body) {
    json_object_foreach(body, key, v) {
      bool *flag = strcmp(key, "log_info") == 0      ? &s.log_info
                   : strcmp(key, "log_warning") == 0 ? &s.log_warning
                   : strcmp(key, "log_error") == 0   ? &s.log_error
                                                     : NULL;
      if (flag) {
        if (!json_is_boolean(v))
          return http_queue_error(q, inferd_status_new(INFERD_INVALID_ARG,
                                                       "logging setting "
                                                       "\"%s\" must be a "
                                                       "boolean",
                                                       key));
        *flag = json_is_true(v);
      } else if (strcmp(key, "log_verbose_level") == 0) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > INT32_MAX)
          return http_queue_error(q, inferd_status_new(INFERD_INVALID_ARG,
                                                       "logging setting "
                                                       "\"log_verbose_level\" "
                                                       "must be a "
                                                       "non-negative "
                                                       "integer"));
        s.verbose_level = (int32_t)json_integer_value(v);
      } else if (strcmp(key, "log_format") == 0) {
        const char *f = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(f, "default") == 0)
          s.format = INFERD_LOG_FORMAT_DEFAULT;
        else if (strcmp(f, "ISO8601") == 0)
          s.format = INFERD_LOG_FORMAT_ISO8601;
        else
          return http_queue_error(q, inferd_status_new(INFERD_INVALID_ARG,
                                                       "logging setting "
                                                       "\"log_format\" must "
                                                       "be \"default\" or "
                                                       "\"ISO8601\""));
      } else if (strcmp(key, "log_file") == 0) {
        if (!json_is_null(v))
          return http_queue_error(q, inferd_status_new(INFERD_UNSUPPORTED,
                                                       "changing \"log_file\" "
                                                       "is not supported"));
      } else {
        return http_queue_error(q, inferd_status_new(INFERD_INVALID_ARG,
                                                     "unknown logging setting "
                                                     "\"%s\"",
                                                     key));
      }
    }
  }
  inferd_log_set(&s);
  return http_queue_json(q, 200, log_settings_json());
}

static enum MHD_Result not_yet(http_req_t *q, const char *what) {
  return http_queue_error(
      q,
      inferd_status_new(INFERD_UNSUPPORTED, "%s is not supported yet", what));
}

enum MHD_Result http_endpoint_handle(http_req_t *q) {
  inferd_server_t *s = http_req_server(q);
  switch (http_req_route(q)->id) {
  case HTTP_ROUTE_HEALTH_LIVE:
    return http_queue_empty(q, inferd_server_is_live(s) ? 200 : 400);
  case HTTP_ROUTE_HEALTH_READY:
    return http_queue_empty(q, inferd_server_is_ready(s) ? 200 : 400);
  case HTTP_ROUTE_SERVER_METADATA:
    return server_metadata(q);
  case HTTP_ROUTE_MODEL_METADATA:
    return model_metadata(q);
  case HTTP_ROUTE_MODEL_READY:
    return model_ready(q);
  case HTTP_ROUTE_MODEL_CONFIG:
    return model_config(q);
  case HTTP_ROUTE_MODEL_STATS:
    return model_stats(q);
  case HTTP_ROUTE_REPO_INDEX:
    return repo_index(q);
  case HTTP_ROUTE_REPO_LOAD:
    return repo_load_unload(q, true);
  case HTTP_ROUTE_REPO_UNLOAD:
    return repo_load_unload(q, false);
  case HTTP_ROUTE_LOGGING:
    return logging(q);
  case HTTP_ROUTE_SHM:
    return http_shm_handle(q);
  case HTTP_ROUTE_TRACE:
    return not_yet(q, "the trace extension");
  case HTTP_ROUTE_GENERATE:
    return not_yet(q, "the generate extension");
  case HTTP_ROUTE_DASHBOARD:
    return http_dashboard_handle(q);
  default:
    return http_queue_error(q, inferd_status_new(INFERD_INTERNAL,
                                                 "unhandled route %d",
                                                 (int)http_req_route(q)->id));
  }
}

enum MHD_Result http_endpoint_finish(http_req_t *q, inferd_status_t **result) {
  inferd_status_t *st = *result;
  *result = NULL;
  if (st)
    return http_queue_error(q, st);
  return http_queue_empty(q, 200);
}
