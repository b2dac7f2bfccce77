#include "datasets/date_task.h"

#include <fmt/format.h>

#include <array>
#include <stdexcept>

namespace focus::data {

namespace {

constexpr std::array<const char*, 12> kMonthNames = {"January", "February", "March",     "April",   "May",      "June",
                                                     "July",    "August",   "September", "October", "November", "December"};
constexpr std::array<const char*, 7> kWeekdayNames = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                      "Friday", "Saturday", "Sunday"};

bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

// First three letters: "Jun", "Tue" (September gives "Sep", as in most style guides).
std::string short_name(const char* name) { return std::string(name, 3); }

std::string ordinal(int day) {
  const char* suffix = "th";
  if (day % 100 < 11 || day % 100 > 13) {
    if (day % 10 == 1) suffix = "st";
    if (day % 10 == 2) suffix = "nd";
    if (day % 10 == 3) suffix = "rd";
  }
  return fmt::format("{}{}", day, suffix);
}

}  // namespace

int days_in_month(int year, int month) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) throw std::invalid_argument(fmt::format("days_in_month: month {} is outside 1..12", month));
  return month == 2 && is_leap_year(year) ? 29 : kDays[static_cast<size_t>(month - 1)];
}

// Days-from-civil and its inverse after H. Hinnant's "chrono-compatible
// low-level date algorithms": count in 400-year eras of 146097 days starting
// on March 1, so the leap day falls at the end of each shifted year.
int64_t Date::days_since_epoch() const {
  const int64_t y = year - (month <= 2 ? 1 : 0);
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t year_of_era = y - era * 400;
  const int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

Date Date::from_days_since_epoch(int64_t days) {
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t day_of_era = z - era * 146097;
  const int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t shifted_month = (5 * day_of_year + 2) / 153;  // 0 = March
  Date date;
  date.day = static_cast<int>(day_of_year - (153 * shifted_month + 2) / 5 + 1);
  date.month = static_cast<int>(shifted_month < 10 ? shifted_month + 3 : shifted_month - 9);
  date.year = static_cast<int>(year_of_era + era * 400 + (date.month <= 2 ? 1 : 0));
  return date;
}

int Date::weekday() const {
  // 1970-01-01 was a Thursday (3 when Monday is 0).
  return static_cast<int>(((days_since_epoch() % 7) + 7 + 3) % 7);
}

std::string Date::iso() const { return fmt::format("{:04d}-{:02d}-{:02d}", year, month, day); }

std::string format_date(const Date& date, DateFormat format) {
  const std::string month = kMonthNames[static_cast<size_t>(date.month - 1)];
  const std::string weekday = kWeekdayNames[static_cast<size_t>(date.weekday())];
  const int d = date.day;
  const int m = date.month;
  const int y = date.year;
  const int yy = ((y % 100) + 100) % 100;
  switch (format) {
    case DateFormat::DayMonthYear: return fmt::format("{} {} {}", d, month, y);
    case DateFormat::WeekdayMonthDayYear: return fmt::format("{}, {} {} {}", weekday, month, d, y);
    case DateFormat::SlashDayMonthShortYear: return fmt::format("{:02d}/{:02d}/{:02d}", d, m, yy);
    case DateFormat::LowerMonthOrdinalYear: return fmt::format("{} {} {}", utf8::to_lower(month), ordinal(d), y);
    case DateFormat::DotDayMonthYear: return fmt::format("{}.{}.{}", d, m, y);
    case DateFormat::UpperMonthPaddedDay: return fmt::format("{} {:02d}, {}", utf8::to_upper(month), d, y);
    case DateFormat::DashYearMonthDay: return fmt::format("{}-{}-{}", y, m, d);
    case DateFormat::TheOrdinalOfMonth: return fmt::format("the {} of {} {}", ordinal(d), month, y);
    case DateFormat::SlashDayMonthYear: return fmt::format("{:02d}/{:02d}/{}", d, m, y);
    case DateFormat::ShortMonthDayYear: return fmt::format("{} {}, {}", short_name(month.c_str()), d, y);
    case DateFormat::DayShortMonthShortYear: return fmt::format("{} {} {:02d}", d, short_name(month.c_str()), yy);
    case DateFormat::WeekdayDayMonthYear: return fmt::format("{} {} {} {}", weekday, d, month, y);
    case DateFormat::ShortWeekdayDayMonth:
      return fmt::format("{}, {} {} {}", short_name(weekday.c_str()), d, short_name(month.c_str()), y);
    case DateFormat::CompactYearMonthDay: return fmt::format("{:04d}{:02d}{:02d}", y, m, d);
    case DateFormat::DashDayShortMonthYear: return fmt::format("{}-{}-{}", d, short_name(month.c_str()), y);
    case DateFormat::SlashYearMonthDay: return fmt::format("{}/{:02d}/{:02d}", y, m, d);
    case DateFormat::DotDayMonthShortYear: return fmt::format("{:02d}.{:02d}.{:02d}", d, m, yy);
    case DateFormat::WeekdayTheOrdinalOfMonth: return fmt::format("{}, the {} of {}, {}", weekday, ordinal(d), month, y);
  }
  throw std::invalid_argument(fmt::format("format_date: unknown format {}", static_cast<int>(format)));
}

bool DateTranslationTask::in_test_partition(const Date& date) {
  // A fixed salt: changing it would silently move dates between train and test.
  constexpr uint64_t kPartitionSalt = 0xDA7E;
  return derive_seed(kPartitionSalt, SeedStream::Split, static_cast<uint64_t>(date.days_since_epoch())) % 10 == 0;
}

DateTranslationTask::DateTranslationTask(uint64_t seed, int64_t count, DateTaskOptions options) {
  if (count < 0) throw std::invalid_argument(fmt::format("DateTranslationTask: count must be >= 0, got {}", count));
  if (options.min_year > options.max_year) {
    throw std::invalid_argument(fmt::format("DateTranslationTask: min_year {} is after max_year {}", options.min_year,
                                            options.max_year));
  }
  // Beyond this range two-digit years would be ambiguous.
  if (options.max_year - options.min_year >= 100) {
    throw std::invalid_argument(fmt::format("DateTranslationTask: years {}..{} span more than a century, so two-digit "
                                            "years would be ambiguous",
                                            options.min_year, options.max_year));
  }
  const int64_t first_day = Date{options.min_year, 1, 1}.days_since_epoch();
  const int64_t day_count = Date{options.max_year, 12, 31}.days_since_epoch() - first_day + 1;
  Generator generator(seed);
  examples_.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    Date date;
    do {
      date = Date::from_days_since_epoch(first_day + generator.integer(0, day_count));
    } while ((options.partition == DatePartition::Train && in_test_partition(date)) ||
             (options.partition == DatePartition::Test && !in_test_partition(date)));
    DateExample example;
    example.date = date;
    example.format = static_cast<DateFormat>(generator.integer(0, kDateFormatCount));
    example.human = format_date(date, example.format);
    example.iso = date.iso();
    examples_.push_back(std::move(example));
  }
}

const Tokenizer& DateTranslationTask::tokenizer() {
  static const Tokenizer kTokenizer(TokenizerOptions{.mode = TokenizerMode::Char});
  return kTokenizer;
}

const Vocab& DateTranslationTask::source_vocab() {
  static const Vocab kVocab = [] {
    std::vector<std::string> alphabet;
    for (char c = '0'; c <= '9'; ++c) alphabet.emplace_back(1, c);
    for (char c = 'a'; c <= 'z'; ++c) alphabet.emplace_back(1, c);
    for (char c = 'A'; c <= 'Z'; ++c) alphabet.emplace_back(1, c);
    for (const char* mark : {" ", ",", ".", "/", "-"}) alphabet.emplace_back(mark);
    return Vocab::from_tokens(alphabet);
  }();
  return kVocab;
}

const Vocab& DateTranslationTask::target_vocab() {
  static const Vocab kVocab = [] {
    std::vector<std::string> alphabet;
    for (char c = '0'; c <= '9'; ++c) alphabet.emplace_back(1, c);
    alphabet.emplace_back("-");
    return Vocab::from_tokens(alphabet);
  }();
  return kVocab;
}

SentencePair DateTranslationTask::get(int64_t index) const {
  if (index < 0 || index >= size()) {
    throw std::out_of_range(fmt::format("DateTranslationTask::get: index {} is outside [0, {})", index, size()));
  }
  const DateExample& example = examples_[static_cast<size_t>(index)];
  SentencePair pair;
  pair.source = source_vocab().encode(tokenizer().tokenize(example.human));
  pair.target = target_vocab().encode(tokenizer().tokenize(example.iso));
  pair.source_text = example.human;
  pair.target_text = example.iso;
  return pair;
}

}  // namespace focus::data
