/*
 * grpc_wire.c: the two protobuf paths where copying would cost: decoding a
 * ModelInferRequest without copying raw_input_contents (their bytes stay in
 * the received slices and are handed to inferd as input buffer pieces) and
 * encoding a ModelInferResponse whose large raw_output_contents are slices
 * that point at the inferd response.
 *
 * Decoding walks the top-level fields of the message across segment
 * boundaries: field 7 (raw_input_contents) is recorded as pieces, every other
 * field is copied verbatim into a small header buffer that protobuf-c then
 * unpacks. Encoding relies on protobuf allowing fields in any order:
 * raw_output_contents (field 6) entries are appended after the packed rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/grpc_internal.h"

/* outputs up to this size are copied into the header slice; larger ones are
 * sent straight from the response buffer */
#define GRPC_FE_COPY_LIMIT 4096

/* ---- segmented reader ------------------------------------------------------
 */

typedef struct seg_reader {
  const grpc_fe_piece_t *segs;
  size_t n_segs, seg, off; /* position: segs[seg].p + off */
} seg_reader_t;

static void sr_skip_empty(seg_reader_t *r) {
  while (r->seg < r->n_segs && r->off == r->segs[r->seg].n) {
    r->seg++;
    r->off = 0;
  }
}

static bool sr_eof(seg_reader_t *r) {
  sr_skip_empty(r);
  return r->seg == r->n_segs;
}

static bool sr_byte(seg_reader_t *r, uint8_t *b) {
  sr_skip_empty(r);
  if (r->seg == r->n_segs)
    return false;
  *b = r->segs[r->seg].p[r->off++];
  return true;
}

/* reads a varint, appending its encoded bytes to raw (if non-NULL) */
static bool sr_varint(seg_reader_t *r, uint64_t *v, uint8_t *raw,
                      size_t *raw_len) {
  uint64_t x = 0;
  for (unsigned i = 0; i < 10; i++) {
    uint8_t b;
    if (!sr_byte(r, &b))
      return false;
    if (raw)
      raw[(*raw_len)++] = b;
    x |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *v = x;
      return true;
    }
  }
  return false;
}

typedef struct growbuf {
  uint8_t *p;
  size_t n, cap;
} growbuf_t;

static bool gb_reserve(growbuf_t *g, size_t more) {
  if (g->n + more <= g->cap)
    return true;
  size_t cap = g->cap ? g->cap * 2 : 256;
  while (cap < g->n + more)
    cap *= 2;
  uint8_t *p = realloc(g->p, cap);
  if (!p)
    return false;
  g->p = p;
  g->cap = cap;
  return true;
}

static bool gb_put(growbuf_t *g, const void *d, size_t n) {
  if (!gb_reserve(g, n))
    return false;
  memcpy(g->p + g->n, d, n);
  g->n += n;
  return true;
}

/* consumes n bytes: copies them into g, or (g NULL) records them as pieces */
static int sr_take(seg_reader_t *r, size_t n, growbuf_t *g,
                   grpc_fe_infer_msg_t *m) {
  while (n > 0) {
    sr_skip_empty(r);
    if (r->seg == r->n_segs)
      return 1; /* truncated */
    size_t avail = r->segs[r->seg].n - r->off;
    size_t k = avail < n ? avail : n;
    const uint8_t *p = r->segs[r->seg].p + r->off;
    if (g) {
      if (!gb_put(g, p, k))
        return 2;
    } else {
      if (m->n_pieces == m->cap_pieces) {
        size_t cap = m->cap_pieces ? m->cap_pieces * 2 : 8;
        grpc_fe_piece_t *np = realloc(m->pieces, cap * sizeof(*np));
        if (!np)
          return 2;
        m->pieces = np;
        m->cap_pieces = cap;
      }
      m->pieces[m->n_pieces++] = (grpc_fe_piece_t){p, k};
    }
    r->off += k;
    n -= k;
  }
  return 0;
}

void grpc_fe_infer_msg_deinit(grpc_fe_infer_msg_t *m) {
  if (m->hdr)
    protobuf_c_message_free_unpacked(&m->hdr->base, NULL);
  free(m->pieces);
  free(m->raw);
  memset(m, 0, sizeof(*m));
}

static inferd_status_t *malformed(grpc_fe_infer_msg_t *m, growbuf_t *g,
                                  const char *why) {
  free(g->p);
  grpc_fe_infer_msg_deinit(m);
  return inferd_status_new(INFERD_INVALID_ARG,
                           "malformed ModelInferRequest: %s", why);
}

inferd_status_t *grpc_fe_infer_msg_parse(grpc_fe_infer_msg_t *m,
                                         const grpc_fe_piece_t *segs,
                                         size_t n_segs) {
  memset(m, 0, sizeof(*m));
  seg_reader_t r = {segs, n_segs, 0, 0};
  growbuf_t g = {0};
  while (!sr_eof(&r)) {
    uint8_t raw[24];
    size_t raw_len = 0;
    uint64_t key, len;
    if (!sr_varint(&r, &key, raw, &raw_len))
      return malformed(m, &g, "truncated or invalid field key");
    uint32_t field = (uint32_t)(key >> 3), wt = (uint32_t)(key & 7);
    if (field == 0)
      return malformed(m, &g, "field number 0");
    if (field == 7 && wt == 2) {
      if (!sr_varint(&r, &len, NULL, NULL))
        return malformed(m, &g, "truncated length of raw_input_contents");
      if (m->n_raw == m->cap_raw) {
        size_t cap = m->cap_raw ? m->cap_raw * 2 : 4;
        grpc_fe_raw_t *nr = realloc(m->raw, cap * sizeof(*nr));
        if (!nr)
          return malformed(m, &g, "out of memory");
        m->raw = nr;
        m->cap_raw = cap;
      }
      grpc_fe_raw_t *rw = &m->raw[m->n_raw++];
      rw->first = m->n_pieces;
      rw->byte_size = (size_t)len;
      int rc = sr_take(&r, (size_t)len, NULL, m);
      if (rc)
        return malformed(m, &g,
                         rc == 1 ? "raw_input_contents entry runs past the end"
                                 : "out of memory");
      rw->n_pieces = m->n_pieces - rw->first;
      continue;
    }
    size_t vlen;
    switch (wt) {
    case 0:
      if (!sr_varint(&r, &len, raw, &raw_len))
        return malformed(m, &g, "truncated varint");
      vlen = 0;
      break;
    case 1:
      vlen = 8;
      break;
    case 5:
      vlen = 4;
      break;
    case 2:
      if (!sr_varint(&r, &len, raw, &raw_len))
        return malformed(m, &g, "truncated length");
      if (len > SIZE_MAX / 2)
        return malformed(m, &g, "length out of range");
      vlen = (size_t)len;
      break;
    default:
      return malformed(m, &g, "unsupported wire type");
    }
    if (!gb_put(&g, raw, raw_len))
      return malformed(m, &g, "out of memory");
    int rc = sr_take(&r, vlen, &g, NULL);
    if (rc)
      return malformed(m, &g,
                       rc == 1 ? "field runs past the end" : "out of memory");
  }
  m->hdr = (Inference__ModelInferRequest *)protobuf_c_message_unpack(
      &inference__model_infer_request__descriptor, NULL, g.n,
      g.p ? g.p : (const uint8_t *)"");
  free(g.p);
  g.p = NULL;
  if (!m->hdr)
    return malformed(m, &g, "protobuf decoding failed");
  return NULL;
}

/* ---- encoding --------------------------------------------------------------
 */

static size_t put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

static size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

inferd_status_t *grpc_fe_pack(const ProtobufCMessage *msg, grpc_fe_buf_t *b) {
  b->len = protobuf_c_message_get_packed_size(msg);
  b->data = malloc(b->len ? b->len : 1);
  if (!b->data)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  protobuf_c_message_pack(msg, b->data);
  return NULL;
}

/* the response stays alive while any slice points into it */
typedef struct resp_hold {
  atomic_int refs;
  inferd_response_t *resp;
} resp_hold_t;

static void hold_unref(void *p) {
  resp_hold_t *h = p;
  if (atomic_fetch_sub(&h->refs, 1) == 1) {
    inferd_response_free(h->resp);
    free(h);
  }
}

typedef struct param_store {
  Inference__ModelInferResponse__ParametersEntry *entries;
  Inference__ModelInferResponse__ParametersEntry **ptrs;
  Inference__InferParameter *vals;
} param_store_t;

inferd_status_t *grpc_fe_encode_response(inferd_response_t *resp,
                                         const char *id, bool stream,
                                         bool final, grpc_byte_buffer **out) {
  size_t n_out = inferd_response_output_count(resp);
  size_t n_par = inferd_response_param_count(resp) + (stream ? 1 : 0);
  char version[24];
  snprintf(version, sizeof(version), "%lld",
           (long long)inferd_response_model_version(resp));

  /* one block for every array the header message needs */
  size_t sz =
      n_out * (sizeof(Inference__ModelInferResponse__InferOutputTensor) +
               sizeof(void *)) +
      n_par * (sizeof(Inference__ModelInferResponse__ParametersEntry) +
               sizeof(void *) + sizeof(Inference__InferParameter));
  Inference__ModelInferResponse__InferOutputTensor *ot = NULL;
  Inference__ModelInferResponse__InferOutputTensor **otp = NULL;
  Inference__ModelInferResponse__ParametersEntry *pe = NULL, **pep = NULL;
  Inference__InferParameter *pv = NULL;
  char *block = sz ? malloc(sz) : NULL;
  resp_hold_t *hold = malloc(sizeof(*hold));
  grpc_slice *slices = malloc((2 + 2 * n_out) * sizeof(grpc_slice));
  const void **bases = malloc((n_out ? n_out : 1) * sizeof(void *));
  size_t *sizes = malloc((n_out ? n_out : 1) * sizeof(size_t));
  if ((sz && !block) || !hold || !slices || !bases || !sizes) {
    free(block), free(hold), free(slices), free(bases), free(sizes);
    inferd_response_free(resp);
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  }
  char *bp = block;
  ot = (void *)bp, bp += n_out * sizeof(*ot);
  pe = (void *)bp, bp += n_par * sizeof(*pe);
  pv = (void *)bp, bp += n_par * sizeof(*pv);
  otp = (void *)bp, bp += n_out * sizeof(*otp);
  pep = (void *)bp;

  Inference__ModelInferResponse r = INFERENCE__MODEL_INFER_RESPONSE__INIT;
  r.model_name = (char *)inferd_response_model_name(resp);
  r.model_version = version;
  r.id = (char *)(id ? id : "");
  for (size_t i = 0; i < n_out; i++) {
    const char *name;
    inferd_datatype_t dt;
    const int64_t *shape;
    size_t nd;
    inference__model_infer_response__infer_output_tensor__init(&ot[i]);
    inferd_response_output(resp, i, &name, &dt, &shape, &nd, &bases[i],
                           &sizes[i]);
    inferd_memtype_t mt;
    int64_t dev;
    void *placed = NULL;
    inferd_response_output_memory(resp, i, &mt, &dev, &placed);
    if (placed) /* in the client's shared memory: not sent back */
      sizes[i] = 0;
    ot[i].name = (char *)name;
    ot[i].datatype = (char *)inferd_datatype_name(dt);
    ot[i].shape = (int64_t *)shape;
    ot[i].n_shape = nd;
    otp[i] = &ot[i];
  }
  r.outputs = otp;
  r.n_outputs = n_out;
  size_t np = 0;
  for (size_t i = 0; i < inferd_response_param_count(resp); i++) {
    const char *key;
    inferd_param_type_t ty;
    const void *val;
    inferd_response_param(resp, i, &key, &ty, &val);
    inference__model_infer_response__parameters_entry__init(&pe[np]);
    inference__infer_parameter__init(&pv[np]);
    pe[np].key = (char *)key;
    pe[np].value = &pv[np];
    switch (ty) {
    case INFERD_PARAM_STRING:
      pv[np].parameter_choice_case =
          INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_STRING_PARAM;
      pv[np].string_param = (char *)val;
      break;
    case INFERD_PARAM_INT:
      pv[np].parameter_choice_case =
          INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM;
      pv[np].int64_param = *(const int64_t *)val;
      break;
    case INFERD_PARAM_BOOL:
      pv[np].parameter_choice_case =
          INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM;
      pv[np].bool_param = *(const bool *)val;
      break;
    case INFERD_PARAM_DOUBLE:
      pv[np].parameter_choice_case =
          INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_DOUBLE_PARAM;
      pv[np].double_param = *(const double *)val;
      break;
    default:
      continue;
    }
    pep[np] = &pe[np];
    np++;
  }
  if (stream) {
    inference__model_infer_response__parameters_entry__init(&pe[np]);
    inference__infer_parameter__init(&pv[np]);
    pe[np].key = "triton_final_response";
    pe[np].value = &pv[np];
    pv[np].parameter_choice_case =
        INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM;
    pv[np].bool_param = final;
    pep[np] = &pe[np];
    np++;
  }
  r.parameters = pep;
  r.n_parameters = np;

  /* inner size: packed header + the raw_output_contents entries (tag 0x32) */
  size_t hdr_size = protobuf_c_message_get_packed_size(&r.base);
  size_t inner = hdr_size, copied = 0;
  for (size_t i = 0; i < n_out; i++) {
    inner += 1 + varint_size(sizes[i]) + sizes[i];
    if (sizes[i] <= GRPC_FE_COPY_LIMIT)
      copied += sizes[i];
  }
  size_t head_cap = hdr_size + 11 + n_out * 11 + copied;
  grpc_slice head = grpc_slice_malloc(head_cap);
  uint8_t *hp = GRPC_SLICE_START_PTR(head);
  size_t pos = 0, seg_start = 0, n_slices = 0;
  if (stream) {
    hp[pos++] = 0x12; /* ModelStreamInferResponse.infer_response */
    pos += put_varint(hp + pos, inner);
  }
  pos += protobuf_c_message_pack(&r.base, hp + pos);
  atomic_init(&hold->refs, 1);
  hold->resp = resp;
  for (size_t i = 0; i < n_out; i++) {
    hp[pos++] = 0x32; /* ModelInferResponse.raw_output_contents */
    pos += put_varint(hp + pos, sizes[i]);
    if (sizes[i] <= GRPC_FE_COPY_LIMIT) {
      if (sizes[i])
        memcpy(hp + pos, bases[i], sizes[i]);
      pos += sizes[i];
      continue;
    }
    /* close the head bytes so far, then a slice over the output itself */
    slices[n_slices++] = grpc_slice_sub(head, seg_start, pos);
    seg_start = pos;
    atomic_fetch_add(&hold->refs, 1);
    slices[n_slices++] = grpc_slice_new_with_user_data(
        (void *)bases[i], sizes[i], hold_unref, hold);
  }
  if (pos > seg_start || n_slices == 0)
    slices[n_slices++] = grpc_slice_sub(head, seg_start, pos);
  *out = grpc_raw_byte_buffer_create(slices, n_slices);
  for (size_t i = 0; i < n_slices; i++)
    grpc_slice_unref(slices[i]);
  grpc_slice_unref(head);
  hold_unref(hold);
  free(block), free(slices), free(bases), free(sizes);
  return NULL;
}

inferd_status_t *grpc_fe_encode_stream_note(const char *error,
                                            const char *model, int64_t version,
                                            const char *id,
                                            grpc_byte_buffer **out) {
  char vs[24] = "";
  if (version >= 0)
    snprintf(vs, sizeof(vs), "%lld", (long long)version);
  Inference__ModelStreamInferResponse s =
      INFERENCE__MODEL_STREAM_INFER_RESPONSE__INIT;
  Inference__ModelInferResponse r = INFERENCE__MODEL_INFER_RESPONSE__INIT;
  Inference__ModelInferResponse__ParametersEntry pe =
      INFERENCE__MODEL_INFER_RESPONSE__PARAMETERS_ENTRY__INIT;
  Inference__ModelInferResponse__ParametersEntry *pep = &pe;
  Inference__InferParameter pv = INFERENCE__INFER_PARAMETER__INIT;
  r.model_name = (char *)(model ? model : "");
  r.model_version = vs;
  r.id = (char *)(id ? id : "");
  if (error) {
    s.error_message = (char *)error;
  } else {
    pe.key = "triton_final_response";
    pe.value = &pv;
    pv.parameter_choice_case =
        INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM;
    pv.bool_param = 1;
    r.parameters = &pep;
    r.n_parameters = 1;
  }
  s.infer_response = &r;
  size_t n = protobuf_c_message_get_packed_size(&s.base);
  grpc_slice sl = grpc_slice_malloc(n);
  protobuf_c_message_pack(&s.base, GRPC_SLICE_START_PTR(sl));
  *out = grpc_raw_byte_buffer_create(&sl, 1);
  grpc_slice_unref(sl);
  return NULL;
}

inferd_status_t *grpc_fe_parse_version(const char *s, int64_t *out) {
  *out = -1;
  if (!s || !*s)
    return NULL;
  int64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10)
      return inferd_status_new(INFERD_INVALID_ARG,
                               "invalid model version \"%s\": expected a "
                               "non-negative integer",
                               s);
    v = v * 10 + (*p - '0');
  }
  *out = v;
  return NULL;
}
