#include "common/metrics/metrics_registry.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <type_traits>

namespace fedlearn {
namespace {

// atomic<double>::fetch_add is C++20; a CAS loop does the same.
void AtomicAdd(std::atomic<double>& target, double delta) {
  double old = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(old, old + delta,
                                       std::memory_order_relaxed)) {
  }
}

bool IsNameStart(char c, bool colon_allowed) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (colon_allowed && c == ':');
}

bool IsValidName(const std::string& name, bool colon_allowed) {
  if (name.empty() || !IsNameStart(name[0], colon_allowed)) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return IsNameStart(c, colon_allowed) || (c >= '0' && c <= '9');
  });
}

void CheckMetricName(const std::string& name) {
  if (!IsValidName(name, /*colon_allowed=*/true)) {
    throw std::logic_error("invalid metric name '" + name + "'");
  }
}

void CheckLabelNames(const std::string& metric,
                     const std::vector<std::string>& labels) {
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string& label = labels[i];
    if (!IsValidName(label, /*colon_allowed=*/false) ||
        label.rfind("__", 0) == 0) {
      throw std::logic_error("metric '" + metric + "': invalid label name '" +
                             label + "'");
    }
    if (std::find(labels.begin(), labels.begin() + i, label) !=
        labels.begin() + i) {
      throw std::logic_error("metric '" + metric + "': label '" + label +
                             "' declared twice");
    }
  }
}

void CheckBuckets(const std::string& metric,
                  const std::vector<double>& bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      throw std::logic_error("histogram '" + metric +
                             "': bucket bounds must be finite and strictly "
                             "increasing");
    }
  }
}

// A sample value as Prometheus writes it: integers without a decimal point,
// others in the shortest form that reads back to the same double.
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
    return buf;
  }
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// HELP text escapes backslash and newline; label values also the quote.
std::string Escape(const std::string& text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// {a="x",b="y"} (with `extra` appended, e.g. le="0.5"); "" if empty.
std::string LabelSet(const std::vector<std::string>& names,
                     const std::vector<std::string>& values,
                     const std::string& extra = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += out.empty() ? "{" : ",";
    out += names[i] + "=\"" + Escape(values[i], /*quote=*/true) + "\"";
  }
  if (!extra.empty()) out += (out.empty() ? "{" : ",") + extra;
  if (!out.empty()) out += "}";
  return out;
}

void RenderSeries(const std::string& name, const std::string& labels,
                  const Counter& c, std::string* out) {
  *out += name + labels + " " + FormatValue(c.value()) + "\n";
}

void RenderSeries(const std::string& name, const std::string& labels,
                  const Gauge& g, std::string* out) {
  *out += name + labels + " " + FormatValue(g.value()) + "\n";
}

}  // namespace

void Counter::Increment(double by) {
  if (!(by >= 0) || !std::isfinite(by)) return;
  AtomicAdd(value_, by);
}

void Gauge::Set(double value) {
  value_.store(value, std::memory_order_relaxed);
}

void Gauge::Add(double delta) { AtomicAdd(value_, delta); }

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      buckets_(new std::atomic<uint64_t>[upper_bounds_.size() + 1]) {
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) buckets_[i] = 0;
}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  // Bucket i counts upper_bounds_[i-1] < value <= upper_bounds_[i].
  const size_t i =
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) -
      upper_bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, value);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> counts(upper_bounds_.size() + 1);
  for (size_t i = 0; i < counts.size(); ++i) {
    counts[i] = buckets_[i].load(std::memory_order_relaxed);
  }
  return counts;
}

uint64_t Histogram::count() const {
  return count_.load(std::memory_order_relaxed);
}

double Histogram::sum() const { return sum_.load(std::memory_order_relaxed); }

namespace {

void RenderSeries(const std::string& name,
                  const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values,
                  const Histogram& h, std::string* out) {
  // One snapshot of the buckets; _count is their total, so it always equals
  // the +Inf bucket even while observations race with the render.
  const std::vector<uint64_t> counts = h.BucketCounts();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const std::string le =
        i < h.upper_bounds().size() ? FormatValue(h.upper_bounds()[i]) : "+Inf";
    *out += name + "_bucket" +
            LabelSet(label_names, label_values, "le=\"" + le + "\"") + " " +
            FormatValue(static_cast<double>(cumulative)) + "\n";
  }
  const std::string labels = LabelSet(label_names, label_values);
  *out += name + "_sum" + labels + " " + FormatValue(h.sum()) + "\n";
  *out += name + "_count" + labels + " " +
          FormatValue(static_cast<double>(cumulative)) + "\n";
}

}  // namespace

template <typename Series>
MetricFamily<Series>::MetricFamily(std::string name, std::string help,
                                   std::vector<std::string> label_names,
                                   size_t max_series,
                                   std::vector<double> buckets)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      max_series_(std::max<size_t>(max_series, 1)),
      buckets_(std::move(buckets)) {}

template <typename Series>
std::unique_ptr<Series> MetricFamily<Series>::MakeSeries() const {
  if constexpr (std::is_same_v<Series, Histogram>) {
    return std::make_unique<Histogram>(buckets_);
  } else {
    return std::make_unique<Series>();
  }
}

template <typename Series>
Series& MetricFamily<Series>::WithLabels(
    const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) {
    throw std::logic_error(
        "metric '" + name_ + "' takes " + std::to_string(label_names_.size()) +
        " label value(s), got " + std::to_string(values.size()));
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto found = index_.find(values);
  if (found != index_.end()) return *found->second;
  std::vector<std::string> key = values;
  if (index_.size() - (other_ != nullptr ? 1 : 0) >= max_series_) {
    // Over the cap: every further combination shares one series.
    if (other_ != nullptr) return *other_;
    key.assign(label_names_.size(), "other");
    found = index_.find(key);
    if (found != index_.end()) {
      other_ = found->second;
      return *other_;
    }
  }
  entries_.push_back(Entry{key, MakeSeries()});
  Series* series = entries_.back().series.get();
  index_.emplace(std::move(key), series);
  if (index_.size() > max_series_) other_ = series;
  return *series;
}

template <typename Series>
void MetricFamily<Series>::RenderTo(const char* type, std::string* out) const {
  *out += "# HELP " + name_ + " " + Escape(help_, /*quote=*/false) + "\n";
  *out += "# TYPE " + name_ + " " + type + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  for (const Entry& e : entries_) {
    if constexpr (std::is_same_v<Series, Histogram>) {
      RenderSeries(name_, label_names_, e.label_values, *e.series, out);
    } else {
      RenderSeries(name_, LabelSet(label_names_, e.label_values), *e.series,
                   out);
    }
  }
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

struct MetricsRegistry::Registered {
  std::string name;
  std::unique_ptr<CounterFamily> counter;
  std::unique_ptr<GaugeFamily> gauge;
  std::unique_ptr<HistogramFamily> histogram;
};

void MetricsRegistry::AddLocked(std::shared_ptr<Registered> family) {
  for (const auto& f : families_) {
    if (f->name == family->name) {
      throw std::logic_error("metric '" + family->name + "' registered twice");
    }
  }
  families_.push_back(std::move(family));
}

CounterFamily& MetricsRegistry::AddCounter(const std::string& name,
                                           const std::string& help,
                                           std::vector<std::string> label_names,
                                           size_t max_series) {
  CheckMetricName(name);
  if (name.size() < 6 || name.compare(name.size() - 6, 6, "_total") != 0) {
    throw std::logic_error("counter '" + name + "' must end in _total");
  }
  CheckLabelNames(name, label_names);
  auto r = std::make_shared<Registered>();
  r->name = name;
  const bool unlabelled = label_names.empty();
  r->counter.reset(
      new CounterFamily(name, help, std::move(label_names), max_series, {}));
  // A family without labels shows its one series (0) from the start.
  if (unlabelled) r->counter->Get();
  CounterFamily& family = *r->counter;
  std::lock_guard<std::mutex> lock(mu_);
  AddLocked(std::move(r));
  return family;
}

GaugeFamily& MetricsRegistry::AddGauge(const std::string& name,
                                       const std::string& help,
                                       std::vector<std::string> label_names,
                                       size_t max_series) {
  CheckMetricName(name);
  CheckLabelNames(name, label_names);
  auto r = std::make_shared<Registered>();
  r->name = name;
  const bool unlabelled = label_names.empty();
  r->gauge.reset(
      new GaugeFamily(name, help, std::move(label_names), max_series, {}));
  if (unlabelled) r->gauge->Get();
  GaugeFamily& family = *r->gauge;
  std::lock_guard<std::mutex> lock(mu_);
  AddLocked(std::move(r));
  return family;
}

HistogramFamily& MetricsRegistry::AddHistogram(
    const std::string& name, const std::string& help,
    std::vector<double> upper_bounds, std::vector<std::string> label_names,
    size_t max_series) {
  CheckMetricName(name);
  CheckLabelNames(name, label_names);
  if (std::find(label_names.begin(), label_names.end(), "le") !=
      label_names.end()) {
    throw std::logic_error("histogram '" + name + "': label 'le' is reserved");
  }
  CheckBuckets(name, upper_bounds);
  auto r = std::make_shared<Registered>();
  r->name = name;
  const bool unlabelled = label_names.empty();
  r->histogram.reset(new HistogramFamily(name, help, std::move(label_names),
                                         max_series, std::move(upper_bounds)));
  if (unlabelled) r->histogram->Get();
  HistogramFamily& family = *r->histogram;
  std::lock_guard<std::mutex> lock(mu_);
  AddLocked(std::move(r));
  return family;
}

std::string MetricsRegistry::Render() const {
  std::vector<std::shared_ptr<Registered>> families;
  {
    std::lock_guard<std::mutex> lock(mu_);
    families = families_;
  }
  std::string out;
  for (const auto& f : families) {
    if (f->counter) f->counter->RenderTo("counter", &out);
    if (f->gauge) f->gauge->RenderTo("gauge", &out);
    if (f->histogram) f->histogram->RenderTo("histogram", &out);
  }
  return out;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  if (!(start > 0) || !(factor > 1) || count < 1) {
    throw std::logic_error(
        "ExponentialBuckets needs start > 0, factor > 1, count >= 1");
  }
  std::vector<double> bounds;
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

}  // namespace fedlearn
