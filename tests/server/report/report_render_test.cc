// The generated report as a browser and an XML parser see it: every SVG
// parses and stays inside its viewBox with one point per round
// (check_report_svgs.py), and headless Chromium (Debian's `chromium`)
// renders the page to a screenshot of the requested size that is not blank.
#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/report/report_html.h"
#include "server/report/run_report.h"
#include "tests/e2e/process.h"
#include "tests/server/report/report_fixture.h"
#include "tests/test_util/temp_dir.h"

namespace fedlearn {
namespace {

using testing_e2e::Process;
using testing_report::RunFixture;
using testing_report::WriteFile;
using testing_report::WriteStateDir;
using testing_util::ScopedTempDir;
using namespace std::chrono_literals;

constexpr int kRounds = 12;
constexpr int kWidth = 1280;
constexpr int kHeight = 2000;

// A DP run with a retried round: every chart the report can draw.
std::string WriteReport(const ScopedTempDir& dir) {
  RunFixture f;
  f.dp = true;
  f.rounds = kRounds;
  f.retried_round = 4;
  WriteStateDir(dir.path(), f);
  absl::StatusOr<RunReport> r = LoadRunReport(dir.path());
  EXPECT_TRUE(r.ok()) << r.status();
  const std::string path = dir.File("report.html");
  WriteFile(path, BuildReportHtml(*r, {"test", "now"}));
  return path;
}

// Exit code of the SVG checker on `html` (its output in *out).
int CheckSvgs(const ScopedTempDir& dir, const std::string& html, int min_charts,
              std::string* out) {
  Process p({"/usr/bin/python3",
             std::string(FEDLEARN_SOURCE_DIR) +
                 "/tests/server/report/check_report_svgs.py",
             html, std::to_string(kRounds), std::to_string(min_charts)},
            dir.File("check"));
  const std::optional<int> code = p.Wait(30s);
  *out = p.Stdout() + p.Stderr();
  return code.value_or(-1);
}

TEST(ReportRenderTest, EverySvgParsesWithOnePointPerRoundInsideItsViewBox) {
  ScopedTempDir dir;
  const std::string html = WriteReport(dir);
  std::string out;
  // Accuracy, loss, epsilon, clip norm, clients, duration, attempts.
  EXPECT_EQ(CheckSvgs(dir, html, 7, &out), 0) << out;
  EXPECT_NE(out.find("7 charts"), std::string::npos) << out;
}

TEST(ReportRenderTest, SvgCheckerCatchesAPointOutsideTheViewBox) {
  ScopedTempDir dir;
  const std::string html = WriteReport(dir);
  std::ifstream in(html);
  std::stringstream text;
  text << in.rdbuf();
  // Moves the first point of the first series far below the chart.
  const std::string broken = std::regex_replace(
      text.str(),
      std::regex("(class=\"series\"[^>]* points=\")[0-9.]+,[0-9.]+"),
      "$01100.00,9999.00", std::regex_constants::format_first_only);
  ASSERT_NE(broken, text.str());
  WriteFile(dir.File("broken.html"), broken);
  std::string out;
  EXPECT_EQ(CheckSvgs(dir, dir.File("broken.html"), 7, &out), 1) << out;
  EXPECT_NE(out.find("outside the viewBox"), std::string::npos) << out;
}

struct Png {
  uint32_t width = 0, height = 0;
  uintmax_t bytes = 0;
};

// The size from the PNG's IHDR chunk (bytes 16..23, big-endian).
Png ReadPng(const std::string& path) {
  Png png;
  std::ifstream in(path, std::ios::binary);
  unsigned char head[24] = {};
  in.read(reinterpret_cast<char*>(head), sizeof(head));
  static const unsigned char kSignature[8] = {0x89, 'P',  'N',  'G',
                                              '\r', '\n', 0x1a, '\n'};
  if (!in || std::memcmp(head, kSignature, 8) != 0 ||
      std::memcmp(head + 12, "IHDR", 4) != 0) {
    return png;
  }
  auto be32 = [&head](int at) {
    return (uint32_t{head[at]} << 24) | (uint32_t{head[at + 1]} << 16) |
           (uint32_t{head[at + 2]} << 8) | uint32_t{head[at + 3]};
  };
  png.width = be32(16);
  png.height = be32(20);
  png.bytes = std::filesystem::file_size(path);
  return png;
}

// Headless Chromium's screenshot of `html` (a temporary profile, no
// network: the page fetches nothing). No session or system bus, no
// /dev/shm, no component updater: start-up work that does not draw the page
// and that made a loaded CI machine take over 30 s before the first line of
// output. The bound is generous because the machine is shared with the rest
// of the suite; an unloaded start takes about 2 s.
Png Screenshot(const ScopedTempDir& dir, const std::string& html,
               const std::string& name) {
  const std::string png = dir.File(name + ".png");
  Process p({"/usr/bin/env",
             "DBUS_SESSION_BUS_ADDRESS=disabled:",
             "DBUS_SYSTEM_BUS_ADDRESS=disabled:",
             "/usr/bin/chromium",
             "--headless",
             "--no-sandbox",
             "--disable-gpu",
             "--disable-dev-shm-usage",
             "--hide-scrollbars",
             "--no-first-run",
             "--no-default-browser-check",
             "--disable-extensions",
             "--disable-component-update",
             "--disable-background-networking",
             "--disable-sync",
             "--enable-logging=stderr",
             "--user-data-dir=" + dir.File(name + "-profile"),
             "--screenshot=" + png,
             "--window-size=" + std::to_string(kWidth) + "," +
                 std::to_string(kHeight),
             "file://" + html},
            dir.File(name + "-chromium"));
  const auto start = std::chrono::steady_clock::now();
  const std::optional<int> code = p.Wait(150s);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  EXPECT_EQ(code, 0) << name << " after " << took.count() << " ms\n"
                     << p.Stdout() << p.Stderr();
  return ReadPng(png);
}

TEST(ReportRenderTest, HeadlessChromiumScreenshotsTheReportAndItIsNotBlank) {
  ScopedTempDir dir;
  const std::string html = WriteReport(dir);
  WriteFile(dir.File("blank.html"),
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>"
            "<body></body></html>\n");
  const Png report = Screenshot(dir, html, "report");
  const Png blank = Screenshot(dir, dir.File("blank.html"), "blank");
  EXPECT_EQ(report.width, static_cast<uint32_t>(kWidth));
  EXPECT_EQ(report.height, static_cast<uint32_t>(kHeight));
  ASSERT_GT(blank.bytes, 0u);
  // A blank page compresses to a few KB; the charts, text and table of the
  // report to many times that.
  EXPECT_GT(report.bytes, 5 * blank.bytes)
      << "report " << report.bytes << " bytes, blank page " << blank.bytes;
}

}  // namespace
}  // namespace fedlearn
