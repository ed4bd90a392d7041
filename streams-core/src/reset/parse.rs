//! Parsing what Kafka's `kafka-streams-application-reset` takes on its command line: a
//! datetime (`--to-datetime`), an ISO-8601 duration (`--by-duration`) and a reset plan file of
//! `TOPIC,PARTITION,OFFSET` lines (`--from-file`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Error, Result};

fn invalid(flag: &str, reason: String) -> Error {
    Error::Config {
        key: flag.to_string(),
        reason,
    }
}

/// Parses a datetime as Kafka's reset tool does: `YYYY-MM-DDTHH:mm:SS.sss`, optionally with a
/// zone (`Z`, `+hh`, `+hhmm` or `+hh:mm`, or `-`); without one it is UTC, as in Kafka. The
/// milliseconds may be left out here (Kafka requires them).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use streams_core::reset::parse_datetime;
/// let t = parse_datetime("2024-03-01T12:00:00.250")?;
/// assert_eq!(t, UNIX_EPOCH + Duration::from_millis(1_709_294_400_250));
/// assert_eq!(parse_datetime("2024-03-01T13:00:00.250+01:00")?, t);
/// assert!(parse_datetime("2024-02-30T00:00:00").is_err(), "no 30th of February");
/// # Ok::<(), streams_core::Error>(())
/// ```
pub fn parse_datetime(text: &str) -> Result<SystemTime> {
    let millis = datetime_millis(text.trim()).map_err(|reason| {
        invalid(
            "--to-datetime",
            format!("`{text}` is not a datetime YYYY-MM-DDTHH:mm:SS.sss[Z|±hh:mm]: {reason}"),
        )
    })?;
    Ok(match u64::try_from(millis) {
        Ok(after) => UNIX_EPOCH + Duration::from_millis(after),
        Err(_) => UNIX_EPOCH - Duration::from_millis(millis.unsigned_abs()),
    })
}

/// Milliseconds since the epoch of a datetime, or why it is not one.
fn datetime_millis(text: &str) -> Result<i64, String> {
    let (date, time) = text.split_once('T').ok_or("no `T` between date and time")?;
    let mut parts = date.splitn(3, '-');
    let year = number(parts.next(), 4, "year")?;
    let month = number(parts.next(), 2, "month")?;
    let day = number(parts.next(), 2, "day")?;
    if !(1..=12).contains(&month) {
        return Err(format!("month {month}"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(format!("day {day} of {year}-{month:02}"));
    }
    // The zone starts at the first `Z`, `+` or `-` of the time.
    let zone_at = time.find(['Z', 'z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(zone_at);
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (clock, None),
    };
    let mut parts = hms.splitn(3, ':');
    let hour = number(parts.next(), 2, "hour")?;
    let minute = number(parts.next(), 2, "minute")?;
    let second = number(parts.next(), 2, "second")?;
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!("time {hour:02}:{minute:02}:{second:02}"));
    }
    let millis = match fraction {
        None => 0,
        Some(f) if (1..=3).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
            // `.5` is 500 ms, as a decimal fraction.
            let digits: i64 = f.parse().map_err(|_| format!("fraction `{f}`"))?;
            digits * 10i64.pow(3 - f.len() as u32)
        }
        Some(f) => return Err(format!("fraction `.{f}` (1 to 3 digits)")),
    };
    let offset_minutes = zone_minutes(zone)?;
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Ok(seconds * 1_000 + millis)
}

/// A field of exactly `width` digits.
fn number(part: Option<&str>, width: usize, what: &str) -> Result<i64, String> {
    let part = part.ok_or_else(|| format!("no {what}"))?;
    if part.len() != width || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} `{part}` ({width} digits)"));
    }
    part.parse().map_err(|_| format!("{what} `{part}`"))
}

/// The zone's offset east of UTC in minutes: empty (UTC, as Kafka), `Z`, `±hh`, `±hhmm`,
/// `±hh:mm`.
fn zone_minutes(zone: &str) -> Result<i64, String> {
    if zone.is_empty() || zone.eq_ignore_ascii_case("z") {
        return Ok(0);
    }
    let (sign, rest) = match zone.split_at(1) {
        ("+", rest) => (1, rest),
        ("-", rest) => (-1, rest),
        _ => return Err(format!("zone `{zone}`")),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    let colon_ok = !rest.contains(':') || (rest.len() == 5 && rest.as_bytes()[2] == b':');
    let (hours, minutes) = match digits.len() {
        2 => (number(Some(&digits), 2, "zone hours")?, 0),
        4 => (
            number(Some(&digits[..2]), 2, "zone hours")?,
            number(Some(&digits[2..]), 2, "zone minutes")?,
        ),
        _ => return Err(format!("zone `{zone}`")),
    };
    if !colon_ok || hours > 23 || minutes > 59 {
        return Err(format!("zone `{zone}`"));
    }
    Ok(sign * (hours * 60 + minutes))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `ms` since the epoch as `YYYY-MM-DDTHH:mm:SS.sssZ` (Howard Hinnant's `civil_from_days`).
pub(crate) fn format_datetime(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1_000 % 60,
        in_day % 1_000
    )
}

/// Parses an ISO-8601 duration as Java's `Duration.parse` does for Kafka's `--by-duration`:
/// `PnDTnHnMn.nS`, each part optional but one, case-insensitive (`P2D`, `PT1H30M`,
/// `P1DT12H`, `PT0.5S`). Negative durations are refused: a reset goes back in time.
///
/// ```
/// use std::time::Duration;
/// use streams_core::reset::parse_duration;
/// assert_eq!(parse_duration("PT1H30M")?, Duration::from_secs(90 * 60));
/// assert_eq!(parse_duration("P1DT0.5S")?, Duration::from_millis(86_400_500));
/// assert!(parse_duration("1h").is_err());
/// # Ok::<(), streams_core::Error>(())
/// ```
pub fn parse_duration(text: &str) -> Result<Duration> {
    duration(text.trim()).map_err(|reason| {
        invalid(
            "--by-duration",
            format!("`{text}` is not an ISO-8601 duration PnDTnHnMn.nS: {reason}"),
        )
    })
}

fn duration(text: &str) -> Result<Duration, String> {
    let upper = text.to_ascii_uppercase();
    if upper.starts_with('-') {
        return Err("negative".into());
    }
    let body = upper
        .strip_prefix('+')
        .unwrap_or(&upper)
        .strip_prefix('P')
        .ok_or("no leading `P`")?;
    let (days, time) = match body.split_once('T') {
        Some((days, "")) => {
            return Err(format!("nothing after `T` (in `{days}T`)"));
        }
        Some((days, time)) => (days, Some(time)),
        None => (body, None),
    };
    let mut total = Duration::ZERO;
    let mut parts = 0;
    if !days.is_empty() {
        let n = days.strip_suffix('D').ok_or("days end in `D`")?;
        total += whole(n)?
            .checked_mul(86_400)
            .map(Duration::from_secs)
            .ok_or("too long")?;
        parts += 1;
    }
    if let Some(mut time) = time {
        // Hours, minutes, seconds: each at most once, in this order.
        for (unit, seconds) in [('H', 3_600u64), ('M', 60), ('S', 1)] {
            let Some(at) = time.find(unit) else { continue };
            let n = &time[..at];
            let value = if unit == 'S' {
                fractional_seconds(n)?
            } else {
                whole(n)?
                    .checked_mul(seconds)
                    .map(Duration::from_secs)
                    .ok_or("too long")?
            };
            total = total.checked_add(value).ok_or("too long")?;
            parts += 1;
            time = &time[at + 1..];
        }
        if !time.is_empty() {
            return Err(format!("unexpected `{time}`"));
        }
    }
    if parts == 0 {
        return Err("no days, hours, minutes or seconds".into());
    }
    Ok(total)
}

fn whole(n: &str) -> Result<u64, String> {
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{n}` is not a whole number"));
    }
    n.parse().map_err(|_| format!("`{n}` is too large"))
}

fn fractional_seconds(n: &str) -> Result<Duration, String> {
    let (secs, nanos) = match n.split_once('.') {
        Some((secs, fraction)) => {
            if fraction.is_empty()
                || fraction.len() > 9
                || !fraction.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(format!("`{n}` seconds (up to 9 decimals)"));
            }
            let scaled: u32 = format!("{fraction:0<9}")
                .parse()
                .map_err(|_| format!("`{n}` seconds"))?;
            (if secs.is_empty() { 0 } else { whole(secs)? }, scaled)
        }
        None => (whole(n)?, 0),
    };
    Ok(Duration::new(secs, nanos))
}

/// Parses a reset plan as Kafka's `--from-file` reads it: one `TOPIC,PARTITION,OFFSET` line
/// per partition (blank lines and `#` comments skipped; a partition listed twice is an
/// error).
///
/// ```
/// use streams_core::reset::parse_offsets_csv;
/// let offsets = parse_offsets_csv("payments,0,42\npayments,1,7\n")?;
/// assert_eq!(offsets[&("payments".to_string(), 1)], 7);
/// # Ok::<(), streams_core::Error>(())
/// ```
pub fn parse_offsets_csv(text: &str) -> Result<BTreeMap<(String, i32), i64>> {
    let mut offsets = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason: &str| {
            invalid(
                "--from-file",
                format!(
                    "line {} `{line}` is not TOPIC,PARTITION,OFFSET: {reason}",
                    index + 1
                ),
            )
        };
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [topic, partition, offset] = fields[..] else {
            return Err(bad("three fields expected"));
        };
        if topic.is_empty() {
            return Err(bad("no topic"));
        }
        let partition: i32 = partition
            .parse()
            .ok()
            .filter(|p| *p >= 0)
            .ok_or_else(|| bad("the partition is not a number ≥ 0"))?;
        let offset: i64 = offset
            .parse()
            .ok()
            .filter(|o| *o >= 0)
            .ok_or_else(|| bad("the offset is not a number ≥ 0"))?;
        if offsets
            .insert((topic.to_string(), partition), offset)
            .is_some()
        {
            return Err(bad("the partition is listed twice"));
        }
    }
    if offsets.is_empty() {
        return Err(invalid(
            "--from-file",
            "the reset plan lists no partition".into(),
        ));
    }
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(text: &str) -> i64 {
        match datetime_millis(text) {
            Ok(ms) => ms,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    #[test]
    fn datetimes_are_read_as_kafka_reads_them() {
        assert_eq!(millis("1970-01-01T00:00:00.000"), 0);
        assert_eq!(millis("1970-01-01T00:00:00.001Z"), 1);
        // Java: Utils.getDateTime("2000-02-29T23:59:59.999") = 951868799999.
        assert_eq!(millis("2000-02-29T23:59:59.999"), 951_868_799_999);
        assert_eq!(millis("2000-02-29T23:59:59.999+00"), 951_868_799_999);
        assert_eq!(millis("2000-03-01T01:29:59.999+0130"), 951_868_799_999);
        assert_eq!(millis("2000-02-29T20:59:59.999-03:00"), 951_868_799_999);
        assert_eq!(millis("1969-12-31T23:59:59.000"), -1_000);
        assert_eq!(millis("2024-03-01T12:00:00.5"), 1_709_294_400_500);
        assert_eq!(millis("2024-03-01T12:00:00"), 1_709_294_400_000);
        for bad in [
            "2024-03-01",
            "2024-3-01T00:00:00",
            "2023-02-29T00:00:00",
            "2024-13-01T00:00:00",
            "2024-01-01T24:00:00",
            "2024-01-01T00:60:00",
            "2024-01-01T00:00:00.1234",
            "2024-01-01T00:00:00+1",
            "2024-01-01T00:00:00+01:0",
            "2024-01-01T00:00:00X",
            "2024-01-01T00:00",
        ] {
            assert!(datetime_millis(bad).is_err(), "{bad} accepted");
        }
        for ms in [
            0,
            951_868_799_999,
            -1_000,
            1_709_294_400_500,
            4_102_444_800_000,
        ] {
            assert_eq!(millis(&format_datetime(ms)), ms, "{}", format_datetime(ms));
        }
        assert_eq!(format_datetime(951_868_799_999), "2000-02-29T23:59:59.999Z");
        assert!(
            parse_datetime("yesterday").is_err_and(|e| e.to_string().contains("--to-datetime"))
        );
    }

    #[test]
    fn durations_are_read_as_java_reads_them() {
        let ok = |text: &str| match duration(text) {
            Ok(d) => d,
            Err(e) => panic!("{text}: {e}"),
        };
        assert_eq!(ok("PT15M"), Duration::from_secs(900));
        assert_eq!(ok("P2D"), Duration::from_secs(2 * 86_400));
        assert_eq!(ok("p1dt2h3m4s"), Duration::from_secs(86_400 + 7_384));
        assert_eq!(ok("PT1.5S"), Duration::from_millis(1_500));
        assert_eq!(ok("PT.25S"), Duration::from_millis(250));
        assert_eq!(ok("PT0S"), Duration::ZERO);
        assert_eq!(ok("+PT1H"), Duration::from_secs(3_600));
        for bad in [
            "", "P", "PT", "1H", "-PT1H", "PT1D", "P1H", "PT1M1H", "PT1H1H", "PT1.S", "PTXS",
            "P1DT",
        ] {
            assert!(duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_reset_plan_file_lists_each_partition_once() -> Result<()> {
        let offsets = parse_offsets_csv("# plan\na,0,5\n\n a , 1 , 0 \nb,3,100\n")?;
        assert_eq!(
            offsets.into_iter().collect::<Vec<_>>(),
            vec![
                (("a".to_string(), 0), 5),
                (("a".to_string(), 1), 0),
                (("b".to_string(), 3), 100)
            ]
        );
        for bad in [
            "",
            "a,0",
            "a,0,1,2",
            ",0,1",
            "a,-1,0",
            "a,0,-5",
            "a,x,0",
            "a,0,1\na,0,2",
        ] {
            assert!(parse_offsets_csv(bad).is_err(), "{bad:?} accepted");
        }
        Ok(())
    }
}
