// cv_shim.cpp: the C++ side of cv_shim.h: OpenCV DNN import and forward,
// every cv::Exception turned into a malloc'd message. Inputs are wrapped as
// cv::Mat headers over the caller's buffers (no copy); outputs are converted
// to contiguous FP32 and kept until the backend has copied them.
#include "cv_shim.h"

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct cvs_net {
  cv::dnn::Net net;
};

struct cvs_result {
  std::vector<cv::Mat> mats;
  std::vector<std::vector<int64_t>> shapes;
};

namespace {

char *dup_msg(const std::string &s) {
  std::string m = s.substr(0, 2000);
  char *p = static_cast<char *>(std::malloc(m.size() + 1));
  if (p)
    std::memcpy(p, m.c_str(), m.size() + 1);
  return p;
}

} // namespace

extern "C" {

const char *cvs_version(void) { return CV_VERSION; }

void cvs_set_threads(int n) { cv::setNumThreads(n > 0 ? n : -1); }

int cvs_get_threads(void) { return cv::getNumThreads(); }

char *cvs_load(const void *buf, size_t len, int format, cvs_net_t **out) {
  *out = nullptr;
  try {
    auto *n = new cvs_net;
    try {
      const char *p = static_cast<const char *>(buf);
      if (format == CVS_TENSORFLOW)
        n->net = cv::dnn::readNetFromTensorflow(p, len);
      else
        n->net = cv::dnn::readNetFromONNX(p, len);
      if (n->net.empty()) {
        delete n;
        return dup_msg("OpenCV DNN imported an empty network");
      }
      n->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
      n->net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    } catch (...) {
      delete n;
      throw;
    }
    *out = n;
    return nullptr;
  } catch (const cv::Exception &e) {
    return dup_msg(e.err.empty() ? std::string(e.what()) : e.err);
  } catch (const std::exception &e) {
    return dup_msg(e.what());
  }
}

void cvs_free(cvs_net_t *net) { delete net; }

char *cvs_forward(cvs_net_t *net, const cvs_input_t *in, uint32_t n_in,
                  const char *const *outputs, uint32_t n_out,
                  cvs_result_t **out) {
  *out = nullptr;
  try {
    for (uint32_t i = 0; i < n_in; i++) {
      std::vector<int> sizes;
      for (uint32_t d = 0; d < in[i].n_dims; d++)
        sizes.push_back(static_cast<int>(in[i].shape[d]));
      if (sizes.empty())
        sizes.push_back(1);
      // Mat headers never write through; the cast only fits the constructor
      cv::Mat m(static_cast<int>(sizes.size()), sizes.data(), CV_32F,
                const_cast<float *>(in[i].data));
      net->net.setInput(m, in[i].name);
    }
    std::vector<cv::String> names(outputs, outputs + n_out);
    std::vector<cv::Mat> mats;
    net->net.forward(mats, names);
    auto *r = new cvs_result;
    for (cv::Mat &m : mats) {
      cv::Mat f;
      if (m.depth() != CV_32F)
        m.convertTo(f, CV_32F);
      else
        f = m.isContinuous() ? m : m.clone();
      if (!f.isContinuous())
        f = f.clone();
      std::vector<int64_t> shape;
      for (int d = 0; d < f.dims; d++)
        shape.push_back(f.size[d]);
      r->shapes.push_back(std::move(shape));
      r->mats.push_back(f);
    }
    *out = r;
    return nullptr;
  } catch (const cv::Exception &e) {
    return dup_msg(e.err.empty() ? std::string(e.what()) : e.err);
  } catch (const std::exception &e) {
    return dup_msg(e.what());
  }
}

void cvs_result_tensor(const cvs_result_t *r, uint32_t i, const int64_t **shape,
                       uint32_t *n_dims, const float **data, uint64_t *count) {
  const cv::Mat &m = r->mats[i];
  *shape = r->shapes[i].data();
  *n_dims = static_cast<uint32_t>(r->shapes[i].size());
  *data = m.ptr<float>();
  *count = static_cast<uint64_t>(m.total());
}

void cvs_result_free(cvs_result_t *r) { delete r; }

} // extern "C"
