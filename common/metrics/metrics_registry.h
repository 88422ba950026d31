// Process-wide metrics in the Prometheus text exposition format (0.0.4):
// counters, gauges and histograms, each a family with a fixed set of label
// names declared at registration. Rendered by MetricsRegistry::Render() and
// served by common/metrics/metrics_http_server.h.
//
// Guarantees:
//   - No metric carries data: values are numbers, label values are chosen by
//     the program from a bounded set. A family accepts at most
//     `max_series` distinct label combinations; any further combination is
//     folded into one series whose every label value is "other", so label
//     cardinality is bounded whatever a client sends. Label values are
//     escaped for the text format (backslash, quote, newline).
//   - Names are checked at registration: [a-zA-Z_:][a-zA-Z0-9_:]*, label
//     names [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__"; registering a
//     name twice, or a bad name, is a programming error (std::logic_error).
//   - Render() lists families in registration order and series in first-use
//     order, with # HELP and # TYPE lines; histograms have cumulative
//     _bucket{le=...} lines ending with le="+Inf", then _sum and _count.
//
// Thread-safety: every method of every class here is thread-safe. Updates
// of a series are lock-free (atomics); looking a series up (WithLabels,
// Get) and Render() take the family's mutex, so a hot path keeps the
// reference, which stays valid for the registry's lifetime.
#ifndef FEDLEARN_COMMON_METRICS_METRICS_REGISTRY_H_
#define FEDLEARN_COMMON_METRICS_METRICS_REGISTRY_H_

#include <atomic>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace fedlearn {

// A value that only goes up (resets only when the process restarts).
class Counter {
 public:
  // REQUIRES: by >= 0 and finite (otherwise ignored).
  void Increment(double by = 1.0);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double value);
  void Add(double delta);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted into fixed upper bounds (plus +Inf), with their sum.
class Histogram {
 public:
  // REQUIRES: `upper_bounds` strictly increasing and finite.
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);  // NaN is ignored
  // Non-cumulative count per bucket (size upper_bounds()+1; last is +Inf).
  std::vector<uint64_t> BucketCounts() const;
  uint64_t count() const;
  double sum() const;
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }

 private:
  const std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0.0};
};

// A family of series that share a name, help text and label names.
template <typename Series>
class MetricFamily {
 public:
  // The series for these label values (one per declared label name, in
  // order; a wrong number of values is a std::logic_error). Beyond
  // max_series distinct combinations, the shared "other" series.
  Series& WithLabels(const std::vector<std::string>& values);
  // The series of a family declared without labels.
  Series& Get() { return WithLabels({}); }

 private:
  friend class MetricsRegistry;
  struct Entry {
    std::vector<std::string> label_values;
    std::unique_ptr<Series> series;
  };
  MetricFamily(std::string name, std::string help,
               std::vector<std::string> label_names, size_t max_series,
               std::vector<double> buckets);
  std::unique_ptr<Series> MakeSeries() const;
  // Appends the # HELP / # TYPE lines and every series to `out`.
  void RenderTo(const char* type, std::string* out) const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const size_t max_series_;
  const std::vector<double> buckets_;  // histograms only
  mutable std::mutex mu_;
  std::deque<Entry> entries_;  // guarded by mu_; deque: stable addresses
  // By label values, into entries_ (guarded by mu_).
  std::map<std::vector<std::string>, Series*> index_;
  Series* other_ = nullptr;  // the folded series, once the cap is reached
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

class MetricsRegistry {
 public:
  static constexpr size_t kDefaultMaxSeries = 32;

  // Counter names must end in "_total" (Prometheus convention; checked).
  CounterFamily& AddCounter(const std::string& name, const std::string& help,
                            std::vector<std::string> label_names = {},
                            size_t max_series = kDefaultMaxSeries);
  GaugeFamily& AddGauge(const std::string& name, const std::string& help,
                        std::vector<std::string> label_names = {},
                        size_t max_series = kDefaultMaxSeries);
  HistogramFamily& AddHistogram(const std::string& name,
                                const std::string& help,
                                std::vector<double> upper_bounds,
                                std::vector<std::string> label_names = {},
                                size_t max_series = kDefaultMaxSeries);

  // The whole registry in the text exposition format, version 0.0.4
  // (Content-Type: text/plain; version=0.0.4; charset=utf-8).
  std::string Render() const;

 private:
  struct Registered;  // one family of any kind, in registration order
  // Appends `family`; std::logic_error if its name is taken.
  void AddLocked(std::shared_ptr<Registered> family);
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Registered>> families_;  // guarded by mu_
};

// Bucket bounds start, start*factor, ... (count of them), for durations.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

}  // namespace fedlearn

#endif  // FEDLEARN_COMMON_METRICS_METRICS_REGISTRY_H_
