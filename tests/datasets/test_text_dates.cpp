#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cctype>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>

#include "datasets/dataloader.h"
#include "datasets/date_task.h"

using namespace focus::data;

namespace {

// An independent reference: the C++20 calendar of <chrono>.
std::chrono::sys_days chrono_days(const Date& date) {
  return std::chrono::sys_days{std::chrono::year{date.year} / std::chrono::month{static_cast<unsigned>(date.month)} /
                               std::chrono::day{static_cast<unsigned>(date.day)}};
}

const std::array<std::string, 12> kMonths = {"january", "february", "march",     "april",   "may",      "june",
                                             "july",    "august",   "september", "october", "november", "december"};
const std::array<std::string, 7> kWeekdays = {"monday", "tuesday",  "wednesday", "thursday",
                                              "friday", "saturday", "sunday"};

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

int month_number(const std::string& name) {
  for (int m = 0; m < 12; ++m) {
    if (kMonths[static_cast<size_t>(m)] == lower(name) || kMonths[static_cast<size_t>(m)].substr(0, 3) == lower(name)) {
      return m + 1;
    }
  }
  FAIL("not a month: " << name);
  return 0;
}

int full_year(int two_digits) { return two_digits >= 50 ? 1900 + two_digits : 2000 + two_digits; }

struct Parsed {
  Date date;
  std::string weekday;  // lowercase, empty when the format has none
};

// Reads a human date back, for the formats this test knows; nullopt for the others.
std::optional<Parsed> parse(const std::string& text) {
  // Compiled once: building a std::regex costs far more than matching one.
  static const std::regex kDayMonthYear(R"(^(\d{1,2}) ([A-Z][a-z]+) (\d{4})$)");                 // 10 June 2003
  static const std::regex kWeekdayMonthDay(R"(^([A-Z][a-z]+day), ([A-Z][a-z]+) (\d{1,2}) (\d{4})$)");  // Tuesday, June 10 2003
  static const std::regex kSlashShortYear(R"(^(\d\d)/(\d\d)/(\d\d)$)");                          // 10/06/03
  static const std::regex kLowerOrdinal(R"(^([a-z]+) (\d{1,2})(st|nd|rd|th) (\d{4})$)");         // june 10th 2003
  static const std::regex kDots(R"(^(\d{1,2})\.(\d{1,2})\.(\d{4})$)");                           // 10.6.2003
  static const std::regex kUpperMonth(R"(^([A-Z]+) (\d\d), (\d{4})$)");                           // JUNE 10, 2003
  static const std::regex kDashes(R"(^(\d{4})-(\d{1,2})-(\d{1,2})$)");                             // 2003-6-10
  static const std::regex kTheOrdinal(R"(^the (\d{1,2})(st|nd|rd|th) of ([A-Z][a-z]+) (\d{4})$)"); // the 10th of June 2003
  static const std::regex kShortWeekday(R"(^([A-Z][a-z]{2}), (\d{1,2}) ([A-Z][a-z]{2}) (\d{4})$)"); // Tue, 10 Jun 2003
  static const std::regex kWeekdayTheOrdinal(
      R"(^([A-Z][a-z]+day), the (\d{1,2})(st|nd|rd|th) of ([A-Z][a-z]+), (\d{4})$)");            // Tuesday, the 10th of June, 2003
  std::smatch m;
  auto number = [&](int i) { return std::stoi(m[i].str()); };
  if (std::regex_match(text, m, kDayMonthYear)) return Parsed{{number(3), month_number(m[2]), number(1)}, ""};
  if (std::regex_match(text, m, kWeekdayMonthDay)) return Parsed{{number(4), month_number(m[2]), number(3)}, lower(m[1])};
  if (std::regex_match(text, m, kSlashShortYear)) return Parsed{{full_year(number(3)), number(2), number(1)}, ""};
  if (std::regex_match(text, m, kLowerOrdinal)) return Parsed{{number(4), month_number(m[1]), number(2)}, ""};
  if (std::regex_match(text, m, kDots)) return Parsed{{number(3), number(2), number(1)}, ""};
  if (std::regex_match(text, m, kUpperMonth)) return Parsed{{number(3), month_number(m[1]), number(2)}, ""};
  if (std::regex_match(text, m, kDashes)) return Parsed{{number(1), number(2), number(3)}, ""};
  if (std::regex_match(text, m, kTheOrdinal)) return Parsed{{number(4), month_number(m[3]), number(1)}, ""};
  if (std::regex_match(text, m, kShortWeekday)) return Parsed{{number(4), month_number(m[3]), number(2)}, lower(m[1])};
  if (std::regex_match(text, m, kWeekdayTheOrdinal)) {
    return Parsed{{number(5), month_number(m[4]), number(2)}, lower(m[1])};
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("Date arithmetic and weekdays agree with std::chrono", "[text][dates]") {
  REQUIRE(Date{2003, 6, 10}.weekday() == 1);  // a Tuesday
  REQUIRE(Date{1970, 1, 1}.weekday() == 3);   // a Thursday
  REQUIRE(Date{2000, 2, 29}.weekday() == 1);  // a Tuesday, in a leap century year
  REQUIRE(Date{1970, 1, 1}.days_since_epoch() == 0);
  REQUIRE(Date{1969, 12, 31}.days_since_epoch() == -1);
  REQUIRE(days_in_month(2000, 2) == 29);
  REQUIRE(days_in_month(1900, 2) == 28);
  REQUIRE(days_in_month(2024, 2) == 29);
  REQUIRE(days_in_month(2023, 4) == 30);
  REQUIRE_THROWS_WITH(days_in_month(2023, 13), Catch::Contains("month 13"));

  // Every day of 1950..2049.
  for (int64_t days = Date{1950, 1, 1}.days_since_epoch(); days <= Date{2049, 12, 31}.days_since_epoch(); ++days) {
    const Date date = Date::from_days_since_epoch(days);
    const auto reference = chrono_days(date);
    INFO(date.iso());
    REQUIRE(std::chrono::year_month_day{reference}.ok());
    REQUIRE(reference.time_since_epoch().count() == days);
    REQUIRE(date.days_since_epoch() == days);
    REQUIRE(static_cast<int>(std::chrono::weekday{reference}.iso_encoding()) == date.weekday() + 1);
  }
}

TEST_CASE("format_date renders each of the 18 formats", "[text][dates]") {
  const Date date{2003, 6, 10};  // a Tuesday
  const std::map<DateFormat, std::string> expected = {
      {DateFormat::DayMonthYear, "10 June 2003"},
      {DateFormat::WeekdayMonthDayYear, "Tuesday, June 10 2003"},
      {DateFormat::SlashDayMonthShortYear, "10/06/03"},
      {DateFormat::LowerMonthOrdinalYear, "june 10th 2003"},
      {DateFormat::DotDayMonthYear, "10.6.2003"},
      {DateFormat::UpperMonthPaddedDay, "JUNE 10, 2003"},
      {DateFormat::DashYearMonthDay, "2003-6-10"},
      {DateFormat::TheOrdinalOfMonth, "the 10th of June 2003"},
      {DateFormat::SlashDayMonthYear, "10/06/2003"},
      {DateFormat::ShortMonthDayYear, "Jun 10, 2003"},
      {DateFormat::DayShortMonthShortYear, "10 Jun 03"},
      {DateFormat::WeekdayDayMonthYear, "Tuesday 10 June 2003"},
      {DateFormat::ShortWeekdayDayMonth, "Tue, 10 Jun 2003"},
      {DateFormat::CompactYearMonthDay, "20030610"},
      {DateFormat::DashDayShortMonthYear, "10-Jun-2003"},
      {DateFormat::SlashYearMonthDay, "2003/06/10"},
      {DateFormat::DotDayMonthShortYear, "10.06.03"},
      {DateFormat::WeekdayTheOrdinalOfMonth, "Tuesday, the 10th of June, 2003"},
  };
  REQUIRE(expected.size() == kDateFormatCount);
  for (const auto& [format, text] : expected) REQUIRE(format_date(date, format) == text);

  REQUIRE(format_date({1999, 5, 3}, DateFormat::UpperMonthPaddedDay) == "MAY 03, 1999");
  REQUIRE(format_date({2021, 3, 5}, DateFormat::LowerMonthOrdinalYear) == "march 5th 2021");
  REQUIRE(format_date({2021, 3, 5}, DateFormat::DotDayMonthYear) == "5.3.2021");
  REQUIRE(format_date({2049, 12, 31}, DateFormat::SlashDayMonthShortYear) == "31/12/49");
  // English ordinals, teens included.
  const std::map<int, std::string> ordinals = {{1, "1st"},   {2, "2nd"},   {3, "3rd"},   {4, "4th"},
                                               {11, "11th"}, {12, "12th"}, {13, "13th"}, {21, "21st"},
                                               {22, "22nd"}, {23, "23rd"}, {30, "30th"}, {31, "31st"}};
  for (const auto& [day, text] : ordinals) {
    REQUIRE(format_date({2021, 1, day}, DateFormat::TheOrdinalOfMonth) == "the " + text + " of January 2021");
  }
}

TEST_CASE("DateTranslationTask examples parse back to their ISO date with the right weekday", "[text][dates]") {
  const DateTranslationTask task(42, 3000);
  REQUIRE(task.size() == 3000);
  std::set<DateFormat> formats;
  int64_t parsed = 0;
  int64_t weekdays_checked = 0;
  for (const DateExample& example : task.examples()) {
    INFO(example.human << " -> " << example.iso);
    formats.insert(example.format);
    REQUIRE(example.iso == example.date.iso());
    REQUIRE(example.date.year >= 1950);
    REQUIRE(example.date.year <= 2049);
    REQUIRE(std::chrono::year_month_day{chrono_days(example.date)}.ok());
    const auto reading = parse(example.human);
    if (!reading) continue;
    ++parsed;
    REQUIRE(reading->date.iso() == example.iso);
    if (!reading->weekday.empty()) {
      ++weekdays_checked;
      const auto iso_weekday = std::chrono::weekday{chrono_days(example.date)}.iso_encoding();  // 1 = Monday
      const std::string& name = kWeekdays[iso_weekday - 1];
      REQUIRE((reading->weekday == name || reading->weekday == name.substr(0, 3)));
    }
  }
  REQUIRE(formats.size() == kDateFormatCount);  // 3000 draws reach every format
  REQUIRE(parsed > 1000);                       // 10 of the 18 formats are parsed here
  REQUIRE(weekdays_checked > 300);
}

TEST_CASE("DateTranslationTask is deterministic and its partitions are disjoint", "[text][dates]") {
  auto isos = [](const DateTranslationTask& task) {
    std::vector<std::string> out;
    for (const DateExample& example : task.examples()) out.push_back(example.human + "|" + example.iso);
    return out;
  };
  REQUIRE(isos(DateTranslationTask(1, 200)) == isos(DateTranslationTask(1, 200)));
  REQUIRE(isos(DateTranslationTask(1, 200)) != isos(DateTranslationTask(2, 200)));

  const DateTranslationTask train(1, 5000, {.partition = DatePartition::Train});
  const DateTranslationTask test(1, 1000, {.partition = DatePartition::Test});
  std::set<int64_t> train_days;
  for (const DateExample& example : train.examples()) {
    REQUIRE_FALSE(DateTranslationTask::in_test_partition(example.date));
    train_days.insert(example.date.days_since_epoch());
  }
  for (const DateExample& example : test.examples()) {
    REQUIRE(DateTranslationTask::in_test_partition(example.date));
    REQUIRE(train_days.count(example.date.days_since_epoch()) == 0);
  }
  // About one date in ten is held out for testing.
  int64_t held_out = 0;
  int64_t days = 0;
  for (int64_t d = Date{1950, 1, 1}.days_since_epoch(); d <= Date{2049, 12, 31}.days_since_epoch(); ++d, ++days) {
    held_out += DateTranslationTask::in_test_partition(Date::from_days_since_epoch(d)) ? 1 : 0;
  }
  REQUIRE(static_cast<double>(held_out) / static_cast<double>(days) == Approx(0.1).margin(0.01));

  REQUIRE_THROWS_WITH(DateTranslationTask(1, -1), Catch::Contains("count must be >= 0"));
  REQUIRE_THROWS_WITH(DateTranslationTask(1, 1, {.min_year = 1900, .max_year = 2049}),
                      Catch::Contains("more than a century"));
}

TEST_CASE("DateTranslationTask encodes characters with fixed vocabularies", "[text][dates]") {
  const DateTranslationTask task(7, 2000);
  const Vocab& source_vocab = DateTranslationTask::source_vocab();
  const Vocab& target_vocab = DateTranslationTask::target_vocab();
  REQUIRE(target_vocab.size() == 4 + 11);  // specials, 0-9, '-'
  int64_t unknowns = 0;
  for (int64_t i = 0; i < task.size(); ++i) {
    const SentencePair pair = task.get(i);
    const DateExample& example = task.examples()[static_cast<size_t>(i)];
    source_vocab.encode(DateTranslationTask::tokenizer().tokenize(example.human), false, false, &unknowns);
    REQUIRE(pair.source.size() == example.human.size());  // ASCII: one character, one token
    REQUIRE(pair.target.size() == 10);                    // YYYY-MM-DD
    const auto& tokenizer = DateTranslationTask::tokenizer();
    REQUIRE(tokenizer.detokenize(source_vocab.decode(pair.source)) == example.human);
    REQUIRE(tokenizer.detokenize(target_vocab.decode(pair.target)) == example.iso);
    REQUIRE(pair.source_text == example.human);
    REQUIRE(pair.target_text == example.iso);
  }
  REQUIRE(unknowns == 0);
  REQUIRE_THROWS_WITH(task.get(2000), Catch::Contains("index 2000 is outside [0, 2000)"));
}

TEST_CASE("DateTranslationTask feeds a DataLoader", "[text][dates]") {
  auto task = std::make_shared<DateTranslationTask>(3, 100);
  DataLoader<SentencePair, SequenceBatch> loader(task, {.batch_size = 32, .shuffle = true, .seed = 1},
                                                 collate_sequences);
  int64_t rows = 0;
  for (SequenceBatch& batch : loader.epoch(0)) {
    rows += batch.size();
    REQUIRE(batch.target_output.size(1) == 11);  // ten characters + <eos>
  }
  REQUIRE(rows == 100);
}
