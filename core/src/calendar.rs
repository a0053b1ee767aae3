//! Working-time arithmetic for event deadlines.
//!
//! The community office promises to respond and to handle events within a number of
//! *working* hours or days ("respond within 4 working hours", "handle within 3 working
//! days"). Whether a date is a workday depends on the State Council's holiday schedule,
//! which is published each November and moves weekend days around (调休), so the
//! calendar is a JSON document the office edits, not code: [`WorkdayCalendar`].
//!
//! All calendar reasoning happens in Asia/Shanghai local time (UTC+8, no daylight
//! saving); instants going in and out are `DateTime<Utc>`. Every search is bounded by
//! [`SEARCH_LIMIT_DAYS`], so a wrong calendar yields an error, never a hang or a panic.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// How far (in calendar days) any deadline search walks before giving up with an error.
///
/// Ten years: far beyond any real response rule, yet small enough that a calendar whose
/// holidays swallow every workday fails quickly instead of looping.
pub const SEARCH_LIMIT_DAYS: u32 = 3660;

/// Asia/Shanghai is UTC+8 all year (China has had no daylight saving since 1991), so a
/// fixed shift is exact and avoids a time-zone database on phones.
const UTC_OFFSET: TimeDelta = TimeDelta::hours(8);

/// Minutes in a calendar day, used to reject amounts that cannot fit the search window.
const MINUTES_PER_DAY: i64 = 24 * 60;

/// Nanoseconds per minute, for turning exact working time into whole minutes.
const NANOS_PER_MINUTE: i128 = 60 * 1_000_000_000;

/// Fixed reference date for counting workdays; any date works, a Monday reads best.
const COUNT_EPOCH: NaiveDate = ymd(2000, 1, 3);

/// The office's workday calendar: a config document the office edits each year (the
/// schedule is published each November, so it is data, not code).
///
/// A date is a workday when it is listed in `extra_workdays`, or when it is Monday to
/// Friday and not listed in `holidays`. Call [`WorkdayCalendar::check`] (done by
/// [`WorkdayCalendar::from_json`]) before relying on a calendar built by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkdayCalendar {
    /// A human name for the calendar, e.g. "中国大陆 2026".
    pub name: String,
    /// Office hours as half-open local (Asia/Shanghai, UTC+8, no DST) periods, sorted,
    /// non-overlapping, e.g. 08:30–12:00 and 14:00–17:30. The same hours apply to every
    /// workday, make-up workdays included.
    pub office_hours: Vec<OfficePeriod>,
    /// Days off that would otherwise be Monday–Friday workdays (or any date declared
    /// off). Weekend dates inside an official holiday range may be listed too; they are
    /// off either way.
    #[serde(default)]
    pub holidays: BTreeSet<NaiveDate>,
    /// Make-up workdays (调休上班) that fall on a Saturday or Sunday.
    #[serde(default)]
    pub extra_workdays: BTreeSet<NaiveDate>,
}

/// One half-open period of office hours `[start, end)` within a single local day.
///
/// Serialised as `{"start": "08:30", "end": "12:00"}`. A period cannot run past
/// midnight: the latest possible end is 23:59.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficePeriod {
    /// First minute of the period (inclusive).
    #[serde(with = "hhmm")]
    pub start: NaiveTime,
    /// End of the period (exclusive): work stops at this instant.
    #[serde(with = "hhmm")]
    pub end: NaiveTime,
}

impl fmt::Display for OfficePeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", hhmm::text(self.start), hhmm::text(self.end))
    }
}

/// Why a calendar was rejected or a deadline could not be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalendarError {
    /// The calendar document is not valid JSON or does not have the expected shape.
    #[error("the calendar JSON could not be read: {0}")]
    Json(String),
    /// `office_hours` is empty, so no working time exists at all.
    #[error("the calendar has no office hours; add at least one period such as 08:30–12:00")]
    NoOfficeHours,
    /// An office period's start or end has seconds; hours are kept to the minute so the
    /// JSON form ("08:30") loses nothing.
    #[error("office period {number} ({period}) must start and end on a whole minute")]
    OfficeTimeNotWholeMinute {
        /// Position of the period in `office_hours`, counting from 1.
        number: usize,
        /// The offending period.
        period: OfficePeriod,
    },
    /// An office period ends at or before its start.
    #[error("office period {number} ({period}) must end after it starts")]
    EmptyOfficePeriod {
        /// Position of the period in `office_hours`, counting from 1.
        number: usize,
        /// The offending period.
        period: OfficePeriod,
    },
    /// Office periods are not listed from morning to evening.
    #[error(
        "office period {number} ({period}) starts before the period listed before it ({previous}); list periods from morning to evening"
    )]
    OfficePeriodsUnsorted {
        /// Position of the period in `office_hours`, counting from 1.
        number: usize,
        /// The offending period.
        period: OfficePeriod,
        /// The period listed just before it.
        previous: OfficePeriod,
    },
    /// Two office periods overlap.
    #[error("office period {number} ({period}) overlaps the period before it ({previous})")]
    OfficePeriodsOverlap {
        /// Position of the period in `office_hours`, counting from 1.
        number: usize,
        /// The offending period.
        period: OfficePeriod,
        /// The period listed just before it.
        previous: OfficePeriod,
    },
    /// The same date is listed as a holiday and as a make-up workday.
    #[error("{0} is listed both as a holiday and as an extra workday")]
    HolidayAndExtraWorkday(NaiveDate),
    /// A make-up workday is a Monday–Friday date, where it changes nothing; almost
    /// certainly a typo for another date.
    #[error(
        "extra workday {0} is not a Saturday or Sunday; make-up workdays (调休上班) only change weekend dates"
    )]
    ExtraWorkdayNotOnWeekend(NaiveDate),
    /// A negative working-time amount was asked for.
    #[error("a working-time amount cannot be negative (got {0})")]
    NegativeAmount(i64),
    /// No workday with office hours exists in the search window.
    #[error(
        "no workday found within {} days from {from}; check the calendar's holidays",
        SEARCH_LIMIT_DAYS
    )]
    NoWorkdayWithin {
        /// Local date the search started from.
        from: NaiveDate,
    },
    /// The deadline lies beyond the search window.
    #[error("the deadline lies more than {} days after {from}", SEARCH_LIMIT_DAYS)]
    DeadlineTooFar {
        /// Local date the search started from.
        from: NaiveDate,
    },
    /// An instant or date lies outside what chrono can represent.
    #[error("the time is outside the supported date range")]
    OutOfRange,
}

impl WorkdayCalendar {
    /// The official 2026 mainland-China schedule with office hours 08:30–12:00 and
    /// 14:00–17:30.
    ///
    /// Source: State Council General Office notice on the 2026 holiday arrangements
    /// (国务院办公厅关于2026年部分节假日安排的通知), issued 2025-11-04.
    pub fn china_2026() -> Self {
        let mut holidays = BTreeSet::new();
        for (first, last) in CHINA_2026_HOLIDAYS {
            holidays.extend(first.iter_days().take_while(|day| *day <= last));
        }
        Self {
            name: "中国大陆 2026".to_owned(),
            office_hours: CHINA_OFFICE_HOURS.to_vec(),
            holidays,
            extra_workdays: CHINA_2026_EXTRA_WORKDAYS.into_iter().collect(),
        }
    }

    /// Parses a calendar document and [`check`](Self::check)s it.
    pub fn from_json(json: &str) -> Result<Self, CalendarError> {
        let calendar: Self =
            serde_json::from_str(json).map_err(|e| CalendarError::Json(e.to_string()))?;
        calendar.check()?;
        Ok(calendar)
    }

    /// The calendar as pretty-printed JSON, readable by [`from_json`](Self::from_json).
    pub fn to_json(&self) -> String {
        // Strings, "HH:MM" times and ISO dates cannot fail to serialise; the fallback only
        // exists so this path has no panic.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks the calendar for mistakes an office editing it by hand could make.
    pub fn check(&self) -> Result<(), CalendarError> {
        if self.office_hours.is_empty() {
            return Err(CalendarError::NoOfficeHours);
        }
        let mut previous: Option<OfficePeriod> = None;
        for (index, &period) in self.office_hours.iter().enumerate() {
            let number = index + 1;
            let whole = |t: NaiveTime| t.second() == 0 && t.nanosecond() == 0;
            if !whole(period.start) || !whole(period.end) {
                return Err(CalendarError::OfficeTimeNotWholeMinute { number, period });
            }
            if period.end <= period.start {
                return Err(CalendarError::EmptyOfficePeriod { number, period });
            }
            if let Some(previous) = previous {
                if period.start < previous.start {
                    return Err(CalendarError::OfficePeriodsUnsorted {
                        number,
                        period,
                        previous,
                    });
                }
                // Half-open periods may touch (12:00–13:00 then 13:00–14:00).
                if period.start < previous.end {
                    return Err(CalendarError::OfficePeriodsOverlap {
                        number,
                        period,
                        previous,
                    });
                }
            }
            previous = Some(period);
        }
        if let Some(&day) = self.holidays.intersection(&self.extra_workdays).next() {
            return Err(CalendarError::HolidayAndExtraWorkday(day));
        }
        if let Some(&day) = self.extra_workdays.iter().find(|d| !is_weekend(**d)) {
            return Err(CalendarError::ExtraWorkdayNotOnWeekend(day));
        }
        Ok(())
    }

    /// Whether `day` (a local Asia/Shanghai date) is a workday.
    ///
    /// An extra workday wins over a holiday, so even an unchecked calendar gives one answer.
    pub fn is_workday(&self, day: NaiveDate) -> bool {
        if self.extra_workdays.contains(&day) {
            return true;
        }
        !self.holidays.contains(&day) && !is_weekend(day)
    }

    /// The instant `minutes` working minutes after `start` (work only counts inside
    /// office hours on workdays). A start outside office hours begins counting at the
    /// next office period. minutes = 0 → the start itself if inside office hours, else
    /// the next period start.
    ///
    /// A deadline that uses up a period exactly ends at that period's end (17:00 plus
    /// 30 minutes is 17:30 the same day, not 08:30 the next workday). A start exactly at
    /// a period's end is outside office hours, because periods are half-open.
    ///
    /// Errors: a calendar failing [`check`](Self::check), a negative amount, or no
    /// deadline within [`SEARCH_LIMIT_DAYS`].
    pub fn add_working_minutes(
        &self,
        start: DateTime<Utc>,
        minutes: i64,
    ) -> Result<DateTime<Utc>, CalendarError> {
        self.check()?;
        if minutes < 0 {
            return Err(CalendarError::NegativeAmount(minutes));
        }
        let local = to_local(start).ok_or(CalendarError::OutOfRange)?;
        let first_day = local.date();
        // More working minutes than the window has calendar minutes can never be met;
        // refusing early also keeps the TimeDelta below from overflowing.
        if minutes > i64::from(SEARCH_LIMIT_DAYS) * MINUTES_PER_DAY {
            return Err(CalendarError::DeadlineTooFar { from: first_day });
        }
        let mut left = TimeDelta::try_minutes(minutes).ok_or(CalendarError::OutOfRange)?;
        let mut day = first_day;
        let mut saw_workday = false;
        for step in 0..=SEARCH_LIMIT_DAYS {
            if self.is_workday(day) {
                saw_workday = true;
                for period in &self.office_hours {
                    let from = if step == 0 {
                        period.start.max(local.time())
                    } else {
                        period.start
                    };
                    if from >= period.end {
                        continue;
                    }
                    let available = period.end - from;
                    if left <= available {
                        return day
                            .and_time(from)
                            .checked_add_signed(left)
                            .and_then(to_utc)
                            .ok_or(CalendarError::OutOfRange);
                    }
                    left -= available;
                }
            }
            day = day.succ_opt().ok_or(CalendarError::OutOfRange)?;
        }
        Err(if saw_workday {
            CalendarError::DeadlineTooFar { from: first_day }
        } else {
            CalendarError::NoWorkdayWithin { from: first_day }
        })
    }

    /// Handle-within-N-working-days deadline: the end of the last office period of the
    /// Nth workday counted after the start day.
    ///
    /// Rule: the start's local date never counts as day 1, whatever the time of day and
    /// whether or not it is a workday; day 1 is the first workday strictly after it. So
    /// an event reported Wednesday 09:00 or Wednesday 20:00 with "3 working days" is due
    /// Monday 17:30 (Thu, Fri, Mon) in an ordinary week.
    ///
    /// `days = 0` means "handle today": the end of office hours of the start day if it is
    /// a workday and that end is still ahead, else the end of the next workday.
    ///
    /// Errors: a calendar failing [`check`](Self::check), or no deadline within
    /// [`SEARCH_LIMIT_DAYS`].
    pub fn add_working_days(
        &self,
        start: DateTime<Utc>,
        days: u32,
    ) -> Result<DateTime<Utc>, CalendarError> {
        self.check()?;
        let closing = self
            .office_hours
            .last()
            .map(|p| p.end)
            .ok_or(CalendarError::NoOfficeHours)?;
        let local = to_local(start).ok_or(CalendarError::OutOfRange)?;
        let first_day = local.date();
        if days > SEARCH_LIMIT_DAYS {
            return Err(CalendarError::DeadlineTooFar { from: first_day });
        }
        let start_day_counts = days == 0 && local.time() < closing;
        let target = days.max(1);
        let mut counted = 0u32;
        let mut day = first_day;
        for step in 0..=SEARCH_LIMIT_DAYS {
            if self.is_workday(day) && (step > 0 || start_day_counts) {
                counted += 1;
                if counted == target {
                    return to_utc(day.and_time(closing)).ok_or(CalendarError::OutOfRange);
                }
            }
            day = day.succ_opt().ok_or(CalendarError::OutOfRange)?;
        }
        Err(if counted == 0 {
            CalendarError::NoWorkdayWithin { from: first_day }
        } else {
            CalendarError::DeadlineTooFar { from: first_day }
        })
    }

    /// Working minutes from `from` to `to` (negative when `to` < `from`): used to show
    /// "time to deadline" and overdue amounts in working time.
    ///
    /// Partial minutes are truncated toward zero, so 30 seconds overdue reads as 0: decide
    /// *whether* an event is overdue by comparing instants, and use this for the amount.
    /// Computed in closed form (no day-by-day walk), so any two instants are answered
    /// quickly. On a calendar that fails [`check`](Self::check) the office periods are
    /// sorted and merged first, so the answer stays sensible and nothing panics.
    pub fn working_minutes_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        let periods = normalised_periods(&self.office_hours);
        if periods.is_empty() {
            return 0;
        }
        let nanos = self.working_nanos_since_epoch(&periods, to)
            - self.working_nanos_since_epoch(&periods, from);
        let minutes = nanos / NANOS_PER_MINUTE;
        i64::try_from(minutes).unwrap_or(if minutes < 0 { i64::MIN } else { i64::MAX })
    }

    /// Working time in nanoseconds from local midnight of [`COUNT_EPOCH`] to `instant`
    /// (negative before it). Differences of two such values are working time between.
    fn working_nanos_since_epoch(
        &self,
        periods: &[(NaiveTime, NaiveTime)],
        instant: DateTime<Utc>,
    ) -> i128 {
        // Only the last 8 hours chrono can represent fail to shift; clamping there is the
        // best answer available and keeps this function total.
        let local = to_local(instant).unwrap_or(NaiveDateTime::MAX);
        let day_nanos: i128 = periods.iter().map(|&(s, e)| nanos_of(e - s)).sum();
        let day = local.date();
        let whole_days = i128::from(self.signed_workdays_from_epoch(day)) * day_nanos;
        let today = if self.is_workday(day) {
            periods
                .iter()
                .map(|&(s, e)| nanos_of((local.time() - s).clamp(TimeDelta::zero(), e - s)))
                .sum()
        } else {
            0
        };
        whole_days + today
    }

    /// Workdays in `[COUNT_EPOCH, day)`, or minus those in `[day, COUNT_EPOCH)`.
    fn signed_workdays_from_epoch(&self, day: NaiveDate) -> i64 {
        if day >= COUNT_EPOCH {
            self.workdays_in(COUNT_EPOCH, day)
        } else {
            -self.workdays_in(day, COUNT_EPOCH)
        }
    }

    /// Workdays in `[first, end)` with `first <= end`: weekdays by arithmetic, then the
    /// (few) calendar exceptions in the range, mirroring [`is_workday`](Self::is_workday).
    fn workdays_in(&self, first: NaiveDate, end: NaiveDate) -> i64 {
        if end <= first {
            return 0;
        }
        let span = (end - first).num_days();
        let offset = i64::from(first.weekday().num_days_from_monday());
        let tail = (0..span % 7).filter(|i| (offset + i) % 7 < 5).count();
        let weekdays = span / 7 * 5 + count(tail);
        let extra = self
            .extra_workdays
            .range(first..end)
            .filter(|d| is_weekend(**d))
            .count();
        let off = self
            .holidays
            .range(first..end)
            .filter(|d| !is_weekend(**d) && !self.extra_workdays.contains(d))
            .count();
        weekdays + count(extra) - count(off)
    }
}

/// Formats a (possibly negative) working-minutes amount for a Chinese UI, e.g.
/// "剩余 3小时30分" / "已超时 1小时5分". Whole hours drop the minutes ("剩余 2小时").
pub fn format_working_minutes(minutes: i64) -> String {
    let label = if minutes < 0 { "已超时" } else { "剩余" };
    let amount = minutes.unsigned_abs();
    let (hours, rest) = (amount / 60, amount % 60);
    match (hours, rest) {
        (0, rest) => format!("{label} {rest}分"),
        (hours, 0) => format!("{label} {hours}小时"),
        (hours, rest) => format!("{label} {hours}小时{rest}分"),
    }
}

/// The usual office hours of a community office (社区): 08:30–12:00 and 14:00–17:30.
const CHINA_OFFICE_HOURS: [OfficePeriod; 2] = [
    OfficePeriod {
        start: hm(8, 30),
        end: hm(12, 0),
    },
    OfficePeriod {
        start: hm(14, 0),
        end: hm(17, 30),
    },
];

/// 2026 days off, inclusive ranges, from the State Council notice.
const CHINA_2026_HOLIDAYS: [(NaiveDate, NaiveDate); 7] = [
    (ymd(2026, 1, 1), ymd(2026, 1, 3)),   // 元旦
    (ymd(2026, 2, 15), ymd(2026, 2, 23)), // 春节
    (ymd(2026, 4, 4), ymd(2026, 4, 6)),   // 清明节
    (ymd(2026, 5, 1), ymd(2026, 5, 5)),   // 劳动节
    (ymd(2026, 6, 19), ymd(2026, 6, 21)), // 端午节
    (ymd(2026, 9, 25), ymd(2026, 9, 27)), // 中秋节
    (ymd(2026, 10, 1), ymd(2026, 10, 7)), // 国庆节
];

/// 2026 make-up workdays (调休上班), from the same notice.
const CHINA_2026_EXTRA_WORKDAYS: [NaiveDate; 6] = [
    ymd(2026, 1, 4),
    ymd(2026, 2, 14),
    ymd(2026, 2, 28),
    ymd(2026, 5, 9),
    ymd(2026, 9, 20),
    ymd(2026, 10, 10),
];

/// A date literal for the const tables. Only ever evaluated at compile time (in `const`
/// items), so a typo is a build error rather than a runtime panic.
const fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        None => panic!("invalid date literal in the built-in calendar"),
    }
}

/// A time literal for the const tables; compile-time only, like [`ymd`].
const fn hm(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(time) => time,
        None => panic!("invalid time literal in the built-in calendar"),
    }
}

fn is_weekend(day: NaiveDate) -> bool {
    day.weekday().num_days_from_monday() >= 5
}

fn to_local(instant: DateTime<Utc>) -> Option<NaiveDateTime> {
    instant.naive_utc().checked_add_signed(UTC_OFFSET)
}

fn to_utc(local: NaiveDateTime) -> Option<DateTime<Utc>> {
    local.checked_sub_signed(UTC_OFFSET).map(|n| n.and_utc())
}

fn nanos_of(delta: TimeDelta) -> i128 {
    i128::from(delta.num_seconds()) * 1_000_000_000 + i128::from(delta.subsec_nanos())
}

/// A collection size as i64; sizes never approach i64::MAX, so saturating never bites.
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Office periods sorted, with empty ones dropped and overlaps merged, so the closed-form
/// count never double-counts time even on a calendar that fails `check`.
fn normalised_periods(periods: &[OfficePeriod]) -> Vec<(NaiveTime, NaiveTime)> {
    let mut sorted: Vec<(NaiveTime, NaiveTime)> = periods
        .iter()
        .filter(|p| p.start < p.end)
        .map(|p| (p.start, p.end))
        .collect();
    sorted.sort();
    let mut merged: Vec<(NaiveTime, NaiveTime)> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Office times as "HH:MM" in JSON, the way the office writes them.
mod hhmm {
    use chrono::{NaiveTime, Timelike};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn text(time: NaiveTime) -> String {
        format!("{:02}:{:02}", time.hour(), time.minute())
    }

    pub(super) fn serialize<S: Serializer>(time: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(*time))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let raw = String::deserialize(d)?;
        NaiveTime::parse_from_str(&raw, "%H:%M").map_err(|_| {
            D::Error::custom(format!(
                "invalid office time {raw:?}: expected HH:MM such as \"08:30\""
            ))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, TimeZone};

    /// A Shanghai wall-clock instant, as a grid worker would read it.
    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn date(y: i32, mo: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, mo, d).unwrap()
    }

    fn cal() -> WorkdayCalendar {
        WorkdayCalendar::china_2026()
    }

    /// Working minutes counted by walking day by day, independent of the closed form:
    /// the overlap of `[from, to)` with every office period on the way.
    fn brute_force_between(c: &WorkdayCalendar, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        let (a, b, sign) = if from <= to {
            (from, to, 1)
        } else {
            (to, from, -1)
        };
        let (a, b) = (to_local(a).unwrap(), to_local(b).unwrap());
        let mut total = TimeDelta::zero();
        let mut day = a.date();
        while day <= b.date() {
            if c.is_workday(day) {
                for p in &c.office_hours {
                    let s = day.and_time(p.start).max(a);
                    let e = day.and_time(p.end).min(b);
                    if e > s {
                        total += e - s;
                    }
                }
            }
            day = day.succ_opt().unwrap();
        }
        sign * total.num_minutes()
    }

    #[test]
    fn friday_afternoon_report_is_due_on_the_saturday_make_up_workday() {
        let due = cal()
            .add_working_minutes(at(2026, 2, 13, 16, 0), 4 * 60)
            .unwrap();
        assert_eq!(due, at(2026, 2, 14, 11, 0));
    }

    #[test]
    fn report_before_national_day_is_due_after_the_golden_week() {
        let due = cal()
            .add_working_minutes(at(2026, 9, 30, 17, 0), 4 * 60)
            .unwrap();
        assert_eq!(due, at(2026, 10, 8, 12, 0));
    }

    #[test]
    fn every_2026_holiday_and_make_up_workday_is_classified_correctly() {
        let c = cal();
        let off = [
            (date(2026, 1, 1), date(2026, 1, 3)),
            (date(2026, 2, 15), date(2026, 2, 23)),
            (date(2026, 4, 4), date(2026, 4, 6)),
            (date(2026, 5, 1), date(2026, 5, 5)),
            (date(2026, 6, 19), date(2026, 6, 21)),
            (date(2026, 9, 25), date(2026, 9, 27)),
            (date(2026, 10, 1), date(2026, 10, 7)),
        ];
        let on = [
            date(2026, 1, 4),
            date(2026, 2, 14),
            date(2026, 2, 28),
            date(2026, 5, 9),
            date(2026, 9, 20),
            date(2026, 10, 10),
        ];
        let mut off_days = BTreeSet::new();
        for (first, last) in off {
            off_days.extend(first.iter_days().take_while(|d| *d <= last));
        }
        assert_eq!(off_days.len(), 3 + 9 + 3 + 5 + 3 + 3 + 7);
        for day in date(2026, 1, 1)
            .iter_days()
            .take_while(|d| d.year() == 2026)
        {
            let expected = if off_days.contains(&day) {
                false
            } else if on.contains(&day) {
                true
            } else {
                !is_weekend(day)
            };
            assert_eq!(c.is_workday(day), expected, "{day}");
        }
        for day in on {
            assert!(is_weekend(day), "{day} should be a weekend make-up day");
        }
        assert_eq!(c.check(), Ok(()));
    }

    #[test]
    fn ordinary_weekends_are_off_and_weekdays_are_on() {
        let c = cal();
        assert!(!c.is_workday(date(2026, 3, 7)));
        assert!(!c.is_workday(date(2026, 3, 8)));
        assert!(c.is_workday(date(2026, 3, 9)));
        // A year the calendar knows nothing about still follows the Mon–Fri rule.
        assert!(!c.is_workday(date(2027, 1, 2)));
        assert!(c.is_workday(date(2027, 1, 4)));
        // Friday 17:00 + 60 min skips the weekend.
        let due = c.add_working_minutes(at(2026, 3, 13, 17, 0), 60).unwrap();
        assert_eq!(due, at(2026, 3, 16, 9, 0));
    }

    #[test]
    fn a_start_during_the_lunch_break_counts_from_the_afternoon() {
        let c = cal();
        let lunch = at(2026, 3, 9, 12, 30);
        assert_eq!(
            c.add_working_minutes(lunch, 0).unwrap(),
            at(2026, 3, 9, 14, 0)
        );
        assert_eq!(
            c.add_working_minutes(lunch, 60).unwrap(),
            at(2026, 3, 9, 15, 0)
        );
        assert_eq!(c.working_minutes_between(lunch, at(2026, 3, 9, 14, 0)), 0);
    }

    #[test]
    fn a_start_before_opening_counts_from_opening() {
        let c = cal();
        let early = at(2026, 3, 9, 7, 0);
        assert_eq!(
            c.add_working_minutes(early, 0).unwrap(),
            at(2026, 3, 9, 8, 30)
        );
        assert_eq!(
            c.add_working_minutes(early, 30).unwrap(),
            at(2026, 3, 9, 9, 0)
        );
        // Morning holds 210 minutes; 211 spills into the afternoon.
        assert_eq!(
            c.add_working_minutes(early, 211).unwrap(),
            at(2026, 3, 9, 14, 1)
        );
    }

    #[test]
    fn a_start_exactly_at_a_period_end_is_outside_office_hours() {
        let c = cal();
        let noon = at(2026, 3, 9, 12, 0);
        assert_eq!(
            c.add_working_minutes(noon, 0).unwrap(),
            at(2026, 3, 9, 14, 0)
        );
        assert_eq!(
            c.add_working_minutes(noon, 60).unwrap(),
            at(2026, 3, 9, 15, 0)
        );
        let closing = at(2026, 3, 13, 17, 30);
        assert_eq!(
            c.add_working_minutes(closing, 60).unwrap(),
            at(2026, 3, 16, 9, 30)
        );
    }

    #[test]
    fn a_deadline_that_uses_up_a_period_ends_at_that_period_end() {
        let c = cal();
        let due = c.add_working_minutes(at(2026, 3, 9, 17, 0), 30).unwrap();
        assert_eq!(due, at(2026, 3, 9, 17, 30));
        let due = c.add_working_minutes(at(2026, 3, 9, 8, 30), 210).unwrap();
        assert_eq!(due, at(2026, 3, 9, 12, 0));
    }

    #[test]
    fn zero_minutes_inside_office_hours_is_the_start_itself_to_the_nanosecond() {
        let start = at(2026, 3, 9, 10, 0) + TimeDelta::nanoseconds(123_456_789);
        assert_eq!(cal().add_working_minutes(start, 0).unwrap(), start);
        assert_eq!(
            cal().add_working_minutes(start, 5).unwrap(),
            start + TimeDelta::minutes(5)
        );
    }

    #[test]
    fn the_json_round_trip_keeps_the_calendar_and_writes_times_as_hh_mm() {
        let c = cal();
        let json = c.to_json();
        assert!(json.contains("\"08:30\""), "{json}");
        assert!(json.contains("\"2026-10-10\""), "{json}");
        assert_eq!(WorkdayCalendar::from_json(&json).unwrap(), c);
    }

    #[test]
    fn a_hand_written_calendar_without_optional_lists_is_accepted() {
        let json = r#"{"name": "plain", "office_hours": [{"start": "09:00", "end": "17:00"}]}"#;
        let c = WorkdayCalendar::from_json(json).unwrap();
        assert!(c.holidays.is_empty() && c.extra_workdays.is_empty());
        assert_eq!(
            c.add_working_minutes(at(2026, 3, 9, 16, 0), 120).unwrap(),
            at(2026, 3, 10, 10, 0)
        );
    }

    fn rejection(json: &str) -> CalendarError {
        WorkdayCalendar::from_json(json).unwrap_err()
    }

    fn with_hours(hours: &str) -> String {
        format!(r#"{{"name": "x", "office_hours": {hours}, "holidays": [], "extra_workdays": []}}"#)
    }

    #[test]
    fn malformed_calendar_documents_are_rejected_with_a_clear_error() {
        assert!(matches!(rejection("{"), CalendarError::Json(_)));
        assert!(matches!(rejection("[]"), CalendarError::Json(_)));
        let bad_time = rejection(&with_hours(r#"[{"start": "25:00", "end": "26:00"}]"#));
        assert!(
            bad_time
                .to_string()
                .contains("invalid office time \"25:00\""),
            "{bad_time}"
        );
        let bad_date = rejection(
            r#"{"name": "x", "office_hours": [{"start": "08:30", "end": "12:00"}], "holidays": ["2026-02-30"]}"#,
        );
        assert!(matches!(bad_date, CalendarError::Json(_)), "{bad_date}");
        // A misspelt key must not silently drop the make-up workdays.
        let typo = rejection(
            r#"{"name": "x", "office_hours": [{"start": "08:30", "end": "12:00"}], "extra_workday": ["2026-02-14"]}"#,
        );
        assert!(typo.to_string().contains("extra_workday"), "{typo}");
    }

    #[test]
    fn calendars_with_impossible_office_hours_are_rejected() {
        assert_eq!(rejection(&with_hours("[]")), CalendarError::NoOfficeHours);
        assert!(matches!(
            rejection(&with_hours(r#"[{"start": "12:00", "end": "08:30"}]"#)),
            CalendarError::EmptyOfficePeriod { number: 1, .. }
        ));
        assert!(matches!(
            rejection(&with_hours(r#"[{"start": "08:30", "end": "08:30"}]"#)),
            CalendarError::EmptyOfficePeriod { number: 1, .. }
        ));
        let overlap = rejection(&with_hours(
            r#"[{"start": "08:30", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]"#,
        ));
        assert_eq!(
            overlap.to_string(),
            "office period 2 (11:00–13:00) overlaps the period before it (08:30–12:00)"
        );
        let unsorted = rejection(&with_hours(
            r#"[{"start": "14:00", "end": "17:30"}, {"start": "08:30", "end": "12:00"}]"#,
        ));
        assert!(matches!(
            unsorted,
            CalendarError::OfficePeriodsUnsorted { number: 2, .. }
        ));
        // Touching periods are fine: half-open intervals do not overlap.
        assert!(
            WorkdayCalendar::from_json(&with_hours(
                r#"[{"start": "08:30", "end": "12:00"}, {"start": "12:00", "end": "13:00"}]"#
            ))
            .is_ok()
        );
        let mut seconds = cal();
        seconds.office_hours[0].start = NaiveTime::from_hms_opt(8, 30, 15).unwrap();
        assert!(matches!(
            seconds.check(),
            Err(CalendarError::OfficeTimeNotWholeMinute { number: 1, .. })
        ));
    }

    #[test]
    fn calendars_with_contradictory_dates_are_rejected() {
        let mut both = cal();
        both.holidays.insert(date(2026, 2, 14));
        assert_eq!(
            both.check(),
            Err(CalendarError::HolidayAndExtraWorkday(date(2026, 2, 14)))
        );
        let mut weekday = cal();
        weekday.extra_workdays.insert(date(2026, 2, 24));
        let err = weekday.check().unwrap_err();
        assert_eq!(
            err,
            CalendarError::ExtraWorkdayNotOnWeekend(date(2026, 2, 24))
        );
        assert!(err.to_string().contains("2026-02-24"));
        // The arithmetic refuses to run on a calendar that fails the check.
        assert_eq!(
            both.add_working_minutes(at(2026, 2, 13, 9, 0), 10),
            Err(CalendarError::HolidayAndExtraWorkday(date(2026, 2, 14)))
        );
    }

    /// Every Monday–Friday from 2026 through 2037 declared off: more than the search
    /// window, so no workday can ever be found from 2026.
    fn calendar_without_workdays() -> WorkdayCalendar {
        let mut c = cal();
        c.extra_workdays.clear();
        c.holidays = date(2026, 1, 1)
            .iter_days()
            .take_while(|d| d.year() < 2038)
            .filter(|d| !is_weekend(*d))
            .collect();
        c
    }

    #[test]
    fn a_calendar_with_no_workdays_returns_an_error_instead_of_looping() {
        let c = calendar_without_workdays();
        let start = at(2026, 3, 9, 9, 0);
        let from = date(2026, 3, 9);
        assert_eq!(
            c.add_working_minutes(start, 60),
            Err(CalendarError::NoWorkdayWithin { from })
        );
        assert_eq!(
            c.add_working_minutes(start, 0),
            Err(CalendarError::NoWorkdayWithin { from })
        );
        assert_eq!(
            c.add_working_days(start, 3),
            Err(CalendarError::NoWorkdayWithin { from })
        );
        assert_eq!(
            c.add_working_days(start, 0),
            Err(CalendarError::NoWorkdayWithin { from })
        );
        assert_eq!(c.working_minutes_between(start, at(2036, 1, 1, 0, 0)), 0);
    }

    #[test]
    fn absurd_amounts_and_instants_return_errors_not_panics() {
        let c = cal();
        let start = at(2026, 3, 9, 9, 0);
        assert_eq!(
            c.add_working_minutes(start, -1),
            Err(CalendarError::NegativeAmount(-1))
        );
        assert!(matches!(
            c.add_working_minutes(start, i64::MAX),
            Err(CalendarError::DeadlineTooFar { .. })
        ));
        assert!(matches!(
            c.add_working_days(start, u32::MAX),
            Err(CalendarError::DeadlineTooFar { .. })
        ));
        // Ten years of calendar minutes fit the limit but not ten years of office hours.
        assert!(matches!(
            c.add_working_minutes(start, i64::from(SEARCH_LIMIT_DAYS) * MINUTES_PER_DAY),
            Err(CalendarError::DeadlineTooFar { .. })
        ));
        let near_end = DateTime::<Utc>::MAX_UTC;
        assert!(c.add_working_minutes(near_end, 60).is_err());
        assert!(c.add_working_days(near_end, 1).is_err());
        assert!(c.add_working_minutes(DateTime::<Utc>::MIN_UTC, 60).is_ok());
        let span = c.working_minutes_between(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        assert!(span > 0);
        assert_eq!(
            c.working_minutes_between(DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC),
            -span
        );
    }

    #[test]
    fn working_minutes_between_agrees_with_add_working_minutes_for_many_starts() {
        let c = cal();
        let amounts = [0, 1, 29, 59, 210, 240, 420, 421, 1000, 5000, 20_000];
        // Starts every 37 minutes through both worked examples' neighbourhoods, so every
        // phase of the day, weekends, holidays and make-up days are hit.
        for first in [
            at(2026, 2, 10, 0, 0),
            at(2026, 9, 16, 0, 0),
            at(2025, 12, 28, 0, 0),
        ] {
            for k in 0..(20 * 24 * 60 / 37) {
                let start = first + TimeDelta::minutes(37 * k);
                for m in amounts {
                    let due = c.add_working_minutes(start, m).unwrap();
                    assert!(due >= start);
                    assert_eq!(c.working_minutes_between(start, due), m, "{start} + {m}");
                    assert_eq!(c.working_minutes_between(due, start), -m, "{start} + {m}");
                    // The deadline is the earliest such instant: a minute earlier falls short.
                    if m > 0 {
                        let before = due - TimeDelta::minutes(1);
                        assert_eq!(c.working_minutes_between(start, before), m - 1);
                    }
                }
            }
        }
    }

    #[test]
    fn working_minutes_between_matches_a_day_by_day_count() {
        let c = cal();
        // A fixed linear congruential generator: reproducible, no extra dependency.
        let mut seed: u64 = 0x2026_0214;
        let mut next = move |bound: i64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            i64::try_from(seed >> 33).unwrap() % bound
        };
        let base = at(2025, 11, 1, 0, 0);
        for _ in 0..2000 {
            let from = base + TimeDelta::minutes(next(500 * 24 * 60));
            let to = base + TimeDelta::minutes(next(500 * 24 * 60));
            assert_eq!(
                c.working_minutes_between(from, to),
                brute_force_between(&c, from, to),
                "{from} → {to}"
            );
        }
        // A whole year is its workdays times seven office hours.
        let workdays_2026 = date(2026, 1, 1)
            .iter_days()
            .take_while(|d| d.year() == 2026)
            .filter(|d| c.is_workday(*d))
            .count();
        assert_eq!(
            c.working_minutes_between(at(2026, 1, 1, 0, 0), at(2027, 1, 1, 0, 0)),
            i64::try_from(workdays_2026).unwrap() * 420
        );
        // Dates before the internal counting epoch work the same way.
        let (a, b) = (at(1999, 12, 20, 10, 0), at(2000, 1, 20, 15, 0));
        assert_eq!(
            c.working_minutes_between(a, b),
            brute_force_between(&c, a, b)
        );
    }

    #[test]
    fn working_minutes_between_reads_the_worked_examples_back() {
        let c = cal();
        assert_eq!(
            c.working_minutes_between(at(2026, 2, 13, 16, 0), at(2026, 2, 14, 11, 0)),
            240
        );
        assert_eq!(
            c.working_minutes_between(at(2026, 9, 30, 17, 0), at(2026, 10, 8, 12, 0)),
            240
        );
        // Overdue by an afternoon: 10-08 12:00 → 10-09 09:00 is 3.5 h + 0.5 h.
        assert_eq!(
            c.working_minutes_between(at(2026, 10, 9, 9, 0), at(2026, 10, 8, 12, 0)),
            -240
        );
    }

    #[test]
    fn working_days_over_the_national_day_week_skip_the_holiday() {
        let c = cal();
        // Day 1 = 10-08 (Thu), day 2 = 10-09 (Fri), day 3 = 10-10 (Sat, make-up workday).
        assert_eq!(
            c.add_working_days(at(2026, 9, 30, 10, 0), 3).unwrap(),
            at(2026, 10, 10, 17, 30)
        );
        assert_eq!(
            c.add_working_days(at(2026, 9, 30, 10, 0), 1).unwrap(),
            at(2026, 10, 8, 17, 30)
        );
        // From the Tuesday before: 09-30, 10-08, 10-09.
        assert_eq!(
            c.add_working_days(at(2026, 9, 29, 9, 0), 3).unwrap(),
            at(2026, 10, 9, 17, 30)
        );
        // Reported during the holiday itself.
        assert_eq!(
            c.add_working_days(at(2026, 10, 3, 11, 0), 1).unwrap(),
            at(2026, 10, 8, 17, 30)
        );
    }

    #[test]
    fn the_start_day_never_counts_as_working_day_one() {
        let c = cal();
        // Wednesday early, mid-morning and evening all give the same deadline: Thu, Fri, Mon.
        for h in [7, 10, 16, 20] {
            assert_eq!(
                c.add_working_days(at(2026, 3, 11, h, 0), 3).unwrap(),
                at(2026, 3, 16, 17, 30),
                "{h}:00"
            );
        }
        // Reported on a Saturday: Mon, Tue, Wed.
        assert_eq!(
            c.add_working_days(at(2026, 3, 14, 10, 0), 3).unwrap(),
            at(2026, 3, 18, 17, 30)
        );
    }

    #[test]
    fn zero_working_days_means_by_the_end_of_the_current_working_day() {
        let c = cal();
        assert_eq!(
            c.add_working_days(at(2026, 3, 11, 10, 0), 0).unwrap(),
            at(2026, 3, 11, 17, 30)
        );
        // After closing, or at closing exactly, "today" has ended: next workday.
        assert_eq!(
            c.add_working_days(at(2026, 3, 11, 17, 30), 0).unwrap(),
            at(2026, 3, 12, 17, 30)
        );
        // On a weekend: the next workday, here the Saturday make-up day before Spring Festival.
        assert_eq!(
            c.add_working_days(at(2026, 2, 13, 18, 0), 0).unwrap(),
            at(2026, 2, 14, 17, 30)
        );
    }

    #[test]
    fn working_minutes_are_formatted_for_a_chinese_ui() {
        assert_eq!(format_working_minutes(210), "剩余 3小时30分");
        assert_eq!(format_working_minutes(-65), "已超时 1小时5分");
        assert_eq!(format_working_minutes(0), "剩余 0分");
        assert_eq!(format_working_minutes(45), "剩余 45分");
        assert_eq!(format_working_minutes(120), "剩余 2小时");
        assert_eq!(format_working_minutes(-1500), "已超时 25小时");
        assert!(format_working_minutes(i64::MIN).starts_with("已超时 "));
        assert!(format_working_minutes(i64::MAX).starts_with("剩余 "));
    }
}
