/*
 * onnx_graph.c: ONNX ModelProto/TensorProto reading straight from the
 * protobuf wire format (varints, length-delimited fields), the Identity
 * rewrite OpenCV DNN needs, and config completion from the graph.
 *
 * Field numbers are those of onnx.proto (ModelProto.graph = 7, GraphProto
 * node = 1, initializer = 5, input = 11, output = 12, ...). Every read is
 * bounds-checked: a truncated or malformed file gives an error, never a read
 * past the buffer.
 */
#include "onnx_graph.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* inferd_datatype_t values (include/inferd/types.h) */
enum {
  DT_BOOL = 1,
  DT_U8 = 2,
  DT_U16 = 3,
  DT_U32 = 4,
  DT_U64 = 5,
  DT_I8 = 6,
  DT_I16 = 7,
  DT_I32 = 8,
  DT_I64 = 9,
  DT_F16 = 10,
  DT_F32 = 11,
  DT_F64 = 12,
  DT_BYTES = 13,
  DT_BF16 = 14
};

static void set_err(char *err, size_t size, const char *fmt, ...) {
  if (!err || !size)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, size, fmt, ap);
  va_end(ap);
}

int32_t onnx_to_inferd_type(int32_t t) {
  switch (t) {
  case 1:
    return DT_F32;
  case 2:
    return DT_U8;
  case 3:
    return DT_I8;
  case 4:
    return DT_U16;
  case 5:
    return DT_I16;
  case 6:
    return DT_I32;
  case 7:
    return DT_I64;
  case 8:
    return DT_BYTES;
  case 9:
    return DT_BOOL;
  case 10:
    return DT_F16;
  case 11:
    return DT_F64;
  case 12:
    return DT_U32;
  case 13:
    return DT_U64;
  case 16:
    return DT_BF16;
  default:
    return 0;
  }
}

static size_t dt_size(int32_t dt) {
  switch (dt) {
  case DT_BOOL:
  case DT_U8:
  case DT_I8:
    return 1;
  case DT_U16:
  case DT_I16:
  case DT_F16:
  case DT_BF16:
    return 2;
  case DT_U32:
  case DT_I32:
  case DT_F32:
    return 4;
  case DT_U64:
  case DT_I64:
  case DT_F64:
    return 8;
  default:
    return 0;
  }
}

/* ---- wire format reader ---- */

typedef struct pb {
  const uint8_t *p, *end;
} pb_t;

static bool pb_varint(pb_t *c, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (c->p >= c->end)
      return false;
    uint8_t b = *c->p++;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return true;
    }
  }
  return false;
}

/* Reads a key; *wt the wire type. */
static bool pb_key(pb_t *c, uint32_t *field, uint32_t *wt) {
  uint64_t k;
  if (!pb_varint(c, &k) || (k >> 3) == 0 || (k >> 3) > UINT32_MAX)
    return false;
  *field = (uint32_t)(k >> 3);
  *wt = (uint32_t)(k & 7);
  return true;
}

/* Length-delimited payload as a sub-reader. */
static bool pb_bytes(pb_t *c, pb_t *sub) {
  uint64_t n;
  if (!pb_varint(c, &n) || n > (uint64_t)(c->end - c->p))
    return false;
  sub->p = c->p;
  sub->end = c->p + n;
  c->p += n;
  return true;
}

static bool pb_skip(pb_t *c, uint32_t wt) {
  uint64_t v;
  pb_t sub;
  switch (wt) {
  case 0:
    return pb_varint(c, &v);
  case 1:
    if (c->end - c->p < 8)
      return false;
    c->p += 8;
    return true;
  case 2:
    return pb_bytes(c, &sub);
  case 5:
    if (c->end - c->p < 4)
      return false;
    c->p += 4;
    return true;
  default:
    return false; /* groups (3, 4) are not used by ONNX */
  }
}

static char *pb_strdup(const pb_t *s) {
  size_t n = (size_t)(s->end - s->p);
  char *r = malloc(n + 1);
  if (r) {
    memcpy(r, s->p, n);
    r[n] = '\0';
  }
  return r;
}

static bool pb_eq(const pb_t *s, const char *str) {
  size_t n = strlen(str);
  return (size_t)(s->end - s->p) == n && memcmp(s->p, str, n) == 0;
}

/* ---- graph reading ---- */

#define BAD(what)                                                              \
  do {                                                                         \
    set_err(err, err_size, "malformed ONNX file: %s", what);                   \
    goto fail;                                                                 \
  } while (0)

static bool read_shape(pb_t s, onnx_value_t *v, char *err, size_t err_size) {
  uint32_t f, wt;
  v->has_shape = true;
  while (s.p < s.end) {
    if (!pb_key(&s, &f, &wt))
      BAD("bad key in TensorShapeProto");
    if (f == 1 && wt == 2) {
      pb_t dim;
      if (!pb_bytes(&s, &dim))
        BAD("bad dim");
      if (v->n_dims >= ONNX_MAX_DIMS) {
        set_err(err, err_size, "value \"%s\": more than %d dims", v->name,
                ONNX_MAX_DIMS);
        return false;
      }
      int64_t d = -1;
      while (dim.p < dim.end) {
        uint32_t df, dwt;
        uint64_t x;
        if (!pb_key(&dim, &df, &dwt))
          BAD("bad dim key");
        if (df == 1 && dwt == 0) {
          if (!pb_varint(&dim, &x))
            BAD("bad dim_value");
          d = (int64_t)x;
          if (d < 0)
            d = -1;
        } else if (!pb_skip(&dim, dwt))
          BAD("bad dim field");
      }
      v->dims[v->n_dims++] = d;
    } else if (!pb_skip(&s, wt))
      BAD("bad TensorShapeProto field");
  }
  return true;
fail:
  return false;
}

static bool read_value(pb_t s, onnx_value_t *v, char *err, size_t err_size) {
  uint32_t f, wt;
  while (s.p < s.end) {
    if (!pb_key(&s, &f, &wt))
      BAD("bad key in ValueInfoProto");
    pb_t sub;
    if (f == 1 && wt == 2) {
      if (!pb_bytes(&s, &sub))
        BAD("bad value name");
      free(v->name);
      v->name = pb_strdup(&sub);
      if (!v->name)
        BAD("out of memory");
    } else if (f == 2 && wt == 2) { /* TypeProto */
      pb_t type;
      if (!pb_bytes(&s, &type))
        BAD("bad TypeProto");
      while (type.p < type.end) {
        uint32_t tf, twt;
        if (!pb_key(&type, &tf, &twt))
          BAD("bad TypeProto key");
        if (tf == 1 && twt == 2) { /* tensor_type */
          pb_t tt;
          if (!pb_bytes(&type, &tt))
            BAD("bad tensor_type");
          v->is_tensor = true;
          while (tt.p < tt.end) {
            uint32_t xf, xwt;
            uint64_t x;
            if (!pb_key(&tt, &xf, &xwt))
              BAD("bad tensor_type key");
            if (xf == 1 && xwt == 0) {
              if (!pb_varint(&tt, &x))
                BAD("bad elem_type");
              v->onnx_type = (int32_t)x;
              v->dt = onnx_to_inferd_type(v->onnx_type);
            } else if (xf == 2 && xwt == 2) {
              pb_t shape;
              if (!pb_bytes(&tt, &shape))
                BAD("bad shape");
              if (!read_shape(shape, v, err, err_size))
                return false;
            } else if (!pb_skip(&tt, xwt))
              BAD("bad tensor_type field");
          }
        } else if (!pb_skip(&type, twt))
          BAD("bad TypeProto field");
      }
    } else if (!pb_skip(&s, wt))
      BAD("bad ValueInfoProto field");
  }
  return true;
fail:
  return false;
}

/* Growable list of names (initializers). */
typedef struct names {
  pb_t *v;
  size_t n, cap;
} names_t;

static bool names_add(names_t *l, pb_t s) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    pb_t *nv = realloc(l->v, cap * sizeof(*nv));
    if (!nv)
      return false;
    l->v = nv;
    l->cap = cap;
  }
  l->v[l->n++] = s;
  return true;
}

static bool names_has(const names_t *l, const pb_t *s) {
  size_t n = (size_t)(s->end - s->p);
  for (size_t i = 0; i < l->n; i++)
    if ((size_t)(l->v[i].end - l->v[i].p) == n &&
        memcmp(l->v[i].p, s->p, n) == 0)
      return true;
  return false;
}

/* Finds the graph (ModelProto field 7) and the default opset. */
static bool find_graph(const void *buf, size_t len, pb_t *graph, int64_t *opset,
                       char *err, size_t err_size) {
  pb_t c = {buf, (const uint8_t *)buf + len};
  bool found = false;
  *opset = 0;
  while (c.p < c.end) {
    uint32_t f, wt;
    if (!pb_key(&c, &f, &wt))
      BAD("bad key in ModelProto (is this an ONNX file?)");
    if (f == 7 && wt == 2) {
      if (!pb_bytes(&c, graph))
        BAD("truncated graph");
      found = true;
    } else if (f == 8 && wt == 2) { /* opset_import */
      pb_t os;
      if (!pb_bytes(&c, &os))
        BAD("bad opset_import");
      bool default_domain = true;
      int64_t version = 0;
      while (os.p < os.end) {
        uint32_t of, owt;
        pb_t sub;
        uint64_t x;
        if (!pb_key(&os, &of, &owt))
          BAD("bad opset key");
        if (of == 1 && owt == 2) {
          if (!pb_bytes(&os, &sub))
            BAD("bad opset domain");
          default_domain = sub.p == sub.end || pb_eq(&sub, "ai.onnx");
        } else if (of == 2 && owt == 0) {
          if (!pb_varint(&os, &x))
            BAD("bad opset version");
          version = (int64_t)x;
        } else if (!pb_skip(&os, owt))
          BAD("bad opset field");
      }
      if (default_domain)
        *opset = version;
    } else if (!pb_skip(&c, wt))
      BAD("bad ModelProto field");
  }
  if (!found)
    BAD("no graph in the ModelProto");
  return true;
fail:
  return false;
}

static bool add_value(onnx_value_t **arr, uint32_t *n, pb_t s, char *err,
                      size_t err_size) {
  onnx_value_t *nv = realloc(*arr, (*n + 1) * sizeof(**arr));
  if (!nv) {
    set_err(err, err_size, "out of memory");
    return false;
  }
  *arr = nv;
  memset(&nv[*n], 0, sizeof(nv[*n]));
  (*n)++;
  return read_value(s, &nv[*n - 1], err, err_size);
}

bool onnx_graph_read(const void *buf, size_t len, onnx_graph_info_t **out,
                     char *err, size_t err_size) {
  *out = NULL;
  onnx_graph_info_t *g = calloc(1, sizeof(*g));
  names_t inits = {0};
  pb_t graph;
  if (!g) {
    set_err(err, err_size, "out of memory");
    return false;
  }
  if (!find_graph(buf, len, &graph, &g->opset, err, err_size))
    goto fail;
  /* pass 1: initializer names; pass 2: inputs, outputs, nodes */
  for (int pass = 0; pass < 2; pass++) {
    pb_t c = graph;
    while (c.p < c.end) {
      uint32_t f, wt;
      pb_t sub;
      if (!pb_key(&c, &f, &wt))
        BAD("bad key in GraphProto");
      if (wt != 2) {
        if (!pb_skip(&c, wt))
          BAD("bad GraphProto field");
        continue;
      }
      if (!pb_bytes(&c, &sub))
        BAD("truncated GraphProto field");
      if (pass == 0 && f == 5) { /* initializer: its name is field 8 */
        while (sub.p < sub.end) {
          uint32_t tf, twt;
          pb_t nm;
          if (!pb_key(&sub, &tf, &twt))
            BAD("bad initializer");
          if (tf == 8 && twt == 2) {
            if (!pb_bytes(&sub, &nm) || !names_add(&inits, nm))
              BAD("bad initializer name");
          } else if (!pb_skip(&sub, twt))
            BAD("bad initializer field");
        }
      } else if (pass == 1 && f == 11) {
        onnx_value_t probe = {0};
        if (!read_value(sub, &probe, err, err_size)) {
          free(probe.name);
          goto fail;
        }
        pb_t nm = {(const uint8_t *)probe.name,
                   (const uint8_t *)probe.name +
                       (probe.name ? strlen(probe.name) : 0)};
        bool is_init = probe.name && names_has(&inits, &nm);
        free(probe.name);
        if (!is_init &&
            !add_value(&g->inputs, &g->n_inputs, sub, err, err_size))
          goto fail;
      } else if (pass == 1 && f == 12) {
        if (!add_value(&g->outputs, &g->n_outputs, sub, err, err_size))
          goto fail;
      } else if (pass == 1 && f == 1) { /* NodeProto */
        pb_t op = {0}, domain = {0}, first_in = {0};
        bool have_in = false;
        while (sub.p < sub.end) {
          uint32_t nf, nwt;
          pb_t s2;
          if (!pb_key(&sub, &nf, &nwt))
            BAD("bad NodeProto key");
          if (nwt == 2 && (nf == 4 || nf == 7 || nf == 1)) {
            if (!pb_bytes(&sub, &s2))
              BAD("bad NodeProto field");
            if (nf == 4)
              op = s2;
            else if (nf == 7)
              domain = s2;
            else if (!have_in) {
              first_in = s2;
              have_in = true;
            }
          } else if (!pb_skip(&sub, nwt))
            BAD("bad NodeProto field");
        }
        char **nt = realloc(g->op_types, (g->n_nodes + 1) * sizeof(char *));
        if (!nt)
          BAD("out of memory");
        g->op_types = nt;
        size_t ol = (size_t)(op.end - op.p),
               dl = (size_t)(domain.end - domain.p);
        bool dflt = dl == 0 || pb_eq(&domain, "ai.onnx");
        char *name = malloc(ol + dl + 2);
        if (!name)
          BAD("out of memory");
        size_t k = 0;
        if (!dflt) {
          memcpy(name, domain.p, dl);
          k = dl;
          name[k++] = ':';
        }
        if (ol)
          memcpy(name + k, op.p, ol);
        name[k + ol] = '\0';
        g->op_types[g->n_nodes++] = name;
        if (dflt && pb_eq(&op, "Identity") && have_in &&
            names_has(&inits, &first_in))
          g->n_identity_on_initializer++;
      }
    }
  }
  free(inits.v);
  *out = g;
  return true;
fail:
  free(inits.v);
  onnx_graph_free(g);
  return false;
}

void onnx_graph_free(onnx_graph_info_t *g) {
  if (!g)
    return;
  for (uint32_t i = 0; i < g->n_inputs; i++)
    free(g->inputs[i].name);
  for (uint32_t i = 0; i < g->n_outputs; i++)
    free(g->outputs[i].name);
  for (uint32_t i = 0; i < g->n_nodes; i++)
    free(g->op_types[i]);
  free(g->inputs);
  free(g->outputs);
  free(g->op_types);
  free(g);
}

/* ---- writer for the Identity rewrite ---- */

typedef struct wbuf {
  uint8_t *p;
  size_t n, cap;
  bool oom;
} wbuf_t;

static void w_put(wbuf_t *w, const void *d, size_t n) {
  if (w->oom)
    return;
  if (w->n + n > w->cap) {
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->n + n)
      cap *= 2;
    uint8_t *np = realloc(w->p, cap);
    if (!np) {
      w->oom = true;
      return;
    }
    w->p = np;
    w->cap = cap;
  }
  if (n)
    memcpy(w->p + w->n, d, n);
  w->n += n;
}

static void w_varint(wbuf_t *w, uint64_t v) {
  uint8_t b[10];
  size_t n = 0;
  do {
    b[n] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v)
      b[n] |= 0x80;
    n++;
  } while (v);
  w_put(w, b, n);
}

static void w_len_field(wbuf_t *w, uint32_t field, const void *d, size_t n) {
  w_varint(w, ((uint64_t)field << 3) | 2);
  w_varint(w, n);
  w_put(w, d, n);
}

/* Identity node: its input and output, when it is a plain one. */
static bool identity_io(pb_t node, pb_t *in, pb_t *out) {
  pb_t op = {0}, domain = {0};
  int n_in = 0, n_out = 0;
  while (node.p < node.end) {
    uint32_t f, wt;
    pb_t s;
    if (!pb_key(&node, &f, &wt))
      return false;
    if (wt == 2 && (f == 1 || f == 2 || f == 4 || f == 7)) {
      if (!pb_bytes(&node, &s))
        return false;
      if (f == 1 && n_in++ == 0)
        *in = s;
      else if (f == 2 && n_out++ == 0)
        *out = s;
      else if (f == 4)
        op = s;
      else if (f == 7)
        domain = s;
    } else if (!pb_skip(&node, wt))
      return false;
  }
  return n_in == 1 && n_out == 1 && pb_eq(&op, "Identity") &&
         (domain.p == domain.end || pb_eq(&domain, "ai.onnx"));
}

static bool pb_same(const pb_t *a, const pb_t *b) {
  return a->end - a->p == b->end - b->p &&
         memcmp(a->p, b->p, (size_t)(a->end - a->p)) == 0;
}

bool onnx_strip_identity(const void *buf, size_t len, void **out,
                         size_t *out_len, uint32_t *n_removed, char *err,
                         size_t err_size) {
  *out = NULL;
  *out_len = 0;
  *n_removed = 0;
  pb_t graph;
  int64_t opset;
  names_t inits = {0}, gouts = {0}, from = {0}, to = {0};
  wbuf_t g = {0}, m = {0};
  if (!find_graph(buf, len, &graph, &opset, err, err_size))
    return false;
  /* collect initializer names, graph output names, removable Identities */
  for (int pass = 0; pass < 2; pass++) {
    pb_t c = graph;
    while (c.p < c.end) {
      uint32_t f, wt;
      pb_t sub;
      if (!pb_key(&c, &f, &wt))
        BAD("bad key in GraphProto");
      if (wt != 2) {
        if (!pb_skip(&c, wt))
          BAD("bad GraphProto field");
        continue;
      }
      if (!pb_bytes(&c, &sub))
        BAD("truncated GraphProto field");
      if (pass == 0 && (f == 5 || f == 12)) {
        uint32_t name_field = f == 5 ? 8 : 1;
        while (sub.p < sub.end) {
          uint32_t tf, twt;
          pb_t nm;
          if (!pb_key(&sub, &tf, &twt))
            BAD("bad initializer/output");
          if (tf == name_field && twt == 2) {
            if (!pb_bytes(&sub, &nm) ||
                !names_add(f == 5 ? &inits : &gouts, nm))
              BAD("bad name");
          } else if (!pb_skip(&sub, twt))
            BAD("bad initializer/output field");
        }
      } else if (pass == 1 && f == 1) {
        pb_t in, o;
        if (identity_io(sub, &in, &o) && names_has(&inits, &in) &&
            !names_has(&gouts, &o)) {
          if (!names_add(&from, o) || !names_add(&to, in))
            BAD("out of memory");
        }
      }
    }
  }
  /* rewrite the graph: drop those nodes, rename their consumers' inputs */
  pb_t c = graph;
  while (c.p < c.end) {
    const uint8_t *field_start = c.p;
    uint32_t f, wt;
    pb_t sub;
    if (!pb_key(&c, &f, &wt))
      BAD("bad key in GraphProto");
    if (!(f == 1 && wt == 2)) {
      if (!pb_skip(&c, wt))
        BAD("bad GraphProto field");
      w_put(&g, field_start, (size_t)(c.p - field_start));
      continue;
    }
    if (!pb_bytes(&c, &sub))
      BAD("truncated node");
    pb_t in, o;
    if (from.n && identity_io(sub, &in, &o) && names_has(&from, &o)) {
      (*n_removed)++;
      continue;
    }
    wbuf_t node = {0};
    while (sub.p < sub.end) {
      const uint8_t *fs = sub.p;
      uint32_t nf, nwt;
      if (!pb_key(&sub, &nf, &nwt)) {
        free(node.p);
        BAD("bad node key");
      }
      if (nf == 1 && nwt == 2) {
        pb_t nm;
        if (!pb_bytes(&sub, &nm)) {
          free(node.p);
          BAD("bad node input");
        }
        for (size_t k = 0; k < from.n; k++)
          if (pb_same(&from.v[k], &nm)) {
            nm = to.v[k];
            break;
          }
        w_len_field(&node, 1, nm.p, (size_t)(nm.end - nm.p));
      } else {
        if (!pb_skip(&sub, nwt)) {
          free(node.p);
          BAD("bad node field");
        }
        w_put(&node, fs, (size_t)(sub.p - fs));
      }
    }
    if (node.oom)
      g.oom = true;
    w_len_field(&g, 1, node.p, node.n);
    free(node.p);
  }
  /* copy the ModelProto, replacing field 7 */
  pb_t mc = {buf, (const uint8_t *)buf + len};
  while (mc.p < mc.end) {
    const uint8_t *fs = mc.p;
    uint32_t f, wt;
    if (!pb_key(&mc, &f, &wt) || !pb_skip(&mc, wt))
      BAD("bad ModelProto field");
    if (f == 7 && wt == 2)
      w_len_field(&m, 7, g.p, g.n);
    else
      w_put(&m, fs, (size_t)(mc.p - fs));
  }
  if (g.oom || m.oom)
    BAD("out of memory");
  free(g.p);
  free(inits.v);
  free(gouts.v);
  free(from.v);
  free(to.v);
  *out = m.p;
  *out_len = m.n;
  return true;
fail:
  free(g.p);
  free(m.p);
  free(inits.v);
  free(gouts.v);
  free(from.v);
  free(to.v);
  *n_removed = 0;
  return false;
}

/* ---- config completion ---- */

static const char *triton_type(int32_t dt) {
  static const char *const names[] = {
      "TYPE_INVALID", "TYPE_BOOL", "TYPE_UINT8", "TYPE_UINT16", "TYPE_UINT32",
      "TYPE_UINT64",  "TYPE_INT8", "TYPE_INT16", "TYPE_INT32",  "TYPE_INT64",
      "TYPE_FP16",    "TYPE_FP32", "TYPE_FP64",  "TYPE_STRING", "TYPE_BF16"};
  return dt >= 0 && dt <= 14 ? names[dt] : "TYPE_INVALID";
}

static void w_str(wbuf_t *w, const char *s) { w_put(w, s, strlen(s)); }

static void w_json_string(wbuf_t *w, const char *s) {
  w_put(w, "\"", 1);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      w_put(w, "\\", 1);
      w_put(w, s, 1);
    } else if (ch < 0x20) {
      char esc[8];
      snprintf(esc, sizeof(esc), "\\u%04x", ch);
      w_str(w, esc);
    } else
      w_put(w, s, 1);
  }
  w_put(w, "\"", 1);
}

static bool w_values(wbuf_t *w, const onnx_value_t *v, uint32_t n,
                     bool batching, char *err, size_t err_size) {
  for (uint32_t i = 0; i < n; i++) {
    if (!v[i].is_tensor || v[i].dt == 0) {
      set_err(err, err_size, "value \"%s\": %s cannot be served (ONNX type %d)",
              v[i].name ? v[i].name : "",
              v[i].is_tensor ? "its element type" : "a non-tensor value",
              (int)v[i].onnx_type);
      return false;
    }
    if (!v[i].has_shape) {
      set_err(err, err_size,
              "value \"%s\": the graph gives no shape; write the dims in "
              "config.pbtxt",
              v[i].name ? v[i].name : "");
      return false;
    }
    w_str(w, i ? ",{\"name\":" : "{\"name\":");
    w_json_string(w, v[i].name ? v[i].name : "");
    w_str(w, ",\"data_type\":\"");
    w_str(w, triton_type(v[i].dt));
    w_str(w, "\",\"dims\":[");
    uint32_t first = batching ? 1 : 0;
    for (uint32_t d = first; d < v[i].n_dims; d++) {
      char num[32];
      snprintf(num, sizeof(num), "%s%" PRId64, d > first ? "," : "",
               v[i].dims[d]);
      w_str(w, num);
    }
    if (v[i].n_dims == first) /* scalar: Triton writes dims [1] */
      w_str(w, "1");
    w_str(w, "]}");
  }
  return true;
}

bool onnx_autocomplete_json(const onnx_graph_info_t *g,
                            int32_t default_max_batch, char **json, char *err,
                            size_t err_size) {
  *json = NULL;
  bool batching = default_max_batch > 0 && g->n_inputs > 0;
  for (uint32_t i = 0; i < g->n_inputs && batching; i++)
    batching = g->inputs[i].has_shape && g->inputs[i].n_dims > 0 &&
               g->inputs[i].dims[0] < 0;
  for (uint32_t i = 0; i < g->n_outputs && batching; i++)
    batching = g->outputs[i].has_shape && g->outputs[i].n_dims > 0 &&
               g->outputs[i].dims[0] < 0;
  wbuf_t w = {0};
  char head[64];
  snprintf(head, sizeof(head), "{\"max_batch_size\":%d,\"input\":[",
           batching ? (int)default_max_batch : 0);
  w_str(&w, head);
  if (!w_values(&w, g->inputs, g->n_inputs, batching, err, err_size))
    goto fail;
  w_str(&w, "],\"output\":[");
  if (!w_values(&w, g->outputs, g->n_outputs, batching, err, err_size))
    goto fail;
  w_str(&w, "]}");
  w_put(&w, "", 1);
  if (w.oom) {
    set_err(err, err_size, "out of memory");
    goto fail;
  }
  *json = (char *)w.p;
  return true;
fail:
  free(w.p);
  return false;
}

/* ---- TensorProto ---- */

/* Appends packed or unpacked numeric values of a repeated field. */
static bool read_repeated(pb_t *c, uint32_t wt, int kind, wbuf_t *w) {
  /* kind: 0 varint→int64, 1 fixed32 (float), 2 fixed64 (double),
   * 3 varint→uint64 */
  pb_t s;
  bool packed = wt == 2;
  if (packed) {
    if (!pb_bytes(c, &s))
      return false;
  } else {
    s = *c;
  }
  do {
    if (kind == 1) {
      if (s.end - s.p < 4)
        return false;
      w_put(w, s.p, 4);
      s.p += 4;
    } else if (kind == 2) {
      if (s.end - s.p < 8)
        return false;
      w_put(w, s.p, 8);
      s.p += 8;
    } else {
      uint64_t v;
      if (!pb_varint(&s, &v))
        return false;
      w_put(w, &v, 8);
    }
  } while (packed && s.p < s.end);
  if (!packed)
    *c = s;
  return true;
}

bool onnx_tensor_read(const void *buf, size_t len, onnx_tensor_t *t, char *err,
                      size_t err_size) {
  memset(t, 0, sizeof(*t));
  pb_t c = {buf, (const uint8_t *)buf + len};
  int32_t onnx_type = 0;
  pb_t raw = {0};
  bool have_raw = false;
  wbuf_t vals = {0}; /* typed fields, widened: 4 (float) or 8 bytes each */
  int vkind = -1;
  while (c.p < c.end) {
    uint32_t f, wt;
    uint64_t x;
    if (!pb_key(&c, &f, &wt))
      BAD("bad key in TensorProto");
    if (f == 1) { /* dims */
      wbuf_t d = {0};
      if (!read_repeated(&c, wt, 0, &d) || d.oom) {
        free(d.p);
        BAD("bad dims");
      }
      for (size_t k = 0; k < d.n / 8; k++) {
        if (t->n_dims >= ONNX_MAX_DIMS) {
          free(d.p);
          BAD("too many dims");
        }
        memcpy(&t->dims[t->n_dims++], d.p + k * 8, 8);
      }
      free(d.p);
    } else if (f == 2 && wt == 0) {
      if (!pb_varint(&c, &x))
        BAD("bad data_type");
      onnx_type = (int32_t)x;
    } else if (f == 8 && wt == 2) {
      pb_t s;
      if (!pb_bytes(&c, &s))
        BAD("bad name");
      free(t->name);
      t->name = pb_strdup(&s);
    } else if (f == 9 && wt == 2) {
      if (!pb_bytes(&c, &raw))
        BAD("bad raw_data");
      have_raw = true;
    } else if (f == 4 || f == 5 || f == 7 || f == 10 || f == 11) {
      vkind = f == 4 ? 1 : f == 10 ? 2 : f == 11 ? 3 : 0;
      if (!read_repeated(&c, wt, vkind, &vals))
        BAD("bad typed data");
    } else if (f == 6) {
      free(vals.p);
      set_err(err, err_size, "string tensors are not supported");
      goto fail;
    } else if (f == 14 && wt == 0) {
      if (!pb_varint(&c, &x))
        BAD("bad data_location");
      if (x == 1) {
        free(vals.p);
        set_err(err, err_size, "external tensor data is not supported");
        goto fail;
      }
    } else if (!pb_skip(&c, wt))
      BAD("bad TensorProto field");
  }
  t->dt = onnx_to_inferd_type(onnx_type);
  size_t el = dt_size(t->dt);
  if (!el) {
    free(vals.p);
    set_err(err, err_size, "tensor type %d is not supported", (int)onnx_type);
    goto fail;
  }
  uint64_t count = 1;
  for (uint32_t i = 0; i < t->n_dims; i++) {
    if (t->dims[i] < 0 ||
        (t->dims[i] && count > UINT64_MAX / 16 / (uint64_t)t->dims[i])) {
      free(vals.p);
      BAD("bad dims");
    }
    count *= (uint64_t)t->dims[i];
  }
  t->byte_size = count * el;
  t->data = malloc(t->byte_size ? (size_t)t->byte_size : 1);
  if (!t->data || vals.oom) {
    free(vals.p);
    BAD("out of memory");
  }
  if (have_raw) {
    if ((uint64_t)(raw.end - raw.p) != t->byte_size) {
      free(vals.p);
      BAD("raw_data size does not match dims");
    }
    memcpy(t->data, raw.p, t->byte_size);
  } else {
    size_t wsz = vkind == 1 ? 4 : 8;
    if (count && (vkind < 0 || vals.n / wsz != count)) {
      free(vals.p);
      BAD("typed data count does not match dims");
    }
    for (uint64_t i = 0; i < count; i++) {
      uint8_t *dst = (uint8_t *)t->data + i * el;
      const uint8_t *src = vals.p + i * wsz;
      /* floats and doubles are stored as such; varint fields were widened
       * to 8 bytes and int32_data also carries narrower integers, bool and
       * the bits of fp16/bf16: the low bytes (little-endian) are the value */
      memcpy(dst, src, el);
    }
  }
  free(vals.p);
  return true;
fail:
  onnx_tensor_deinit(t);
  return false;
}

void onnx_tensor_deinit(onnx_tensor_t *t) {
  free(t->name);
  free(t->data);
  t->name = NULL;
  t->data = NULL;
}

bool onnx_read_file(const char *path, void **buf, size_t *len, char *err,
                    size_t err_size) {
  *buf = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    set_err(err, err_size, "cannot open \"%s\": %s", path, strerror(errno));
    return false;
  }
  if (fseek(f, 0, SEEK_END) != 0) {
    set_err(err, err_size, "cannot read \"%s\": %s", path, strerror(errno));
    fclose(f);
    return false;
  }
  long n = ftell(f);
  rewind(f);
  if (n < 0) {
    set_err(err, err_size, "cannot read \"%s\"", path);
    fclose(f);
    return false;
  }
  void *p = malloc(n ? (size_t)n : 1);
  if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
    set_err(err, err_size, "cannot read \"%s\"%s", path,
            p ? "" : ": out of memory");
    free(p);
    fclose(f);
    return false;
  }
  fclose(f);
  *buf = p;
  *len = (size_t)n;
  return true;
}
