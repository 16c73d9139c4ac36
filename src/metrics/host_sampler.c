/*
 * host_sampler.c: the host figures of the metrics, refreshed every
 * --metrics-interval-ms by one thread: CPU utilisation and memory from
 * /proc (nv_cpu_*), and GPU utilisation, memory, power and energy from
 * NVML (nv_gpu_*), which is loaded with dlopen so that the same binary runs
 * on machines without a GPU driver; there the GPU families are absent and
 * the log says why, once. Scrapes copy the last reading under a short lock:
 * they never wait for /proc or the driver.
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "metrics/metrics.h"

/* ---- /proc -------------------------------------------------------------- */

bool met_read_proc_cpu(uint64_t prev[2], double *utilization) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f)
    return false;
  char line[512];
  bool ok = false;
  if (fgets(line, sizeof(line), f) && strncmp(line, "cpu ", 4) == 0) {
    uint64_t v[10] = {0};
    int n = sscanf(line + 4,
                   "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                   " %" SCNu64 " %" SCNu64 " %" SCNu64,
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    if (n >= 4) {
      uint64_t idle = v[3] + v[4]; /* idle + iowait */
      uint64_t total = 0;
      for (int i = 0; i < 8; i++)
        total += v[i];
      *utilization = 0;
      if (prev[1] && total > prev[1]) {
        uint64_t dt = total - prev[1];
        uint64_t di = idle >= prev[0] ? idle - prev[0] : 0;
        *utilization = di >= dt ? 0.0 : (double)(dt - di) / (double)dt;
      }
      prev[0] = idle;
      prev[1] = total;
      ok = true;
    }
  }
  fclose(f);
  return ok;
}

bool met_read_proc_meminfo(uint64_t *total, uint64_t *used) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f)
    return false;
  char line[256];
  uint64_t t = 0, avail = 0;
  bool has_t = false, has_a = false;
  while (fgets(line, sizeof(line), f)) {
    uint64_t kb = 0;
    if (sscanf(line, "MemTotal: %" SCNu64, &kb) == 1) {
      t = kb * 1024;
      has_t = true;
    } else if (sscanf(line, "MemAvailable: %" SCNu64, &kb) == 1) {
      avail = kb * 1024;
      has_a = true;
    }
  }
  fclose(f);
  if (!has_t || !has_a)
    return false;
  *total = t;
  *used = t > avail ? t - avail : 0;
  return true;
}

/* ---- NVML (the subset used, declared here: no header needed) ----------- */

typedef int nvml_ret_t; /* nvmlReturn_t; 0 = NVML_SUCCESS */
typedef void *nvml_dev_t;
typedef struct {
  unsigned int gpu, memory;
} nvml_util_t;
typedef struct {
  unsigned long long total, free, used;
} nvml_mem_t;

typedef struct nvml {
  void *lib;
  nvml_ret_t (*init)(void);
  nvml_ret_t (*shutdown)(void);
  nvml_ret_t (*count)(unsigned int *);
  nvml_ret_t (*handle)(unsigned int, nvml_dev_t *);
  nvml_ret_t (*uuid)(nvml_dev_t, char *, unsigned int);
  nvml_ret_t (*util)(nvml_dev_t, nvml_util_t *);
  nvml_ret_t (*mem)(nvml_dev_t, nvml_mem_t *);
  nvml_ret_t (*power)(nvml_dev_t, unsigned int *);
  nvml_ret_t (*limit)(nvml_dev_t, unsigned int *);
  nvml_ret_t (*energy)(nvml_dev_t, unsigned long long *);
  nvml_dev_t devs[16];
  unsigned long long energy0[16]; /* mJ at start */
  unsigned int n;
} nvml_t;

static bool nvml_open(nvml_t *n) {
  memset(n, 0, sizeof(*n));
  n->lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!n->lib) {
    LOG_INFO("GPU metrics off: NVML not loaded (%s)", dlerror());
    return false;
  }
#define SYM(f, name)                                                           \
  do {                                                                         \
    *(void **)(&n->f) = dlsym(n->lib, name);                                   \
  } while (0)
  SYM(init, "nvmlInit_v2");
  SYM(shutdown, "nvmlShutdown");
  SYM(count, "nvmlDeviceGetCount_v2");
  SYM(handle, "nvmlDeviceGetHandleByIndex_v2");
  SYM(uuid, "nvmlDeviceGetUUID");
  SYM(util, "nvmlDeviceGetUtilizationRates");
  SYM(mem, "nvmlDeviceGetMemoryInfo");
  SYM(power, "nvmlDeviceGetPowerUsage");
  SYM(limit, "nvmlDeviceGetEnforcedPowerLimit");
  SYM(energy, "nvmlDeviceGetTotalEnergyConsumption");
#undef SYM
  if (!n->init || !n->shutdown || !n->count || !n->handle || !n->uuid) {
    LOG_INFO("GPU metrics off: NVML lacks nvmlInit_v2 or the device "
             "functions");
    dlclose(n->lib);
    n->lib = NULL;
    return false;
  }
  nvml_ret_t r = n->init();
  if (r != 0) {
    LOG_INFO("GPU metrics off: nvmlInit_v2 failed (NVML error %d)", r);
    dlclose(n->lib);
    n->lib = NULL;
    return false;
  }
  unsigned int c = 0;
  if (n->count(&c) != 0 || c == 0) {
    LOG_INFO("GPU metrics off: NVML found no GPU");
    n->shutdown();
    dlclose(n->lib);
    n->lib = NULL;
    return false;
  }
  for (unsigned int i = 0; i < c && n->n < 16; i++) {
    if (n->handle(i, &n->devs[n->n]) != 0)
      continue;
    if (n->energy)
      n->energy(n->devs[n->n], &n->energy0[n->n]);
    n->n++;
  }
  LOG_INFO("GPU metrics on: %u GPU(s) through NVML", n->n);
  return true;
}

static void nvml_close(nvml_t *n) {
  if (!n->lib)
    return;
  n->shutdown();
  dlclose(n->lib);
  n->lib = NULL;
}

static void nvml_sample(nvml_t *n, met_host_t *h) {
  h->n_gpus = 0;
  for (unsigned int i = 0; i < n->n; i++) {
    met_gpu_t *g = &h->gpus[h->n_gpus];
    memset(g, 0, sizeof(*g));
    if (n->uuid(n->devs[i], g->uuid, sizeof(g->uuid)) != 0)
      continue;
    nvml_util_t u;
    if (n->util && n->util(n->devs[i], &u) == 0) {
      g->has_util = true;
      g->utilization = u.gpu / 100.0;
    }
    nvml_mem_t m;
    if (n->mem && n->mem(n->devs[i], &m) == 0) {
      g->has_mem = true;
      g->mem_total = m.total;
      g->mem_used = m.used;
    }
    unsigned int mw = 0;
    if (n->power && n->power(n->devs[i], &mw) == 0) {
      g->has_power = true;
      g->power_w = mw / 1000.0;
    }
    if (n->limit && n->limit(n->devs[i], &mw) == 0) {
      g->has_limit = true;
      g->power_limit_w = mw / 1000.0;
    }
    unsigned long long mj = 0;
    if (n->energy && n->energy(n->devs[i], &mj) == 0) {
      g->has_energy = true;
      g->energy_j = mj >= n->energy0[i] ? (mj - n->energy0[i]) / 1000.0 : 0;
    }
    h->n_gpus++;
  }
}

/* ---- the sampler thread -------------------------------------------------- */

struct met_sampler {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop;
  bool cpu;
  uint32_t interval_ms;
  uint64_t prev[2];
  nvml_t nvml;
  met_host_t cur; /* under mu */
};

static void sample(met_sampler_t *s) {
  met_host_t h;
  memset(&h, 0, sizeof(h));
  if (s->cpu) {
    double u = 0;
    bool a = met_read_proc_cpu(s->prev, &u);
    bool b = met_read_proc_meminfo(&h.mem_total, &h.mem_used);
    h.has_cpu = a && b;
    h.cpu_utilization = u;
  }
  if (s->nvml.lib)
    nvml_sample(&s->nvml, &h);
  pthread_mutex_lock(&s->mu);
  s->cur = h;
  pthread_mutex_unlock(&s->mu);
}

static void *run(void *arg) {
  met_sampler_t *s = arg;
  pthread_mutex_lock(&s->mu);
  while (!s->stop) {
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += s->interval_ms / 1000;
    dl.tv_nsec += (long)(s->interval_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
      dl.tv_sec++;
      dl.tv_nsec -= 1000000000L;
    }
    while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &dl) != ETIMEDOUT)
      ;
    if (s->stop)
      break;
    pthread_mutex_unlock(&s->mu);
    sample(s);
    pthread_mutex_lock(&s->mu);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

inferd_status_t *met_sampler_start(bool cpu, bool gpu, uint32_t interval_ms,
                                   met_sampler_t **out) {
  met_sampler_t *s = calloc(1, sizeof(*s));
  if (!s)
    return inferd_status_new(INFERD_NO_MEMORY, "out of memory");
  s->cpu = cpu;
  s->interval_ms = interval_ms ? interval_ms : 2000;
  pthread_mutex_init(&s->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (gpu)
    nvml_open(&s->nvml);
  else
    LOG_INFO("GPU metrics off (--allow-gpu-metrics=false)");
  sample(s);
  if (pthread_create(&s->thread, NULL, run, s) != 0) {
    nvml_close(&s->nvml);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    return inferd_status_new(INFERD_INTERNAL,
                             "cannot start the metrics sampler thread");
  }
  *out = s;
  return NULL;
}

void met_sampler_read(met_sampler_t *s, met_host_t *out) {
  pthread_mutex_lock(&s->mu);
  *out = s->cur;
  pthread_mutex_unlock(&s->mu);
}

void met_sampler_free(met_sampler_t *s) {
  if (!s)
    return;
  pthread_mutex_lock(&s->mu);
  s->stop = true;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->thread, NULL);
  nvml_close(&s->nvml);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}
