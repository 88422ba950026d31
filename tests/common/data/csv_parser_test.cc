// RFC 4180 cases for the libcsv-backed parser.
#include "common/data/csv_parser.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/data/scratch_dir.h"

namespace fedlearn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Parsed {
  absl::Status status;
  std::vector<std::vector<std::string>> records;
  std::vector<size_t> lines;
};

Parsed Parse(const std::string& text, char delimiter = ',') {
  Parsed out;
  out.status =
      ParseCsvText(text, "mem.csv", delimiter, [&out](const CsvRecord& r) {
        out.records.push_back(r.fields);
        out.lines.push_back(r.line);
        return absl::OkStatus();
      });
  return out;
}

using Row = std::vector<std::string>;

TEST(CsvParserTest, QuotedFieldsHoldDelimitersDoubledQuotesAndLineBreaks) {
  // RFC 4180 section 2, rules 5 to 7.
  const Parsed p = Parse(
      "name,note\n"
      "\"Smith, J\",\"said \"\"hi\"\"\"\n"
      "\"two\nlines\",\"\"\n");
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_THAT(p.records,
              ElementsAre(Row{"name", "note"}, Row{"Smith, J", "said \"hi\""},
                          Row{"two\nlines", ""}));
  EXPECT_THAT(p.lines, ElementsAre(1, 2, 3));
}

TEST(CsvParserTest, AcceptsCrlfAndAMissingFinalLineBreak) {
  // RFC 4180 section 2, rules 1 and 2.
  const Parsed p = Parse("a,b\r\n1,2\r\n3,4");
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_THAT(p.records,
              ElementsAre(Row{"a", "b"}, Row{"1", "2"}, Row{"3", "4"}));
}

TEST(CsvParserTest, CrlfInsideAQuotedFieldIsKept) {
  const Parsed p = Parse("a\r\n\"x\r\ny\"\r\n");
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_THAT(p.records, ElementsAre(Row{"a"}, Row{"x\r\ny"}));
}

TEST(CsvParserTest, SkipsBlankLinesAndNumbersRecordsByTheirFirstLine) {
  const Parsed p = Parse("a,b\n\n  \n\"multi\nline\",1\n\r\n2,3\n");
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_THAT(p.records, ElementsAre(Row{"a", "b"}, Row{"multi\nline", "1"},
                                     Row{"2", "3"}));
  EXPECT_THAT(p.lines, ElementsAre(1, 4, 7));
}

TEST(CsvParserTest, DropsAUtf8ByteOrderMarkBeforeTheHeader) {
  const Parsed p = Parse("\xEF\xBB\xBFid,label\n1,x\n");
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_THAT(p.records[0], ElementsAre("id", "label"));
}

TEST(CsvParserTest, HonoursSemicolonTabAndPipeDelimiters) {
  EXPECT_THAT(Parse("a;b\n\"1,5\";2\n", ';').records,
              ElementsAre(Row{"a", "b"}, Row{"1,5", "2"}));
  EXPECT_THAT(Parse("a\tb\n1\t\t\n", '\t').records,
              ElementsAre(Row{"a", "b"}, Row{"1", "", ""}));
  EXPECT_THAT(Parse("a|b,c\n", '|').records, ElementsAre(Row{"a", "b,c"}));
}

TEST(CsvParserTest, TrimsUnquotedSpacesButKeepsQuotedOnes) {
  const Parsed p = Parse("  a  , \" b \" ,c\n");
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_THAT(p.records, ElementsAre(Row{"a", " b ", "c"}));
}

TEST(CsvParserTest, KeepsEmptyFields) {
  EXPECT_THAT(Parse("a,,\n,\"\",\n").records,
              ElementsAre(Row{"a", "", ""}, Row{"", "", ""}));
}

TEST(CsvParserTest, RefusesAnUnterminatedQuoteNamingTheLineWhereItOpened) {
  const Parsed p = Parse("a,b\n1,2\n3,\"open\nmore\nstill\n");
  EXPECT_EQ(p.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status.message(), HasSubstr("mem.csv: line 3: quoted field "
                                            "is never closed"));
  const Parsed no_final_break = Parse("a\n\"x\ny");
  EXPECT_THAT(no_final_break.status.message(),
              HasSubstr("line 2: quoted field is never closed"));
}

TEST(CsvParserTest, RefusesStrayQuotesNamingTheLine) {
  EXPECT_THAT(Parse("a,b\n1,ab\"c\n").status.message(),
              HasSubstr("mem.csv: line 2: malformed quoting"));
  EXPECT_THAT(Parse("a,b\n\n1,\"ab\"c\n").status.message(),
              HasSubstr("line 3: malformed quoting"));
}

TEST(CsvParserTest, RefusesDelimitersThatCannotSeparateFields) {
  for (char d : {'"', '\n', '\r', ' ', '\0'}) {
    EXPECT_EQ(ValidateCsvDelimiter(d).code(),
              absl::StatusCode::kInvalidArgument)
        << static_cast<int>(d);
  }
  EXPECT_TRUE(ValidateCsvDelimiter('\t').ok());
  EXPECT_THAT(Parse("a\n", '"').status.message(), HasSubstr("mem.csv"));
}

TEST(CsvParserTest, AVisitorErrorStopsTheParse) {
  int seen = 0;
  const absl::Status s =
      ParseCsvText("a\nb\nc\n", "mem.csv", ',', [&seen](const CsvRecord&) {
        return ++seen == 2 ? absl::CancelledError("enough") : absl::OkStatus();
      });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(seen, 2);
}

TEST(CsvParserTest, QuotedExcerptEscapesAndTruncates) {
  EXPECT_EQ(QuotedExcerpt("a\"b\n"), "\"a\\\"b\\n\"");
  const std::string huge(1 << 20, 'x');
  const std::string excerpt = QuotedExcerpt(huge);
  EXPECT_LT(excerpt.size(), 80u);
  EXPECT_THAT(excerpt, HasSubstr("...\" (1048576 bytes)"));
}

class CsvFileParserTest : public ScratchDirTest {};

TEST_F(CsvFileParserTest, FileAndTextParsesAgree) {
  const std::string bytes =
      "\xEF\xBB\xBF"
      "id;\"note\"\r\n\r\n7;\"a;b\r\nc\"\r\n8;x";
  std::vector<Row> from_file;
  std::vector<size_t> lines;
  ASSERT_TRUE(ParseCsvFile(Write(bytes), ';', [&](const CsvRecord& r) {
                from_file.push_back(r.fields);
                lines.push_back(r.line);
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(from_file, Parse(bytes, ';').records);
  EXPECT_THAT(from_file, ElementsAre(Row{"id", "note"}, Row{"7", "a;b\r\nc"},
                                     Row{"8", "x"}));
  EXPECT_THAT(lines, ElementsAre(1, 3, 5));
}

TEST_F(CsvFileParserTest, MissingFileIsNotFoundAndNamed) {
  const std::string missing = (dir_ / "absent.csv").string();
  const absl::Status s = ParseCsvFile(
      missing, ',', [](const CsvRecord&) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr(missing));
}

}  // namespace
}  // namespace fedlearn
