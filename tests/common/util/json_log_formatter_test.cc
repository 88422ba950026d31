// common/util/json_log_formatter.h and ConfigureLogging's formats: every
// record is one line holding one valid JSON object, whatever the message.
#include "common/util/json_log_formatter.h"

#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "common/util/log.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/ostream_sink.h"

namespace fedlearn {
namespace {

using nlohmann::json;

// A logger named `name` writing JSON records into a string stream.
class JsonCapture {
 public:
  explicit JsonCapture(const std::string& name)
      : sink_(std::make_shared<spdlog::sinks::ostream_sink_st>(out_)),
        logger_(name, sink_) {
    logger_.set_formatter(std::make_unique<JsonLogFormatter>());
    logger_.set_level(spdlog::level::trace);
  }
  spdlog::logger& logger() { return logger_; }
  std::vector<std::string> Lines() const {
    std::vector<std::string> lines;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  std::string Text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_st> sink_;
  spdlog::logger logger_;
};

// The one record `message` makes, parsed (fails the test if it is not
// exactly one line of valid JSON).
json LogOne(const std::string& message) {
  JsonCapture capture("fedlearn");
  capture.logger().info("{}", message);
  const std::vector<std::string> lines = capture.Lines();
  EXPECT_EQ(lines.size(), 1u) << capture.Text();
  EXPECT_EQ(capture.Text().back(), '\n');
  if (lines.empty()) return json();
  // nlohmann rejects control characters and ill-formed UTF-8 in strings.
  return json::parse(lines[0]);
}

TEST(JsonLogFormatterTest, RecordHasTheShipperFields) {
  JsonCapture capture("fedlearn-test");
  capture.logger().warn("round {} closed", 3);
  ASSERT_EQ(capture.Lines().size(), 1u);
  const json record = json::parse(capture.Lines()[0]);
  ASSERT_TRUE(record.is_object());
  EXPECT_EQ(record["msg"], "round 3 closed");
  EXPECT_EQ(record["level"], "warning");
  EXPECT_EQ(record["logger"], "fedlearn-test");
  EXPECT_TRUE(record["pid"].is_number_integer());
  EXPECT_GT(record["pid"].get<int64_t>(), 0);
  EXPECT_TRUE(record["thread"].is_number_integer());
  EXPECT_FALSE(record.contains("source"));  // spdlog::info gives none
  const std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  EXPECT_TRUE(std::regex_match(record["ts"].get<std::string>(), rfc3339))
      << record["ts"];
}

TEST(JsonLogFormatterTest, EachLevelKeepsItsName) {
  JsonCapture capture("fedlearn");
  capture.logger().trace("t");
  capture.logger().debug("d");
  capture.logger().info("i");
  capture.logger().error("e");
  capture.logger().critical("c");
  std::vector<std::string> levels;
  for (const std::string& line : capture.Lines()) {
    levels.push_back(json::parse(line)["level"].get<std::string>());
  }
  EXPECT_EQ(levels, (std::vector<std::string>{"trace", "debug", "info", "error",
                                              "critical"}));
}

TEST(JsonLogFormatterTest, SourceLocationWhenTheCallSiteGivesIt) {
  JsonCapture capture("fedlearn");
  SPDLOG_LOGGER_INFO(&capture.logger(), "with a location");
  const json record = json::parse(capture.Lines().at(0));
  const std::string source = record.at("source").get<std::string>();
  EXPECT_NE(source.find("json_log_formatter_test.cc:"), std::string::npos)
      << source;
}

TEST(JsonLogFormatterTest, QuotesBackslashesNewlinesAndTabsRoundTrip) {
  const std::string message = "client \"a\\b\" said:\nline two\r\n\tindented";
  EXPECT_EQ(LogOne(message)["msg"], message);
}

TEST(JsonLogFormatterTest, ControlCharactersAreEscapedNotEmitted) {
  const std::string message = std::string("bell\x01\x07nul") +
                              std::string(1, '\0') + "del\x7f" + "\x1b[31m";
  JsonCapture capture("fedlearn");
  capture.logger().info("{}", message);
  const std::string text = capture.Text();
  for (size_t i = 0; i + 1 < text.size(); ++i) {  // all but the final '\n'
    const unsigned char c = static_cast<unsigned char>(text[i]);
    EXPECT_TRUE(c >= 0x20 && c != 0x7f) << "raw byte " << int(c) << " at " << i;
  }
  EXPECT_EQ(json::parse(capture.Lines().at(0))["msg"], message);
}

TEST(JsonLogFormatterTest, InvalidUtf8BytesBecomeHexEscapes) {
  // A lone continuation byte, a truncated sequence, an overlong '/', a
  // UTF-16 surrogate, a code point above U+10FFFF, and 0xFF.
  const std::string message =
      "a\x80"
      "b\xE2\x82"
      "c\xC0\xAF"
      "d\xED\xA0\x80"
      "e\xF4\x90\x80\x80"
      "f\xFF";
  EXPECT_EQ(LogOne(message)["msg"],
            "a\\x80b\\xe2\\x82c\\xc0\\xafd\\xed\\xa0\\x80e\\xf4\\x90\\x80"
            "\\x80f\\xff");
}

TEST(JsonLogFormatterTest, WellFormedUtf8PassesThrough) {
  const std::string message =
      "Zürich \xE2\x82\xAC \xF0\x9F\x8F\xA5 \xEF\xBF\xBF";
  EXPECT_EQ(LogOne(message)["msg"], message);
}

TEST(JsonLogFormatterTest, EveryByteValueGivesValidJson) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  const json record = LogOne(all + all);
  EXPECT_TRUE(record["msg"].is_string());
}

TEST(JsonLogFormatterTest, AppendJsonStringQuotesAndEscapes) {
  std::string out;
  AppendJsonString("a\"b\x01", &out);
  EXPECT_EQ(out, "\"a\\\"b\\u0001\"");
}

TEST(ConfigureLoggingTest, UnknownFormatIsRefusedNamingTheChoices) {
  absl::Status s = ConfigureLogging("info", "xml");
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("text, json"), std::string::npos) << s;
  EXPECT_NE(s.message().find("xml"), std::string::npos) << s;
}

TEST(ConfigureLoggingTest, JsonThenTextReplacesTheLogger) {
  ASSERT_TRUE(ConfigureLogging("debug", "json").ok());
  EXPECT_TRUE(LoggingAsJson());
  EXPECT_EQ(spdlog::default_logger()->name(), "fedlearn");
  EXPECT_EQ(spdlog::get_level(), spdlog::level::debug);
  ConfigureLogging("warn");  // the one-argument form: text
  EXPECT_FALSE(LoggingAsJson());
  EXPECT_EQ(spdlog::get_level(), spdlog::level::warn);
}

}  // namespace
}  // namespace fedlearn
