//! Checks, normalises and masks the two identifiers grid workers type most: the resident ID
//! number (居民身份证号码, GB 11643-1999) and phone numbers. Both are sensitive personal
//! information under PIPL, so errors never echo the value and the `mask_*` functions give the
//! only form that should reach a screen or a log.

use chrono::{Datelike, NaiveDate};

/// A value that failed a check. `code` is stable and machine-readable; `message` is
/// "中文 / English" and never contains the value itself, so it is safe to log or show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    /// One of `"invalid_format"`, `"bad_check_digit"`, `"invalid_birth_date"`,
    /// `"future_birth_date"`.
    pub code: &'static str,
    /// Bilingual text for people; contains no personal data.
    pub message: String,
}

impl ValueError {
    fn new(code: &'static str) -> Self {
        let (zh, en) = texts(code);
        ValueError {
            code,
            message: format!("{zh} / {en}"),
        }
    }

    /// The Chinese half of the message alone, for short on-screen hints to the grid worker.
    pub fn message_zh(&self) -> &'static str {
        texts(self.code).0
    }
}

/// Error code: the value has the wrong shape (length, characters, prefix).
pub const INVALID_FORMAT: &str = "invalid_format";
/// Error code: the ID number's final check character does not match its first 17 digits.
pub const BAD_CHECK_DIGIT: &str = "bad_check_digit";
/// Error code: the ID number's birth date is not a real date or is before 1900.
pub const INVALID_BIRTH_DATE: &str = "invalid_birth_date";
/// Error code: the ID number's birth date is after today.
pub const FUTURE_BIRTH_DATE: &str = "future_birth_date";

// One table for both languages so the Chinese hint and the bilingual message cannot drift.
fn texts(code: &str) -> (&'static str, &'static str) {
    match code {
        BAD_CHECK_DIGIT => (
            "身份证号码校验位不正确,请核对",
            "ID number check character does not match",
        ),
        INVALID_BIRTH_DATE => (
            "身份证号码中的出生日期无效",
            "ID number contains an invalid birth date",
        ),
        FUTURE_BIRTH_DATE => (
            "身份证号码中的出生日期晚于今天",
            "ID number birth date is in the future",
        ),
        _ => ("号码格式不正确", "number format is invalid"),
    }
}

fn id_format_error() -> ValueError {
    ValueError {
        code: INVALID_FORMAT,
        message: "身份证号码格式不正确,应为18位 / ID number must be 18 characters: 17 digits and a digit or X".to_owned(),
    }
}

fn phone_format_error() -> ValueError {
    ValueError {
        code: INVALID_FORMAT,
        message: "电话号码格式不正确 / phone number format is invalid".to_owned(),
    }
}

/// ISO 7064 MOD 11-2 weights for the first 17 digits (2^(17-i) mod 11).
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character indexed by (weighted sum mod 11).
const ID_CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
/// GB 11643-1999 numbers were only issued to people born after this; earlier years are typos.
const EARLIEST_BIRTH_YEAR: i32 = 1900;

/// Chinese input methods often produce full-width digits, letters and dashes (０-９, Ｘ, －,
/// ideographic space); fold them to ASCII so a correct number typed in full-width still passes.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

fn folded_trimmed(s: &str) -> Vec<char> {
    let folded: String = s.chars().map(fold_width).collect();
    folded.trim().chars().collect()
}

/// Computes the GB 11643-1999 check character for the first 17 digits of an ID number.
/// Returns `None` unless `first17` is exactly 17 ASCII digits.
pub fn id_check_char(first17: &str) -> Option<char> {
    let digits: Vec<u32> = first17
        .chars()
        .map(|c| c.to_digit(10))
        .collect::<Option<_>>()?;
    if digits.len() != ID_WEIGHTS.len() || !first17.is_ascii() {
        return None;
    }
    let sum: u32 = digits.iter().zip(ID_WEIGHTS).map(|(d, w)| d * w).sum();
    ID_CHECK_CHARS.get((sum % 11) as usize).copied()
}

/// Splits a (folded, trimmed) candidate into 17 digits and an uppercase check character if it
/// has the 18-character shape; the content is not checked further.
fn id_shape(chars: &[char]) -> Option<(String, char)> {
    let (last, first17) = chars.split_last()?;
    if first17.len() != 17 || !first17.iter().all(char::is_ascii_digit) {
        return None;
    }
    let check = last.to_ascii_uppercase();
    if !(check.is_ascii_digit() || check == 'X') {
        return None;
    }
    Some((first17.iter().collect(), check))
}

/// Reads the yyyymmdd birth date in positions 7–14 of the 17 leading digits.
fn birth_date_of(first17: &str) -> Option<NaiveDate> {
    let year: i32 = first17.get(6..10)?.parse().ok()?;
    let month: u32 = first17.get(10..12)?.parse().ok()?;
    let day: u32 = first17.get(12..14)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// GB 11643-1999 18-character resident ID: 6-digit region, 8-digit birth date (valid calendar
/// date, not after `today`, not before 1900), 3-digit sequence, check character (ISO 7064
/// MOD 11-2, weights 7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2; check chars "10X98765432"; accept
/// lowercase x but normalise to uppercase).
///
/// Surrounding whitespace and full-width characters are tolerated. Returns the normalised
/// 18-character number. The region code is deliberately not looked up: codes are withdrawn
/// when districts merge, yet people keep their old numbers for life.
pub fn check_id_number(id: &str, today: NaiveDate) -> Result<String, ValueError> {
    let chars = folded_trimmed(id);
    let (first17, check) = id_shape(&chars).ok_or_else(id_format_error)?;
    // The birth date is checked before the check character because it points the worker at
    // the part of the number to re-read.
    let born = birth_date_of(&first17).ok_or_else(|| ValueError::new(INVALID_BIRTH_DATE))?;
    if born.year() < EARLIEST_BIRTH_YEAR {
        return Err(ValueError::new(INVALID_BIRTH_DATE));
    }
    if born > today {
        return Err(ValueError::new(FUTURE_BIRTH_DATE));
    }
    if id_check_char(&first17) != Some(check) {
        return Err(ValueError::new(BAD_CHECK_DIGIT));
    }
    Ok(format!("{first17}{check}"))
}

/// The birth date encoded in an 18-character ID number, or `None` if the number does not have
/// that shape or the date is not a real calendar date. The check character is not verified;
/// use [`check_id_number`] for that.
pub fn birth_date_from_id(id: &str) -> Option<NaiveDate> {
    let chars = folded_trimmed(id);
    let (first17, _) = id_shape(&chars)?;
    birth_date_of(&first17)
}

/// Mainland mobile (11 digits, starts 1[3-9]) or landline with area code (0 + 2-3 digit area
/// code, optional '-', 7-8 digits); spaces and '-' in mobiles tolerated and stripped; optional
/// +86 prefix stripped.
///
/// Returns the mobile's 11 digits, or a landline as `area-subscriber` (e.g. `010-12345678`).
/// The area code's length comes from the national numbering plan (010 and 020–029 are the only
/// two-digit codes), so a misplaced or missing dash does not matter.
pub fn check_phone(phone: &str) -> Result<String, ValueError> {
    let chars = folded_trimmed(phone);
    let text: String = chars.iter().collect();
    let (rest, international) = match text.strip_prefix("+86") {
        Some(rest) => (rest, true),
        None => (text.as_str(), false),
    };
    if !rest
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return Err(phone_format_error());
    }
    let mut digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    if is_mobile(&digits) {
        return Ok(digits);
    }
    // From abroad the trunk prefix 0 is dropped (+86 10 …); put it back to read the area code.
    if international && !digits.starts_with('0') {
        digits.insert(0, '0');
    }
    landline(&digits).ok_or_else(phone_format_error)
}

fn is_mobile(digits: &str) -> bool {
    let b = digits.as_bytes();
    b.len() == 11 && b.first() == Some(&b'1') && matches!(b.get(1), Some(b'3'..=b'9'))
}

fn landline(digits: &str) -> Option<String> {
    let b = digits.as_bytes();
    if b.first() != Some(&b'0') {
        return None;
    }
    let area_len = match (b.get(1), b.get(2)) {
        (Some(b'1'), Some(b'0')) | (Some(b'2'), Some(_)) => 3,
        (Some(b'3'..=b'9'), Some(_)) => 4,
        _ => return None,
    };
    let (area, subscriber) = (digits.get(..area_len)?, digits.get(area_len..)?);
    // A local number never begins with the trunk prefix 0, so one that does means the area
    // code was typed twice or mistyped.
    if !(7..=8).contains(&subscriber.len()) || subscriber.starts_with('0') {
        return None;
    }
    Some(format!("{area}-{subscriber}"))
}

fn stars(n: usize) -> String {
    "*".repeat(n)
}

/// "620102199001011234" → "6201**********1234" (first 4, last 4, '*' for the rest, same
/// length); short/odd input masked entirely with '*' so nothing leaks.
///
/// Only input with the shape of an ID number (18 characters, or the old 15-digit form) is
/// partially shown; anything else could be a name or a note pasted into the wrong box.
pub fn mask_id_number(id: &str) -> String {
    let chars = folded_trimmed(id);
    let shaped = match chars.len() {
        18 => id_shape(&chars).is_some(),
        15 => chars.iter().all(char::is_ascii_digit),
        _ => false,
    };
    if !shaped {
        return stars(chars.len());
    }
    let head: String = chars.iter().take(4).collect();
    let tail: String = chars.iter().skip(chars.len() - 4).collect();
    format!("{head}{}{tail}", stars(chars.len() - 8))
}

/// "13800138000" → "138****8000" (first 3, last 4); landlines keep area code and last 2; short
/// input fully masked.
///
/// The number is normalised first (so "+86 138 0013 8000" masks like "13800138000"); anything
/// that is not a valid phone number is masked entirely, one '*' per character.
pub fn mask_phone(phone: &str) -> String {
    let Ok(normal) = check_phone(phone) else {
        return stars(folded_trimmed(phone).len());
    };
    match normal.split_once('-') {
        Some((area, subscriber)) => {
            let tail: String = subscriber.chars().skip(subscriber.len() - 2).collect();
            format!("{area}-{}{tail}", stars(subscriber.len() - 2))
        }
        None => {
            let head: String = normal.chars().take(3).collect();
            let tail: String = normal.chars().skip(7).collect();
            format!("{head}****{tail}")
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn today() -> NaiveDate {
        day(2025, 6, 15)
    }

    /// Completes 17 digits into a valid ID with the implementation under test; the known
    /// published example below pins that implementation down.
    fn with_check(first17: &str) -> String {
        format!("{first17}{}", id_check_char(first17).unwrap())
    }

    #[test]
    fn the_published_example_id_has_check_character_x() {
        assert_eq!(id_check_char("11010519491231002"), Some('X'));
        assert_eq!(
            check_id_number("11010519491231002X", today()).unwrap(),
            "11010519491231002X"
        );
    }

    #[test]
    fn check_character_matches_a_hand_computed_weighted_sum() {
        // 6201021990010112 3: sum written out independently of ID_WEIGHTS.
        let digits = [6, 2, 0, 1, 0, 2, 1, 9, 9, 0, 0, 1, 0, 1, 1, 2, 3];
        let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        let sum: usize = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
        let expected = "10X98765432".chars().nth(sum % 11).unwrap();
        assert_eq!(id_check_char("62010219900101123"), Some(expected));
    }

    #[test]
    fn every_remainder_maps_to_its_own_check_character() {
        // Varying the sequence digits walks through all 11 remainders.
        let mut seen = std::collections::BTreeSet::new();
        for seq in 0..200 {
            let first17 = format!("62010219900101{seq:03}");
            seen.insert(id_check_char(&first17).unwrap());
        }
        assert_eq!(seen.len(), 11);
    }

    #[test]
    fn check_char_needs_exactly_seventeen_ascii_digits() {
        assert_eq!(id_check_char("1101051949123100"), None);
        assert_eq!(id_check_char("110105194912310021"), None);
        assert_eq!(id_check_char("1101051949123100a"), None);
        assert_eq!(id_check_char("११०१०५१९४९१२३१००२"), None);
    }

    #[test]
    fn lowercase_x_is_accepted_and_normalised_to_uppercase() {
        assert_eq!(
            check_id_number("11010519491231002x", today()).unwrap(),
            "11010519491231002X"
        );
    }

    #[test]
    fn surrounding_spaces_and_full_width_digits_are_tolerated() {
        assert_eq!(
            check_id_number("  11010519491231002X\n", today()).unwrap(),
            "11010519491231002X"
        );
        assert_eq!(
            check_id_number("１１０１０５１９４９１２３１００２ｘ", today()).unwrap(),
            "11010519491231002X"
        );
    }

    #[test]
    fn a_wrong_check_character_is_reported_as_bad_check_digit() {
        let err = check_id_number("110105194912310021", today()).unwrap_err();
        assert_eq!(err.code, BAD_CHECK_DIGIT);
    }

    #[test]
    fn a_single_swapped_digit_is_caught() {
        let good = with_check("62010219900101123");
        let swapped = format!("62010219900101213{}", good.chars().last().unwrap());
        assert_eq!(
            check_id_number(&swapped, today()).unwrap_err().code,
            BAD_CHECK_DIGIT
        );
    }

    #[test]
    fn wrong_length_or_characters_are_invalid_format() {
        for bad in [
            "",
            "1101051949123100",
            "11010519491231002X1",
            "1101051949123100XX",
            "11010519491231002Y",
            "110105 19491231002X",
            "11010519491231002Ⅹ",
            "一一零一零五一九四九一二三一零零二X",
        ] {
            assert_eq!(
                check_id_number(bad, today()).unwrap_err().code,
                INVALID_FORMAT,
                "{bad}"
            );
        }
    }

    #[test]
    fn impossible_calendar_dates_are_invalid_birth_dates() {
        for date in ["20230229", "19901301", "19900132", "19900000", "18991231"] {
            let id = with_check(&format!("620102{date}123"));
            assert_eq!(
                check_id_number(&id, today()).unwrap_err().code,
                INVALID_BIRTH_DATE,
                "{date}"
            );
        }
    }

    #[test]
    fn leap_day_and_the_year_1900_are_accepted() {
        for date in ["20240229", "19000101"] {
            let id = with_check(&format!("620102{date}123"));
            assert!(check_id_number(&id, today()).is_ok(), "{date}");
        }
    }

    #[test]
    fn a_birth_date_after_today_is_rejected_but_today_is_fine() {
        let born_today = with_check("62010220250615123");
        assert!(check_id_number(&born_today, today()).is_ok());
        let tomorrow = with_check("62010220250616123");
        assert_eq!(
            check_id_number(&tomorrow, today()).unwrap_err().code,
            FUTURE_BIRTH_DATE
        );
    }

    #[test]
    fn error_messages_never_contain_the_number() {
        let id = "620102199001011239";
        let err = check_id_number(id, today()).unwrap_err();
        assert!(!err.message.contains("1990"));
        assert!(!err.to_string().contains(id));
        assert!(err.message.contains('/'), "bilingual: {}", err.message);
        assert!(!err.message_zh().is_empty());
    }

    #[test]
    fn birth_date_is_read_from_a_well_shaped_id() {
        assert_eq!(
            birth_date_from_id("11010519491231002X"),
            Some(day(1949, 12, 31))
        );
        assert_eq!(
            birth_date_from_id("11010519491231002x"),
            Some(day(1949, 12, 31))
        );
        assert_eq!(birth_date_from_id("110105194902310021"), None);
        assert_eq!(birth_date_from_id("1101051949123"), None);
        assert_eq!(
            birth_date_from_id("张三张三张三张三张三张三张三张三张三"),
            None
        );
    }

    #[test]
    fn mobiles_are_normalised_to_eleven_digits() {
        for input in [
            "13800138000",
            "138 0013 8000",
            "138-0013-8000",
            "+8613800138000",
            "+86 138 0013 8000",
            " １３８００１３８０００ ",
        ] {
            assert_eq!(check_phone(input).unwrap(), "13800138000", "{input}");
        }
        assert_eq!(check_phone("19912345678").unwrap(), "19912345678");
    }

    #[test]
    fn mobiles_must_start_with_one_then_three_to_nine() {
        for bad in ["12800138000", "10800138000", "23800138000"] {
            assert!(check_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mobiles_must_have_exactly_eleven_digits() {
        assert!(check_phone("1380013800").is_err());
        assert!(check_phone("138001380001").is_err());
    }

    #[test]
    fn landlines_keep_one_dash_after_the_area_code() {
        assert_eq!(check_phone("010-12345678").unwrap(), "010-12345678");
        assert_eq!(check_phone("01012345678").unwrap(), "010-12345678");
        assert_eq!(check_phone("021 6543 2100").unwrap(), "021-65432100");
        assert_eq!(check_phone("0931-8123456").unwrap(), "0931-8123456");
        assert_eq!(check_phone("09318123456").unwrap(), "0931-8123456");
        assert_eq!(check_phone("0755-86001234").unwrap(), "0755-86001234");
    }

    #[test]
    fn landlines_from_abroad_regain_their_trunk_zero() {
        assert_eq!(check_phone("+86 10 12345678").unwrap(), "010-12345678");
        assert_eq!(check_phone("+86 931 8123456").unwrap(), "0931-8123456");
    }

    #[test]
    fn malformed_landlines_are_rejected() {
        for bad in [
            "010-123456",
            "010-123456789",
            "000-12345678",
            "011-12345678",
            "010-02345678",
            "010-12345678-123",
            "0",
        ] {
            assert_eq!(check_phone(bad).unwrap_err().code, INVALID_FORMAT, "{bad}");
        }
    }

    #[test]
    fn letters_chinese_and_stray_symbols_are_rejected_without_panicking() {
        for bad in [
            "",
            "   ",
            "---",
            "+86",
            "138001380OO",
            "电话13800138000",
            "(010)12345678",
            "13800138000 转 123",
            "86+13800138000",
        ] {
            assert!(check_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phone_errors_do_not_echo_the_number() {
        let err = check_phone("1380013800").unwrap_err();
        assert!(!err.message.contains("138"));
    }

    #[test]
    fn id_numbers_are_masked_to_first_four_and_last_four() {
        assert_eq!(mask_id_number("620102199001011234"), "6201**********1234");
        assert_eq!(mask_id_number("11010519491231002X"), "1101**********002X");
        assert_eq!(mask_id_number("110105491231002"), "1101*******1002");
    }

    #[test]
    fn odd_id_input_is_masked_entirely() {
        assert_eq!(mask_id_number("1234567"), "*******");
        assert_eq!(mask_id_number(""), "");
        assert_eq!(mask_id_number("张三的身份证"), "******");
        assert_eq!(mask_id_number("62010219900101123Y"), "******************");
        assert_eq!(mask_id_number("6201021990010112345"), "*******************");
    }

    #[test]
    fn mobiles_are_masked_to_first_three_and_last_four() {
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_phone("+86 138-0013-8000"), "138****8000");
    }

    #[test]
    fn landlines_keep_area_code_and_last_two() {
        assert_eq!(mask_phone("010-12345678"), "010-******78");
        assert_eq!(mask_phone("09318123456"), "0931-*****56");
    }

    #[test]
    fn invalid_phone_input_is_masked_entirely() {
        assert_eq!(mask_phone("12345"), "*****");
        assert_eq!(mask_phone("1380013800"), "**********");
        assert_eq!(mask_phone("打电话"), "***");
        assert_eq!(mask_phone(""), "");
    }
}
