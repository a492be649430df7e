// DESIGN §2: the version hash is byte-identical to the master's Python
// function. The public vectors were computed by the master itself; the other
// expectations below were printed by CPython 3.11's json module.

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "agent/canonical_json.h"

namespace edge {
namespace {

using namespace std::string_view_literals;

struct Vector {
  std::string name;
  std::string category;
  std::string input;
  std::string sha256;
};

std::vector<Vector> load_vectors() {
  std::vector<Vector> out;
  std::ifstream in(std::string(EDGE_TEST_VECTORS) + "/canonical_hash_public.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    out.push_back({j.at("name").get<std::string>(), j.at("category").get<std::string>(),
                   j.at("input").get<std::string>(), j.at("sha256").get<std::string>()});
  }
  return out;
}

class PublicVector : public ::testing::TestWithParam<Vector> {};

TEST(PublicVectors, FileHoldsAllSixtyVectors) { EXPECT_EQ(load_vectors().size(), 60u); }

TEST_P(PublicVector, HashesLikeTheMaster) {
  const Vector& v = GetParam();
  const CanonicalResult r = canonical_hash(v.input);
  if (v.category == "extended" && !r.ok) {
    // Allowed by DESIGN §2: a clear rejection, never a different hash.
    EXPECT_NE(r.error.find("at byte offset"), std::string::npos) << r.error;
    return;
  }
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text, v.sha256);
}

INSTANTIATE_TEST_SUITE_P(Vectors, PublicVector, ::testing::ValuesIn(load_vectors()),
                         [](const ::testing::TestParamInfo<Vector>& info) {
                           std::string name = info.param.category + "_" + info.param.name;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

std::string canon(std::string_view text) {
  const CanonicalResult r = canonical_json(text);
  EXPECT_TRUE(r.ok) << "input: " << text << " error: " << r.error;
  return r.text;
}

std::string rejection(std::string_view text) {
  const CanonicalResult r = canonical_json(text);
  EXPECT_FALSE(r.ok) << "accepted: " << r.text;
  EXPECT_TRUE(r.text.empty());
  return r.error;
}

TEST(CanonicalJson, SortsKeysOfNestedObjectsAtEveryLevel) {
  EXPECT_EQ(canon(R"({"b":{"d":1,"c":{"f":1,"e":2}},"a":[{"q":1,"p":2}]})"),
            R"({"a":[{"p":2,"q":1}],"b":{"c":{"e":2,"f":1},"d":1}})");
}

TEST(CanonicalJson, StripsVolatileKeysInsideArraysAndNestedObjects) {
  EXPECT_EQ(canon(R"([{"status":1,"k":[{"x":1,"version":2,"keep":3,"h":{"w":0}}],)"
                  R"("created_at":"t","status_changed_at":0,"updated_at":0,"last_seen":0,)"
                  R"("last_error":null,"y":0,"z":{"last_error":"e","statusx":1}}])"),
            R"([{"k":[{"keep":3}],"z":{"statusx":1}}])");
}

TEST(CanonicalJson, StripsKeysSpelledWithEscapes) {
  EXPECT_EQ(canon(R"({"st\u0061tus":1,"\u0078":2,"a":3})"), R"({"a":3})");
}

TEST(CanonicalJson, LastDuplicateKeyWins) {
  EXPECT_EQ(canon(R"({"a":1,"b":0,"a":{"status":1,"k":2}})"), R"({"a":{"k":2},"b":0})");
  EXPECT_EQ(canon(R"({"k":1,"\u006b":2})"), R"({"k":2})");
}

TEST(CanonicalJson, SortsKeysByCodePointNotUtf16Unit) {
  // UTF-16 order would put U+1F600 (d83d de00) before U+E000 and U+FFFF;
  // Python compares code points.
  EXPECT_EQ(canon(R"({"\ue000":1,"😀":2,"\uffff":3,"\ud800":4,"z":5})"),
            R"({"z":5,"\ud800":4,"\ue000":1,"\uffff":3,"\ud83d\ude00":2})");
}

TEST(CanonicalJson, EscapesStringsAsEnsureAscii) {
  EXPECT_EQ(
      canon("\"q\\\" b\\\\ s/ \\/ \\t\\n\\r\\b\\f \\u0000\\u001F\x7f\\u007F é 名 😀 \\u2028\""),
      R"("q\" b\\ s/ / \t\n\r\b\f \u0000\u001f\u007f\u007f \u00e9 \u540d \ud83d\ude00 \u2028")");
}

TEST(CanonicalJson, KeepsLoneSurrogatesAndJoinsEscapedPairs) {
  EXPECT_EQ(canon(R"(["\ud800","\uDC00","\ud83d\ude00","\ud800\u0041","\ud800\ud800\udc00"])"),
            R"(["\ud800","\udc00","\ud83d\ude00","\ud800A","\ud800\ud800\udc00"])");
}

TEST(CanonicalJson, PrintsIntegersOfAnySizeExactly) {
  EXPECT_EQ(canon("[0,-0,1,-1,18446744073709551616,-9223372036854775809,"
                  "123456789012345678901234567890]"),
            "[0,0,1,-1,18446744073709551616,-9223372036854775809,"
            "123456789012345678901234567890]");
  const std::string limit(4300, '7');
  EXPECT_EQ(canon("-" + limit), "-" + limit);
}

TEST(CanonicalJson, RejectsIntegersPythonRefusesToConvert) {
  EXPECT_EQ(rejection("[" + std::string(4301, '1') + "]"),
            "invalid JSON: integer of 4301 digits exceeds Python's limit of 4300 digits at byte "
            "offset 1");
}

TEST(CanonicalJson, PrintsFloatsAsPythonRepr) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"1e15", "1000000000000000.0"},
      {"1e16", "1e+16"},
      {"-1e15", "-1000000000000000.0"},
      {"1e-05", "1e-05"},
      {"0.0001", "0.0001"},
      {"1.5e-7", "1.5e-07"},
      {"5e-324", "5e-324"},
      {"0.0", "0.0"},
      {"-0.0", "-0.0"},
      {"1E400", "Infinity"},
      {"-1E400", "-Infinity"},
      {"1e-400", "0.0"},
      {"-1e-400", "-0.0"},
      {"1e22", "1e+22"},
      {"123456789012345.6", "123456789012345.6"},
      {"0.1", "0.1"},
      {"0.30000000000000004", "0.30000000000000004"},
      {"2.5e+3", "2500.0"},
      {"1e0", "1.0"},
      {"12345678901234567890.0", "1.2345678901234567e+19"},
      {"9999999999999998.0", "9999999999999998.0"},
      {"1.7976931348623157e308", "1.7976931348623157e+308"},
      {"NaN", "NaN"},
      {"Infinity", "Infinity"},
      {"-Infinity", "-Infinity"},
  };
  for (const auto& [in, out] : cases) EXPECT_EQ(canon(in), out) << "input: " << in;
}

TEST(CanonicalJson, AcceptsRfc8259WhitespaceOnly) {
  EXPECT_EQ(canon(" \t\r\n{ \"a\" :\n[ 1 ,\t2 ] } \n"), R"({"a":[1,2]})");
  EXPECT_EQ(rejection("{\v}"),
            "invalid JSON: expected a string key in object, found byte 0x0B "
            "at byte offset 1");
}

TEST(CanonicalJson, RejectsNestingDeeperThanTheCapQuicklyAndWithoutCrashing) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(rejection(std::string(100000, '[')),
            "invalid JSON: nesting deeper than 64 levels at byte offset 64");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(CanonicalJson, AcceptsExactlyTheMaximumDepth) {
  const std::string deepest =
      std::string(kMaxJsonDepth - 1, '[') + "{}" + std::string(kMaxJsonDepth - 1, ']');
  EXPECT_EQ(canon(deepest), deepest);
  EXPECT_EQ(rejection("[" + deepest + "]"),
            "invalid JSON: nesting deeper than 64 levels at byte offset 64");
}

TEST(CanonicalJson, RejectsInvalidUtf8) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"\"a\xC3\x28\"", "invalid JSON: invalid UTF-8 at byte offset 2"},         // bad continuation
      {"\"\xC0\xAF\"", "invalid JSON: invalid UTF-8 at byte offset 1"},          // overlong '/'
      {"\"\xED\xA0\x80\"", "invalid JSON: invalid UTF-8 at byte offset 1"},      // raw surrogate
      {"\"\xF4\x90\x80\x80\"", "invalid JSON: invalid UTF-8 at byte offset 1"},  // > U+10FFFF
      {"\"\x80\"", "invalid JSON: invalid UTF-8 at byte offset 1"},         // stray continuation
      {"\"\\n\xE2\x82\"", "invalid JSON: invalid UTF-8 at byte offset 3"},  // truncated
      {"[1,\xFF]", "invalid JSON: expected a JSON value, found byte 0xFF at byte offset 3"},
  };
  for (const auto& [in, error] : cases) EXPECT_EQ(rejection(in), error);
}

TEST(CanonicalJson, RejectsNulBytes) {
  EXPECT_EQ(rejection("\"a\0b\""sv),
            "invalid JSON: raw control character 0x00 inside a string (must be escaped) at byte "
            "offset 2");
  EXPECT_EQ(rejection("{}\0"sv),
            "invalid JSON: trailing data after the JSON document at byte "
            "offset 2");
  EXPECT_EQ(rejection("[\0]"sv),
            "invalid JSON: expected a JSON value, found byte 0x00 at byte offset 1");
}

TEST(CanonicalJson, RejectsTrailingGarbage) {
  EXPECT_EQ(rejection("{} x"),
            "invalid JSON: trailing data after the JSON document at byte "
            "offset 3");
  EXPECT_EQ(rejection("{}{}"),
            "invalid JSON: trailing data after the JSON document at byte "
            "offset 2");
  EXPECT_EQ(rejection("01"),
            "invalid JSON: trailing data after the JSON document at byte "
            "offset 1");
}

TEST(CanonicalJson, RejectsWhatPythonsJsonRejects) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"", "invalid JSON: expected a JSON value, found the end of the text at byte offset 0"},
      {"  ", "invalid JSON: expected a JSON value, found the end of the text at byte offset 2"},
      {"tru", "invalid JSON: expected a JSON value, found 't' at byte offset 0"},
      {"nan", "invalid JSON: expected a JSON value, found 'n' at byte offset 0"},
      {"-NaN", "invalid JSON: expected a digit, found 'N' at byte offset 1"},
      {"+1", "invalid JSON: expected a JSON value, found '+' at byte offset 0"},
      {".5", "invalid JSON: expected a JSON value, found '.' at byte offset 0"},
      {"1.",
       "invalid JSON: expected a digit after '.', found the end of the text at byte offset 2"},
      {"1e+",
       "invalid JSON: expected a digit in the exponent, found the end of the text at byte "
       "offset 3"},
      {"[1,]", "invalid JSON: expected a JSON value, found ']' at byte offset 3"},
      {"[1 2]", "invalid JSON: expected ',' or ']' in array, found '2' at byte offset 3"},
      {R"({"a":1,})", "invalid JSON: expected a string key in object, found '}' at byte offset 7"},
      {R"({"a" 1})", "invalid JSON: expected ':' after object key, found '1' at byte offset 5"},
      {R"({a:1})", "invalid JSON: expected a string key in object, found 'a' at byte offset 1"},
      {R"("abc)", "invalid JSON: unterminated string at byte offset 0"},
      {"\"a\nb\"",
       "invalid JSON: raw control character 0x0A inside a string (must be escaped) at byte "
       "offset 2"},
      {R"("\x")", "invalid JSON: invalid escape sequence in string at byte offset 1"},
      {R"("\u12G4")", "invalid JSON: invalid \\uXXXX escape at byte offset 1"},
      {R"("\ud800\u12G4")", "invalid JSON: invalid \\uXXXX escape at byte offset 7"},
      {"\xEF\xBB\xBF{}",
       "invalid JSON: UTF-8 byte order mark before the document at byte "
       "offset 0"},
  };
  for (const auto& [in, error] : cases) EXPECT_EQ(rejection(in), error) << "input: " << in;
}

TEST(CanonicalHash, IsTheLowercaseSha256OfTheCanonicalText) {
  // sha256(b'{"a":1}') and sha256(b'{}')
  const CanonicalResult r = canonical_hash(R"({ "a" : 1, "status": "x" })");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.text, "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862");
  EXPECT_EQ(canonical_hash("{}").text,
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
}

TEST(CanonicalHash, PassesParseErrorsThrough) {
  const CanonicalResult r = canonical_hash("[");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error,
            "invalid JSON: expected a JSON value, found the end of the text at byte "
            "offset 1");
}

}  // namespace
}  // namespace edge
