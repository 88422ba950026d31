#include "common/metrics/metrics_registry.h"

#include <stdexcept>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace fedlearn {
namespace {

TEST(MetricsRegistryTest, RendersCounterWithHelpTypeAndEscapedLabels) {
  MetricsRegistry registry;
  CounterFamily& c = registry.AddCounter(
      "fl_events_total", "Events seen.\nBy kind \\ path.", {"kind", "path"});
  c.WithLabels({"a\"b", "x\\y\nz"}).Increment(2);
  c.WithLabels({"plain", "p"}).Increment();
  c.WithLabels({"plain", "p"}).Increment(0.5);
  EXPECT_EQ(registry.Render(),
            "# HELP fl_events_total Events seen.\\nBy kind \\\\ path.\n"
            "# TYPE fl_events_total counter\n"
            "fl_events_total{kind=\"a\\\"b\",path=\"x\\\\y\\nz\"} 2\n"
            "fl_events_total{kind=\"plain\",path=\"p\"} 1.5\n");
}

TEST(MetricsRegistryTest, UnlabelledFamiliesShowZeroFromTheStart) {
  MetricsRegistry registry;
  registry.AddCounter("fl_a_total", "A.");
  registry.AddGauge("fl_b", "B.");
  EXPECT_EQ(registry.Render(),
            "# HELP fl_a_total A.\n# TYPE fl_a_total counter\nfl_a_total 0\n"
            "# HELP fl_b B.\n# TYPE fl_b gauge\nfl_b 0\n");
}

TEST(MetricsRegistryTest, GaugeSetsAndAddsAndFormatsValues) {
  MetricsRegistry registry;
  GaugeFamily& g = registry.AddGauge("fl_g", "G.", {"k"});
  g.WithLabels({"one"}).Set(0.1);
  g.WithLabels({"two"}).Set(-3);
  g.WithLabels({"two"}).Add(1.25);
  g.WithLabels({"big"}).Set(1e20);
  g.WithLabels({"inf"}).Set(1.0 / 0.0);
  EXPECT_EQ(registry.Render(),
            "# HELP fl_g G.\n# TYPE fl_g gauge\n"
            "fl_g{k=\"one\"} 0.1\n"
            "fl_g{k=\"two\"} -1.75\n"
            "fl_g{k=\"big\"} 1e+20\n"
            "fl_g{k=\"inf\"} +Inf\n");
}

TEST(MetricsRegistryTest, CounterIgnoresNegativeAndNonFiniteIncrements) {
  MetricsRegistry registry;
  Counter& c = registry.AddCounter("fl_c_total", "C.").Get();
  c.Increment(3);
  c.Increment(-1);
  c.Increment(0.0 / 0.0);
  c.Increment(1.0 / 0.0);
  EXPECT_EQ(c.value(), 3);
}

TEST(MetricsRegistryTest, RendersHistogramWithCumulativeBucketsSumAndCount) {
  MetricsRegistry registry;
  HistogramFamily& h = registry.AddHistogram("fl_seconds", "Durations.",
                                             {0.5, 1, 2.5}, {"phase"});
  Histogram& train = h.WithLabels({"Training"});
  for (double v : {0.2, 0.5, 0.7, 3.0, 10.0}) train.Observe(v);
  train.Observe(0.0 / 0.0);  // ignored
  EXPECT_EQ(train.count(), 5u);
  EXPECT_EQ(train.BucketCounts(), (std::vector<uint64_t>{2, 1, 0, 2}));
  EXPECT_EQ(registry.Render(),
            "# HELP fl_seconds Durations.\n# TYPE fl_seconds histogram\n"
            "fl_seconds_bucket{phase=\"Training\",le=\"0.5\"} 2\n"
            "fl_seconds_bucket{phase=\"Training\",le=\"1\"} 3\n"
            "fl_seconds_bucket{phase=\"Training\",le=\"2.5\"} 3\n"
            "fl_seconds_bucket{phase=\"Training\",le=\"+Inf\"} 5\n"
            "fl_seconds_sum{phase=\"Training\"} 14.4\n"
            "fl_seconds_count{phase=\"Training\"} 5\n");
}

TEST(MetricsRegistryTest, UnlabelledHistogramRendersEmptyBuckets) {
  MetricsRegistry registry;
  registry.AddHistogram("fl_h", "H.", ExponentialBuckets(0.25, 2, 2));
  EXPECT_EQ(registry.Render(),
            "# HELP fl_h H.\n# TYPE fl_h histogram\n"
            "fl_h_bucket{le=\"0.25\"} 0\nfl_h_bucket{le=\"0.5\"} 0\n"
            "fl_h_bucket{le=\"+Inf\"} 0\nfl_h_sum 0\nfl_h_count 0\n");
}

TEST(MetricsRegistryTest, CardinalityCapFoldsFurtherCombinationsIntoOther) {
  MetricsRegistry registry;
  CounterFamily& c =
      registry.AddCounter("fl_x_total", "X.", {"a", "b"}, /*max_series=*/2);
  c.WithLabels({"1", "1"}).Increment();
  c.WithLabels({"2", "2"}).Increment();
  c.WithLabels({"3", "3"}).Increment();  // over the cap
  c.WithLabels({"4", "4"}).Increment(2);
  c.WithLabels({"1", "1"}).Increment();  // an existing one still counts
  EXPECT_EQ(&c.WithLabels({"5", "5"}), &c.WithLabels({"other", "other"}));
  EXPECT_EQ(registry.Render(),
            "# HELP fl_x_total X.\n# TYPE fl_x_total counter\n"
            "fl_x_total{a=\"1\",b=\"1\"} 2\n"
            "fl_x_total{a=\"2\",b=\"2\"} 1\n"
            "fl_x_total{a=\"other\",b=\"other\"} 3\n");
}

TEST(MetricsRegistryTest, RefusesBadNamesAndMisuse) {
  MetricsRegistry registry;
  EXPECT_THROW(registry.AddGauge("1bad", "."), std::logic_error);
  EXPECT_THROW(registry.AddGauge("bad-name", "."), std::logic_error);
  EXPECT_THROW(registry.AddGauge("", "."), std::logic_error);
  EXPECT_THROW(registry.AddCounter("fl_no_suffix", "."), std::logic_error);
  EXPECT_THROW(registry.AddGauge("fl_g", ".", {"__reserved"}),
               std::logic_error);
  EXPECT_THROW(registry.AddGauge("fl_g", ".", {"a:b"}), std::logic_error);
  EXPECT_THROW(registry.AddGauge("fl_g", ".", {"x", "x"}), std::logic_error);
  EXPECT_THROW(registry.AddHistogram("fl_h", ".", {1}, {"le"}),
               std::logic_error);
  EXPECT_THROW(registry.AddHistogram("fl_h", ".", {2, 1}), std::logic_error);
  EXPECT_THROW(ExponentialBuckets(0, 2, 3), std::logic_error);
  registry.AddGauge("ns:fl_ok", ".");
  EXPECT_THROW(registry.AddCounter("ns:fl_ok", "."), std::logic_error);
  EXPECT_THROW(registry.AddGauge("ns:fl_ok", "."), std::logic_error);
  GaugeFamily& g = registry.AddGauge("fl_labelled", ".", {"a"});
  EXPECT_THROW(g.WithLabels({}), std::logic_error);
  EXPECT_THROW(g.WithLabels({"1", "2"}), std::logic_error);
}

TEST(MetricsRegistryTest, ConcurrentIncrementsSumExactly) {
  MetricsRegistry registry;
  CounterFamily& c = registry.AddCounter("fl_n_total", "N.", {"t"});
  Histogram& h = registry.AddHistogram("fl_v", "V.", {1}).Get();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        c.WithLabels({t % 2 ? "odd" : "even"}).Increment();
        h.Observe(0.5);
        if (i % 1000 == 0) registry.Render();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(c.WithLabels({"odd"}).value(), kThreads / 2 * kPerThread);
  EXPECT_EQ(c.WithLabels({"even"}).value(), kThreads / 2 * kPerThread);
  EXPECT_EQ(h.count(), uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(h.sum(), 0.5 * kThreads * kPerThread);
}

}  // namespace
}  // namespace fedlearn
