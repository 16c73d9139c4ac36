// torch_shim.cpp: the C++ side of torch_shim.h: TorchScript loading and
// forward() through libtorch, with every C++ exception turned into a malloc'd
// message. Nothing else of the pytorch backend is C++.
//
// Inputs are wrapped with torch::from_blob (no copy): the server's buffers
// outlive the call. Outputs are moved to CPU and made contiguous, and kept in
// a ts_result until the backend has copied them into its responses.
#include "torch_shim.h"

#include <torch/csrc/jit/python/update_graph_executor_opt.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct ts_module {
  torch::jit::Module mod;
  torch::Device device{torch::kCPU};
  std::vector<std::string> args;
};

struct ts_result {
  std::vector<at::Tensor> tensors;
  std::vector<std::vector<int64_t>> shapes;
};

namespace {

// inferd_datatype_t values (types.h) ↔ torch scalar types
const int kBool = 1, kU8 = 2, kI8 = 6, kI16 = 7, kI32 = 8, kI64 = 9, kF16 = 10,
          kF32 = 11, kF64 = 12, kBF16 = 14;

bool to_torch(int32_t dt, c10::ScalarType *out) {
  switch (dt) {
  case kBool:
    *out = c10::kBool;
    return true;
  case kU8:
    *out = c10::kByte;
    return true;
  case kI8:
    *out = c10::kChar;
    return true;
  case kI16:
    *out = c10::kShort;
    return true;
  case kI32:
    *out = c10::kInt;
    return true;
  case kI64:
    *out = c10::kLong;
    return true;
  case kF16:
    *out = c10::kHalf;
    return true;
  case kF32:
    *out = c10::kFloat;
    return true;
  case kF64:
    *out = c10::kDouble;
    return true;
  case kBF16:
    *out = c10::kBFloat16;
    return true;
  default:
    return false;
  }
}

int32_t from_torch(c10::ScalarType t) {
  switch (t) {
  case c10::kBool:
    return kBool;
  case c10::kByte:
    return kU8;
  case c10::kChar:
    return kI8;
  case c10::kShort:
    return kI16;
  case c10::kInt:
    return kI32;
  case c10::kLong:
    return kI64;
  case c10::kHalf:
    return kF16;
  case c10::kFloat:
    return kF32;
  case c10::kDouble:
    return kF64;
  case c10::kBFloat16:
    return kBF16;
  default:
    return 0;
  }
}

char *dup_msg(const std::string &s) {
  // first line of libtorch's messages is the useful part; keep it bounded
  std::string m = s.substr(0, 2000);
  char *p = static_cast<char *>(std::malloc(m.size() + 1));
  if (p)
    std::memcpy(p, m.c_str(), m.size() + 1);
  return p; // NULL only when out of memory: callers treat it as "failed"
}

// Flattens forward()'s result into tensors; false with *why on other types.
bool flatten(const c10::IValue &v, std::vector<at::Tensor> &out,
             std::string *why) {
  if (v.isTensor()) {
    out.push_back(v.toTensor());
    return true;
  }
  if (v.isTuple()) {
    for (const auto &e : v.toTupleRef().elements())
      if (!flatten(e, out, why))
        return false;
    return true;
  }
  if (v.isTensorList()) {
    for (const at::Tensor &t : v.toTensorVector())
      out.push_back(t);
    return true;
  }
  if (v.isList()) {
    for (const auto &e : v.toListRef())
      if (!flatten(e, out, why))
        return false;
    return true;
  }
  *why = std::string("forward() returned a value of type ") + v.tagKind() +
         "; expected a tensor or a tuple/list of tensors";
  return false;
}

} // namespace

extern "C" {

bool ts_dtype_supported(int32_t dt) {
  c10::ScalarType t;
  return to_torch(dt, &t);
}

bool ts_cuda_available(void) {
  try {
    return torch::cuda::is_available();
  } catch (...) {
    return false;
  }
}

int ts_cuda_device_count(void) {
  try {
    return static_cast<int>(torch::cuda::device_count());
  } catch (...) {
    return 0;
  }
}

void ts_set_profiling(bool enable) {
  torch::jit::getProfilingMode() = enable;
  torch::jit::getExecutorMode() = enable;
}

char *ts_set_interop_threads(int n) {
  try {
    if (at::get_num_interop_threads() == n)
      return nullptr;
    at::set_num_interop_threads(n);
    return nullptr;
  } catch (const std::exception &e) {
    return dup_msg(std::string("cannot set the inter-op thread count to ") +
                   std::to_string(n) + " (it is process-wide and already " +
                   std::to_string(at::get_num_interop_threads()) +
                   "): " + e.what());
  }
}

void ts_thread_setup(int intra_threads, bool optimize) {
  if (intra_threads > 0)
    at::set_num_threads(intra_threads);
  torch::jit::setGraphExecutorOptimize(optimize);
}

char *ts_load(const char *path, int device, ts_module_t **out) {
  *out = nullptr;
  try {
    auto *m = new ts_module;
    try {
      if (device >= 0)
        m->device = torch::Device(torch::kCUDA, device);
      m->mod = torch::jit::load(path, m->device);
      m->mod.eval();
      const auto &schema = m->mod.get_method("forward").function().getSchema();
      const auto &args = schema.arguments();
      for (size_t i = 1; i < args.size(); i++) // 0 is self
        m->args.push_back(args[i].name());
    } catch (...) {
      delete m;
      throw;
    }
    *out = m;
    return nullptr;
  } catch (const c10::Error &e) {
    return dup_msg(e.what_without_backtrace());
  } catch (const std::exception &e) {
    return dup_msg(e.what());
  }
}

void ts_free(ts_module_t *m) { delete m; }

uint32_t ts_arg_count(const ts_module_t *m) {
  return static_cast<uint32_t>(m->args.size());
}

const char *ts_arg_name(const ts_module_t *m, uint32_t i) {
  return i < m->args.size() ? m->args[i].c_str() : nullptr;
}

char *ts_forward(ts_module_t *m, const ts_input_t *in, uint32_t n,
                 ts_result_t **out) {
  *out = nullptr;
  try {
    c10::InferenceMode guard;
    std::vector<c10::IValue> args;
    args.reserve(n);
    for (uint32_t i = 0; i < n; i++) {
      c10::ScalarType st;
      if (!to_torch(in[i].dt, &st))
        return dup_msg("argument " + std::to_string(i) +
                       ": data type not supported by libtorch");
      std::vector<int64_t> shape(in[i].shape, in[i].shape + in[i].n_dims);
      // from_blob never writes; the cast only satisfies its signature
      at::Tensor t = torch::from_blob(const_cast<void *>(in[i].data), shape,
                                      torch::TensorOptions().dtype(st));
      if (m->device.is_cuda())
        t = t.to(m->device);
      args.emplace_back(std::move(t));
    }
    c10::IValue res = m->mod.forward(args);
    auto *r = new ts_result;
    std::string why;
    std::vector<at::Tensor> flat;
    if (!flatten(res, flat, &why)) {
      delete r;
      return dup_msg(why);
    }
    for (at::Tensor &t : flat) {
      at::Tensor c = t.to(torch::kCPU).contiguous();
      r->shapes.emplace_back(c.sizes().begin(), c.sizes().end());
      r->tensors.push_back(std::move(c));
    }
    *out = r;
    return nullptr;
  } catch (const c10::Error &e) {
    return dup_msg(e.what_without_backtrace());
  } catch (const std::exception &e) {
    return dup_msg(e.what());
  }
}

uint32_t ts_result_count(const ts_result_t *r) {
  return static_cast<uint32_t>(r->tensors.size());
}

void ts_result_tensor(const ts_result_t *r, uint32_t i, int32_t *dt,
                      const int64_t **shape, uint32_t *n_dims,
                      const void **data, uint64_t *byte_size) {
  const at::Tensor &t = r->tensors[i];
  *dt = from_torch(t.scalar_type());
  *shape = r->shapes[i].data();
  *n_dims = static_cast<uint32_t>(r->shapes[i].size());
  *data = t.data_ptr();
  *byte_size = static_cast<uint64_t>(t.numel()) * t.element_size();
}

void ts_result_free(ts_result_t *r) { delete r; }

} // extern "C"
