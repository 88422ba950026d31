// A small SVG chart writer for the run report: line and grouped-bar charts
// of per-round values, with axes, round-number ticks, axis labels, a legend,
// a title and optional horizontal reference lines (e.g. a privacy budget).
//
// Guarantees: the output is one well-formed, self-contained <svg> element
// (no scripts, no external references) with a viewBox of
// "0 0 width height"; every coordinate it writes lies inside that box; every
// piece of text (title, labels, series names) is XML-escaped. A line series
// is one <polyline class="series"> with one point per finite value, in x
// order; non-finite values are left out (a gap, not a zero).
// Refuses nothing: an empty chart (no finite value) still renders axes and
// says "no data".
// Thread-safety: pure functions, safe from any thread.
#ifndef FEDLEARN_SERVER_REPORT_SVG_CHART_H_
#define FEDLEARN_SERVER_REPORT_SVG_CHART_H_

#include <string>
#include <string_view>
#include <vector>

namespace fedlearn {

enum class ChartKind { kLine, kBar };

struct ChartSeries {
  std::string name;
  // y[i] belongs to x[i] of the chart; NaN = no value at that x.
  std::vector<double> y;
};

// A horizontal line across the plot (drawn dashed, named in the legend).
struct ReferenceLine {
  std::string name;
  double y = 0;
};

struct Chart {
  std::string title;
  std::string x_label = "round";
  std::string y_label;
  ChartKind kind = ChartKind::kLine;
  std::vector<double> x;  // ascending; shared by every series
  std::vector<ChartSeries> series;
  std::vector<ReferenceLine> reference_lines;
  bool y_from_zero = false;  // include 0 in the y range (always for bars)
  bool x_integer = true;     // x ticks on whole numbers only
  int width = 640;
  int height = 320;
};

// Escapes & < > " ' for XML/HTML text and attribute values.
std::string XmlEscape(std::string_view text);

// "Nice" tick values (1, 2, 5 x 10^k steps) covering [low, high], at most
// about `max_ticks` of them, first <= low and last >= high. With `integer`,
// the step is at least 1. low == high is widened around the value.
std::vector<double> NiceTicks(double low, double high, int max_ticks,
                              bool integer);

// A tick label: as few decimals as `step` needs ("0.25", "10", "1.5e-05").
std::string FormatTick(double value, double step);

// The chart as an <svg> element (see the contract above).
std::string RenderSvgChart(const Chart& chart);

}  // namespace fedlearn

#endif  // FEDLEARN_SERVER_REPORT_SVG_CHART_H_
