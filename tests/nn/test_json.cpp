// The JSON reader of safetensors headers (nn/json.h) against RFC 8259: what it accepts, what it
// refuses (with the byte where it stopped), and that quote() writes what parse() reads back.
#include <catch2/catch.hpp>

#include <clocale>

#include "nn/json.h"

using namespace focus::nn;

TEST_CASE("json: numbers are read exactly as RFC 8259 writes them") {
  CHECK(json::parse("0").integer() == 0);
  CHECK(json::parse("-12").integer() == -12);
  CHECK(json::parse("9223372036854775807").integer() == INT64_MAX);
  CHECK(json::parse("-9223372036854775808").integer() == INT64_MIN);
  CHECK(std::get<double>(json::parse("0.5").data) == 0.5);
  CHECK(std::get<double>(json::parse("-2.5e-3").data) == -2.5e-3);
  CHECK(std::get<double>(json::parse("1E+2").data) == 100.0);
  for (const char* bad : {"01", "-", "1.", ".5", "1.2.3", "1-2", "1e", "1e+", "+1", "0x10", "Infinity", "NaN"})
    CHECK_THROWS_WITH(json::parse(bad), Catch::Contains("malformed JSON"));
  CHECK_THROWS_WITH(json::parse("9223372036854775808"), Catch::Contains("an integer within int64 at byte 0"));
  CHECK_THROWS_WITH(json::parse("[1, 1e999]"), Catch::Contains("within double's range at byte 4"));
}

TEST_CASE("json: numbers do not depend on the C locale") {
  // Under a locale whose decimal mark is a comma, stod would read "0.5" as 0; from_chars does not.
  const char* german = std::setlocale(LC_NUMERIC, "de_DE.UTF-8");
  CHECK(std::get<double>(json::parse("0.5").data) == 0.5);
  if (german) std::setlocale(LC_NUMERIC, "C");
}

TEST_CASE("json: strings are UTF-8, escapes decode to UTF-8, surrogates must pair") {
  CHECK(json::parse(R"("caf\u00e9")").string() == "caf\u00e9");
  CHECK(json::parse(R"("\ud834\udd1e")").string() == "\U0001D11E");
  CHECK(json::parse("\"caf\xc3\xa9 \xf0\x9d\x84\x9e\"").string() == "caf\u00e9 \U0001D11E");
  CHECK(json::parse(R"("a\"b\\c\/d\n")").string() == "a\"b\\c/d\n");
  CHECK_THROWS_WITH(json::parse(R"("\ud834")"), Catch::Contains("a low surrogate"));
  CHECK_THROWS_WITH(json::parse(R"("\udd1e")"), Catch::Contains("a high surrogate before a low one"));
  // Raw bytes that are not UTF-8: a stray continuation byte, an overlong '/', a surrogate, past
  // U+10FFFF, a sequence cut by the closing quote.
  for (const char* bad : {"\"\x80\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xe2\x82\""})
    CHECK_THROWS_WITH(json::parse(bad), Catch::Contains("valid UTF-8 at byte 1"));
  CHECK_THROWS_WITH(json::parse("\"tab\there\""), Catch::Contains("no control characters"));
}

TEST_CASE("json: structure errors name the byte, duplicate keys and deep nesting are refused") {
  CHECK_THROWS_WITH(json::parse(R"({"a": 1, "a": 2})"), Catch::Contains("no duplicate keys"));
  CHECK_THROWS_WITH(json::parse(std::string(100, '[') + std::string(100, ']')), Catch::Contains("less nesting"));
  CHECK_THROWS_WITH(json::parse(R"({"a": 1,})"), Catch::Contains("a string key at byte 8"));
  CHECK_THROWS_WITH(json::parse("[1 2]"), Catch::Contains("',' or ']' at byte 3"));
  CHECK_THROWS_WITH(json::parse("{} x"), Catch::Contains("end of document at byte 3"));
  CHECK(json::parse(" {\n\t\"a\" : [ ] } \r\n").object().at("a").array().empty());
}

TEST_CASE("json: quote() writes what parse() reads back") {
  const char control[] = "nul \0 bell \x07 escape \x1b";
  for (const std::string text : {std::string(), std::string("plain"), std::string("quote \" backslash \\ slash /"),
                                 std::string("line\nfeed\r\ttab"), std::string(control, sizeof control - 1),
                                 std::string("caf\u00e9 \U0001D11E")}) {
    CHECK(json::parse(json::quote(text)).string() == text);
  }
}
