#include "server/report/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fedlearn {
namespace {

// Okabe-Ito: distinguishable with the common colour-vision deficiencies.
constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73",
                                    "#CC79A7", "#E69F00", "#56B4E9"};
constexpr const char* kReferenceColor = "#B22222";
constexpr double kCharWidth = 7.0;  // approximate, 12px sans-serif
constexpr double kLegendRowHeight = 18.0;

const char* SeriesColor(size_t i) {
  return kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))];
}

std::string Num(double v) { return absl::StrFormat("%.2f", v); }

// The plot area in pixels and the data domain it shows.
struct Frame {
  double left = 0, right = 0, top = 0, bottom = 0;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  double X(double x) const {
    return left + (x - x0) / (x1 - x0) * (right - left);
  }
  double Y(double y) const {
    return bottom - (y - y0) / (y1 - y0) * (bottom - top);
  }
};

struct LegendItem {
  std::string name;
  std::string color;
  bool dashed = false;
  bool bar = false;
};

double LegendItemWidth(const LegendItem& item) {
  return 26 + kCharWidth * static_cast<double>(item.name.size()) + 14;
}

// Rows of legend items that fit between `left` and `right`.
std::vector<std::vector<LegendItem>> LegendRows(
    const std::vector<LegendItem>& items, double left, double right) {
  std::vector<std::vector<LegendItem>> rows;
  double x = right;  // forces a first row
  for (const LegendItem& item : items) {
    const double w = LegendItemWidth(item);
    if (rows.empty() || x + w > right) {
      rows.emplace_back();
      x = left;
    }
    rows.back().push_back(item);
    x += w;
  }
  return rows;
}

std::string RenderLegend(const std::vector<std::vector<LegendItem>>& rows,
                         double left, double right, double first_y) {
  std::string out = "<g class=\"legend\" font-size=\"12\">";
  double y = first_y;
  for (const std::vector<LegendItem>& row : rows) {
    double x = left;
    for (const LegendItem& item : row) {
      if (item.bar) {
        absl::StrAppend(&out, "<rect x=\"", Num(x), "\" y=\"", Num(y - 9),
                        "\" width=\"18\" height=\"10\" fill=\"", item.color,
                        "\"/>");
      } else {
        absl::StrAppend(&out, "<line x1=\"", Num(x), "\" y1=\"", Num(y - 4),
                        "\" x2=\"", Num(x + 18), "\" y2=\"", Num(y - 4),
                        "\" stroke=\"", item.color, "\" stroke-width=\"2\"",
                        item.dashed ? " stroke-dasharray=\"6 4\"" : "", "/>");
      }
      // A name too long for its row is cut at the edge (inline SVG clips
      // to its box), never placed outside the viewBox.
      const double text_x = std::min(x + 24, right);
      absl::StrAppend(&out, "<text x=\"", Num(text_x), "\" y=\"", Num(y), "\">",
                      XmlEscape(item.name), "</text>");
      x += LegendItemWidth(item);
    }
    y += kLegendRowHeight;
  }
  return out + "</g>";
}

std::vector<LegendItem> LegendItems(const Chart& chart) {
  std::vector<LegendItem> items;
  for (size_t i = 0; i < chart.series.size(); ++i) {
    items.push_back({chart.series[i].name, SeriesColor(i), false,
                     chart.kind == ChartKind::kBar});
  }
  for (const ReferenceLine& r : chart.reference_lines) {
    items.push_back({r.name, kReferenceColor, true, false});
  }
  return items;
}

// [min, max] of the finite y values and reference lines; false if none.
bool YExtent(const Chart& chart, double* low, double* high) {
  *low = std::numeric_limits<double>::infinity();
  *high = -std::numeric_limits<double>::infinity();
  for (const ChartSeries& s : chart.series) {
    for (double y : s.y) {
      if (!std::isfinite(y)) continue;
      *low = std::min(*low, y);
      *high = std::max(*high, y);
    }
  }
  const bool has_data = std::isfinite(*low);
  for (const ReferenceLine& r : chart.reference_lines) {
    if (!std::isfinite(r.y)) continue;
    *low = std::min(*low, r.y);
    *high = std::max(*high, r.y);
  }
  if (!std::isfinite(*low)) *low = *high = 0;
  if (chart.y_from_zero || chart.kind == ChartKind::kBar) {
    *low = std::min(*low, 0.0);
    *high = std::max(*high, 0.0);
  }
  return has_data;
}

std::string RenderAxes(const Chart& chart, const Frame& f,
                       const std::vector<double>& x_ticks,
                       const std::vector<double>& y_ticks) {
  std::string out = "<g class=\"axes\" font-size=\"11\" fill=\"#333\">";
  const double y_step = y_ticks.size() > 1 ? y_ticks[1] - y_ticks[0] : 1;
  for (double t : y_ticks) {
    const double y = f.Y(t);
    absl::StrAppend(&out, "<line x1=\"", Num(f.left), "\" y1=\"", Num(y),
                    "\" x2=\"", Num(f.right), "\" y2=\"", Num(y),
                    "\" stroke=\"#e3e3e3\"/><text x=\"", Num(f.left - 6),
                    "\" y=\"", Num(y + 4), "\" text-anchor=\"end\">",
                    FormatTick(t, y_step), "</text>");
  }
  const double x_step = x_ticks.size() > 1 ? x_ticks[1] - x_ticks[0] : 1;
  for (double t : x_ticks) {
    if (t < f.x0 - 1e-9 || t > f.x1 + 1e-9) continue;
    const double x = f.X(t);
    absl::StrAppend(&out, "<line x1=\"", Num(x), "\" y1=\"", Num(f.bottom),
                    "\" x2=\"", Num(x), "\" y2=\"", Num(f.bottom + 5),
                    "\" stroke=\"#333\"/><text x=\"", Num(x), "\" y=\"",
                    Num(f.bottom + 18), "\" text-anchor=\"middle\">",
                    FormatTick(t, x_step), "</text>");
  }
  absl::StrAppend(&out, "<path d=\"M", Num(f.left), " ", Num(f.top), "V",
                  Num(f.bottom), "H", Num(f.right),
                  "\" fill=\"none\" stroke=\"#333\"/>");
  absl::StrAppend(&out, "<text x=\"", Num((f.left + f.right) / 2), "\" y=\"",
                  Num(chart.height - 8.0), "\" text-anchor=\"middle\">",
                  XmlEscape(chart.x_label), "</text>");
  absl::StrAppend(&out, "<text transform=\"translate(14 ",
                  Num((f.top + f.bottom) / 2),
                  ") rotate(-90)\" text-anchor=\"middle\">",
                  XmlEscape(chart.y_label), "</text>");
  return out + "</g>";
}

std::string RenderLines(const Chart& chart, const Frame& f) {
  std::string out;
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const ChartSeries& s = chart.series[i];
    std::string points, markers;
    int n = 0;
    for (size_t k = 0; k < s.y.size() && k < chart.x.size(); ++k) {
      if (!std::isfinite(s.y[k])) continue;
      const std::string xy = Num(f.X(chart.x[k])) + "," + Num(f.Y(s.y[k]));
      absl::StrAppend(&points, n++ == 0 ? "" : " ", xy);
      absl::StrAppend(&markers, "<circle cx=\"", Num(f.X(chart.x[k])),
                      "\" cy=\"", Num(f.Y(s.y[k])), "\" r=\"2.5\"/>");
    }
    if (n == 0) continue;
    absl::StrAppend(&out, "<polyline class=\"series\" data-series=\"",
                    XmlEscape(s.name), "\" points=\"", points,
                    "\" fill=\"none\" stroke=\"", SeriesColor(i),
                    "\" stroke-width=\"2\"/>");
    // Markers only where they stay apart.
    if (chart.x.size() <= 60) {
      absl::StrAppend(&out, "<g fill=\"", SeriesColor(i), "\">", markers,
                      "</g>");
    }
  }
  return out;
}

std::string RenderBars(const Chart& chart, const Frame& f) {
  std::string out;
  const size_t groups = std::max<size_t>(chart.series.size(), 1);
  // x is whole rounds; with few rounds, bars stay bars, not slabs.
  const double slot =
      std::min((f.X(1) - f.X(0)) * 0.8, 32.0 * static_cast<double>(groups));
  const double bar = slot / static_cast<double>(groups);
  for (size_t i = 0; i < chart.series.size(); ++i) {
    absl::StrAppend(&out, "<g class=\"bars\" fill=\"", SeriesColor(i), "\">");
    const ChartSeries& s = chart.series[i];
    for (size_t k = 0; k < s.y.size() && k < chart.x.size(); ++k) {
      if (!std::isfinite(s.y[k])) continue;
      const double x =
          f.X(chart.x[k]) - slot / 2 + bar * static_cast<double>(i);
      const double top = std::min(f.Y(s.y[k]), f.Y(0));
      const double h = std::abs(f.Y(s.y[k]) - f.Y(0));
      absl::StrAppend(&out, "<rect x=\"", Num(x), "\" y=\"", Num(top),
                      "\" width=\"", Num(std::max(bar - 0.5, 0.5)),
                      "\" height=\"", Num(h), "\"/>");
    }
    out += "</g>";
  }
  return out;
}

std::string RenderReferenceLines(const Chart& chart, const Frame& f) {
  std::string out;
  for (const ReferenceLine& r : chart.reference_lines) {
    if (!std::isfinite(r.y)) continue;
    absl::StrAppend(&out, "<line class=\"reference\" x1=\"", Num(f.left),
                    "\" y1=\"", Num(f.Y(r.y)), "\" x2=\"", Num(f.right),
                    "\" y2=\"", Num(f.Y(r.y)), "\" stroke=\"", kReferenceColor,
                    "\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>");
  }
  return out;
}

// The plot frame: margins around the legend rows, domains from the ticks.
Frame MakeFrame(const Chart& chart, size_t legend_rows,
                const std::vector<double>& y_ticks) {
  Frame f;
  f.left = 70;
  f.right = chart.width - 20.0;
  f.top = 34 + kLegendRowHeight * static_cast<double>(legend_rows) + 6;
  f.bottom = chart.height - 44.0;
  f.y0 = y_ticks.front();
  f.y1 = y_ticks.back();
  double x_low = chart.x.empty() ? 1 : chart.x.front();
  double x_high = chart.x.empty() ? 1 : chart.x.back();
  if (chart.kind == ChartKind::kBar) {
    x_low -= 0.5;
    x_high += 0.5;
  } else if (x_low == x_high) {
    x_low -= 0.5;
    x_high += 0.5;
  }
  f.x0 = x_low;
  f.x1 = x_high;
  return f;
}

}  // namespace

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        // Control characters other than tab/newline are not valid XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += "\xEF\xBF\xBD";  // U+FFFD
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::vector<double> NiceTicks(double low, double high, int max_ticks,
                              bool integer) {
  if (!std::isfinite(low) || !std::isfinite(high)) low = high = 0;
  if (low > high) std::swap(low, high);
  if (low == high) {
    const double pad = integer ? 1 : (low == 0 ? 1 : std::abs(low) * 0.1);
    low -= pad;
    high += pad;
    if (low < 0 && low + pad >= 0) low = 0;  // keep a 0..x axis at 0
  }
  const int intervals = std::max(max_ticks - 1, 1);
  const double raw = (high - low) / intervals;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  double step = magnitude * 10;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (magnitude * m >= raw - 1e-12 * raw) {
      step = magnitude * m;
      break;
    }
  }
  if (integer) step = std::max(1.0, std::round(step));
  const double first = std::floor(low / step + 1e-9) * step;
  const double last = std::ceil(high / step - 1e-9) * step;
  std::vector<double> ticks;
  const int count = static_cast<int>(std::llround((last - first) / step));
  for (int i = 0; i <= count; ++i) {
    const double t = first + step * i;
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string FormatTick(double value, double step) {
  if (value == 0) return "0";
  if (std::abs(value) >= 1e7 || (step > 0 && step < 1e-4)) {
    return absl::StrFormat("%.3g", value);
  }
  int decimals = 0;
  if (step > 0 && step < 1) {
    decimals = static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
    // 0.25 steps need two decimals, not one.
    const double scaled = step * std::pow(10, decimals);
    if (std::abs(scaled - std::round(scaled)) > 1e-6) ++decimals;
  }
  return absl::StrFormat("%.*f", decimals, value);
}

std::string RenderSvgChart(const Chart& chart) {
  const std::vector<LegendItem> items = LegendItems(chart);
  const auto rows = LegendRows(items, 70, chart.width - 20.0);
  double y_low, y_high;
  const bool has_data = YExtent(chart, &y_low, &y_high);
  const std::vector<double> y_ticks = NiceTicks(y_low, y_high, 6, false);
  const Frame f = MakeFrame(chart, rows.size(), y_ticks);
  const std::vector<double> x_ticks =
      NiceTicks(f.x0, f.x1, 11, chart.x_integer);
  std::string out = absl::StrCat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 "
      "0 ",
      chart.width, " ", chart.height, "\" width=\"", chart.width,
      "\" height=\"", chart.height,
      "\" role=\"img\" font-family=\"Helvetica, Arial, sans-serif\"><title>",
      XmlEscape(chart.title), "</title>");
  absl::StrAppend(&out, "<text x=\"", Num(chart.width / 2.0),
                  "\" y=\"20\" text-anchor=\"middle\" font-size=\"15\" "
                  "font-weight=\"bold\">",
                  XmlEscape(chart.title), "</text>");
  out += RenderLegend(rows, f.left, f.right, 42);
  out += RenderAxes(chart, f, x_ticks, y_ticks);
  out += chart.kind == ChartKind::kBar ? RenderBars(chart, f)
                                       : RenderLines(chart, f);
  out += RenderReferenceLines(chart, f);
  if (!has_data) {
    absl::StrAppend(&out, "<text x=\"", Num((f.left + f.right) / 2), "\" y=\"",
                    Num((f.top + f.bottom) / 2),
                    "\" text-anchor=\"middle\" fill=\"#777\">no data</text>");
  }
  return out + "</svg>";
}

}  // namespace fedlearn
