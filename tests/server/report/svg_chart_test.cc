#include "server/report/svg_chart.h"

#include <cmath>
#include <limits>
#include <regex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedlearn {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pointwise;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int Count(const std::string& text, const std::string& re) {
  std::regex r(re);
  return static_cast<int>(
      std::distance(std::sregex_iterator(text.begin(), text.end(), r),
                    std::sregex_iterator()));
}

// The points="..." of the first polyline.
std::vector<std::pair<double, double>> FirstPolyline(const std::string& svg) {
  std::smatch m;
  std::vector<std::pair<double, double>> out;
  if (!std::regex_search(svg, m,
                         std::regex("<polyline[^>]* points=\"([^\"]*)\"")))
    return out;
  const std::string points = m[1];
  std::regex pair_re("(-?[0-9.]+),(-?[0-9.]+)");
  for (auto it = std::sregex_iterator(points.begin(), points.end(), pair_re);
       it != std::sregex_iterator(); ++it) {
    out.emplace_back(std::stod((*it)[1]), std::stod((*it)[2]));
  }
  return out;
}

Chart Accuracy(int rounds) {
  Chart c;
  c.title = "Test accuracy";
  c.y_label = "accuracy";
  for (int r = 1; r <= rounds; ++r) c.x.push_back(r);
  ChartSeries s{"acc", {}};
  for (int r = 1; r <= rounds; ++r) s.y.push_back(0.5 + 0.03 * r);
  c.series.push_back(s);
  return c;
}

TEST(NiceTicksTest, StepsAreOneTwoOrFiveTimesAPowerOfTen) {
  auto near = [](std::vector<double> v) {
    return Pointwise(DoubleNear(1e-9), v);
  };
  EXPECT_THAT(NiceTicks(0, 1, 6, false), near({0, 0.2, 0.4, 0.6, 0.8, 1}));
  EXPECT_THAT(NiceTicks(0.53, 0.81, 6, false), near({0.5, 0.6, 0.7, 0.8, 0.9}));
  EXPECT_THAT(NiceTicks(0, 30, 11, true), near({0, 5, 10, 15, 20, 25, 30}));
  EXPECT_THAT(NiceTicks(1, 10, 11, true),
              near({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_THAT(NiceTicks(0, 8.4, 6, false), near({0, 2, 4, 6, 8, 10}));
}

TEST(NiceTicksTest, IntegerAxisNeverStepsBelowOne) {
  EXPECT_THAT(NiceTicks(1, 2, 11, true), ElementsAre(1, 2));
}

TEST(NiceTicksTest, ASingleValueIsWidenedAroundIt) {
  const std::vector<double> t = NiceTicks(3, 3, 6, false);
  ASSERT_GE(t.size(), 2u);
  EXPECT_LT(t.front(), 3);
  EXPECT_GT(t.back(), 3);
  EXPECT_EQ(NiceTicks(0, 0, 6, false).front(), 0);
}

TEST(FormatTickTest, UsesAsFewDecimalsAsTheStepNeeds) {
  EXPECT_EQ(FormatTick(10, 5), "10");
  EXPECT_EQ(FormatTick(0.6000000000000001, 0.2), "0.6");
  EXPECT_EQ(FormatTick(0.75, 0.25), "0.75");
  EXPECT_EQ(FormatTick(0, 0.2), "0");
  EXPECT_EQ(FormatTick(2e-5, 1e-5), "2e-05");
}

TEST(XmlEscapeTest, EscapesMarkupQuotesAndControlBytes) {
  EXPECT_EQ(XmlEscape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(XmlEscape(std::string("a\x01z")), "a\xEF\xBF\xBDz");
}

TEST(SvgChartTest, LineSeriesHasOnePointPerRoundInsideTheViewBox) {
  const std::string svg = RenderSvgChart(Accuracy(12));
  EXPECT_THAT(svg, HasSubstr("viewBox=\"0 0 640 320\""));
  const auto points = FirstPolyline(svg);
  ASSERT_EQ(points.size(), 12u);
  for (size_t i = 0; i < points.size(); ++i) {
    EXPECT_GE(points[i].first, 0);
    EXPECT_LE(points[i].first, 640);
    EXPECT_GE(points[i].second, 0);
    EXPECT_LE(points[i].second, 320);
    if (i > 0) {
      EXPECT_GT(points[i].first, points[i - 1].first);    // x ascends
      EXPECT_LT(points[i].second, points[i - 1].second);  // rising value
    }
  }
}

TEST(SvgChartTest, MissingValueIsAGapNotAZero) {
  Chart c = Accuracy(4);
  c.series[0].y[2] = kNaN;
  EXPECT_EQ(FirstPolyline(RenderSvgChart(c)).size(), 3u);
}

TEST(SvgChartTest, TitleLabelsAndSeriesNamesAreEscaped) {
  Chart c = Accuracy(3);
  c.title = "<script>alert(1)</script>";
  c.y_label = "a&b";
  c.series[0].name = "\"><img src=x>";
  const std::string svg = RenderSvgChart(c);
  EXPECT_THAT(svg, Not(HasSubstr("<script")));
  EXPECT_THAT(svg, Not(HasSubstr("<img")));
  EXPECT_THAT(svg, HasSubstr("&lt;script&gt;"));
  EXPECT_THAT(svg, HasSubstr("a&amp;b"));
}

TEST(SvgChartTest, BarChartDrawsOneBarPerSeriesAndRound) {
  Chart c;
  c.kind = ChartKind::kBar;
  c.x = {1, 2, 3};
  c.series = {{"selected", {10, 11, 12}}, {"dropped", {0, 1, kNaN}}};
  const std::string svg = RenderSvgChart(c);
  const std::string bars = svg.substr(svg.find("<g class=\"bars\""));
  EXPECT_EQ(Count(bars, "<rect "), 5);  // the NaN has no bar
  EXPECT_EQ(Count(bars, "<g class=\"bars\""), 2);
  EXPECT_EQ(Count(svg, "<polyline"), 0);
}

TEST(SvgChartTest, ReferenceLineIsDrawnAndInTheLegendAndInRange) {
  Chart c = Accuracy(3);  // values below 0.6
  c.reference_lines.push_back({"budget", 2.0});
  const std::string svg = RenderSvgChart(c);
  EXPECT_EQ(Count(svg, "class=\"reference\""), 1);
  EXPECT_THAT(svg, HasSubstr(">budget</text>"));
  // The y axis reaches the budget: a tick at 2.
  EXPECT_THAT(svg, HasSubstr(">2.0</text>"));
}

TEST(SvgChartTest, ChartWithoutValuesSaysNoData) {
  Chart c = Accuracy(3);
  c.series[0].y = {kNaN, kNaN, kNaN};
  const std::string svg = RenderSvgChart(c);
  EXPECT_THAT(svg, HasSubstr("no data"));
  EXPECT_EQ(Count(svg, "<polyline"), 0);
}

TEST(SvgChartTest, LongLegendWrapsIntoMoreRowsAndLowersThePlot) {
  Chart one = Accuracy(3);
  Chart many = Accuracy(3);
  for (int i = 0; i < 8; ++i) {
    many.series.push_back(
        {"a fairly long series name " + std::to_string(i), many.series[0].y});
  }
  const auto top_one = FirstPolyline(RenderSvgChart(one));
  const auto top_many = FirstPolyline(RenderSvgChart(many));
  ASSERT_EQ(top_many.size(), 3u);
  // The highest point sits lower when the legend takes more rows.
  EXPECT_GT(top_many.back().second, top_one.back().second);
}

}  // namespace
}  // namespace fedlearn
