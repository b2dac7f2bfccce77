#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/sequence_batch.h"
#include "datasets/tokenizer.h"
#include "datasets/vocab.h"

namespace focus::data {

/// A calendar date (proleptic Gregorian).
struct Date {
  int year = 1970;
  int month = 1;  ///< 1..12
  int day = 1;    ///< 1..days_in_month

  /// "YYYY-MM-DD".
  std::string iso() const;
  /// 0 = Monday .. 6 = Sunday.
  int weekday() const;
  /// Days since 1970-01-01 (negative before).
  int64_t days_since_epoch() const;
  /// The date `days` after 1970-01-01.
  static Date from_days_since_epoch(int64_t days);
  bool operator==(const Date&) const = default;
};

/// 28..31; throws on a month outside 1..12.
int days_in_month(int year, int month);

/// The human formats of DateTranslationTask, in a fixed order; a format is
/// named by an example rendering of 2003-06-10 (a Tuesday).
enum class DateFormat {
  DayMonthYear,            ///< 10 June 2003
  WeekdayMonthDayYear,     ///< Tuesday, June 10 2003
  SlashDayMonthShortYear,  ///< 10/06/03 (day first, European order)
  LowerMonthOrdinalYear,   ///< june 10th 2003
  DotDayMonthYear,         ///< 10.6.2003
  UpperMonthPaddedDay,     ///< JUNE 10, 2003
  DashYearMonthDay,        ///< 2003-6-10 (unpadded ISO order)
  TheOrdinalOfMonth,       ///< the 10th of June 2003
  SlashDayMonthYear,       ///< 10/06/2003
  ShortMonthDayYear,       ///< Jun 10, 2003
  DayShortMonthShortYear,  ///< 10 Jun 03
  WeekdayDayMonthYear,     ///< Tuesday 10 June 2003
  ShortWeekdayDayMonth,    ///< Tue, 10 Jun 2003
  CompactYearMonthDay,     ///< 20030610
  DashDayShortMonthYear,   ///< 10-Jun-2003
  SlashYearMonthDay,       ///< 2003/06/10
  DotDayMonthShortYear,    ///< 10.06.03
  WeekdayTheOrdinalOfMonth,  ///< Tuesday, the 10th of June, 2003
};
inline constexpr int kDateFormatCount = 18;

/// Renders `date` in `format`. Two-digit years are unambiguous within a task
/// because its years span less than a century (1950..2049 by default:
/// 50..99 -> 19xx, 00..49 -> 20xx).
std::string format_date(const Date& date, DateFormat format);

/// Which dates a DateTranslationTask draws from. Every date is assigned to
/// train or test by a fixed hash of the date itself (about 1 in 10 to test),
/// independent of the seed, so a train and a test task never share a date.
enum class DatePartition { All, Train, Test };

/// Options of DateTranslationTask.
struct DateTaskOptions {
  DatePartition partition = DatePartition::All;
  int min_year = 1950;
  int max_year = 2049;
};

/// One generated example before encoding.
struct DateExample {
  Date date;
  DateFormat format = DateFormat::DayMonthYear;
  std::string human;  ///< e.g. "Tuesday, June 10 2003"
  std::string iso;    ///< "2003-06-10"
};

/// The translator's out-of-the-box task: dates written in many human formats
/// (`3 May 1999`, `Tuesday, June 10 2003`, `10/06/03`, `march 5th 2021`, ...)
/// to translate into ISO `YYYY-MM-DD`, character by character.
///
/// Dates are uniform over [min_year-01-01, max_year-12-31] (within the
/// partition), formats uniform; weekday names are those of the actual date.
/// The same (seed, count, options) always gives the same examples.
class DateTranslationTask : public Dataset<SentencePair> {
 public:
  DateTranslationTask(uint64_t seed, int64_t count, DateTaskOptions options = {});

  int64_t size() const override { return static_cast<int64_t>(examples_.size()); }
  /// The example encoded with source_vocab() / target_vocab(); source and
  /// target texts are the human and ISO strings.
  SentencePair get(int64_t index) const override;

  const std::vector<DateExample>& examples() const { return examples_; }

  /// Fixed character vocabularies (the same for every seed, so a model trained
  /// on one task reads another): every character any format can produce.
  static const Vocab& source_vocab();
  static const Vocab& target_vocab();
  /// The character tokenizer both sides use.
  static const Tokenizer& tokenizer();

  /// Whether `date` belongs to the test partition (the fixed hash).
  static bool in_test_partition(const Date& date);

 private:
  std::vector<DateExample> examples_;
};

}  // namespace focus::data
