//! Range checks shared by the config sections' `validate` functions: each error names the key
//! (as in config.toml), the value and the accepted range ([`Error::Invalid`]).
use crate::error::{Error, Result};

/// `value` ≥ `min` (counts, sizes, widths).
pub fn at_least<T>(key: &str, value: T, min: T) -> Result<()>
where
    T: PartialOrd + std::fmt::Debug + std::fmt::Display,
{
    if value >= min {
        Ok(())
    } else {
        Err(Error::invalid(key, value, format!("at least {min}")))
    }
}

/// An optional count: absent, or ≥ `min`; `unset` says what leaving it out means.
pub fn opt_at_least<T>(key: &str, value: Option<T>, min: T, unset: &str) -> Result<()>
where
    T: PartialOrd + std::fmt::Debug + std::fmt::Display + Copy,
{
    match value {
        Some(v) if v < min => Err(Error::invalid(
            key,
            v,
            format!("at least {min} (or leave it unset: {unset})"),
        )),
        _ => Ok(()),
    }
}

/// A finite number ≥ 0.
pub fn non_negative(key: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(key, value, "a finite number ≥ 0"))
    }
}

/// A finite number > 0.
pub fn positive(key: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(key, value, "a finite number > 0"))
    }
}

/// A number strictly between 0 and 1 (fractions that must leave some on both sides); `note`
/// follows the range in the message.
pub fn in_open_unit(key: &str, value: f64, note: &str) -> Result<()> {
    if value > 0.0 && value < 1.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            key,
            value,
            format!("a number in (0, 1){note}"),
        ))
    }
}

/// A number in `[lo, hi]`, or `[lo, hi)` when `hi_open`.
pub fn in_range(key: &str, value: f64, lo: f64, hi: f64, hi_open: bool) -> Result<()> {
    let ok = value >= lo && if hi_open { value < hi } else { value <= hi };
    if ok {
        Ok(())
    } else {
        let close = if hi_open { ')' } else { ']' };
        Err(Error::invalid(
            key,
            value,
            format!("a number in [{lo}, {hi}{close}"),
        ))
    }
}

/// Every entry of a list of widths ≥ 1.
pub fn widths(key: &str, list: &[i64], empty_means: Option<&str>) -> Result<()> {
    widths_from(key, list, 1, empty_means)
}

/// Every entry of a list of widths ≥ `min`.
pub fn widths_from(key: &str, list: &[i64], min: i64, empty_means: Option<&str>) -> Result<()> {
    if list.is_empty() {
        return match empty_means {
            Some(_) => Ok(()),
            None => Err(Error::invalid(key, list, "at least one entry")),
        };
    }
    if let Some(i) = list.iter().position(|&w| w < min) {
        let empty = empty_means.map_or_else(String::new, |m| format!("; an empty list means {m}"));
        return Err(Error::invalid(
            key,
            list,
            format!(
                "widths of at least {min} (entry {} is {}{empty})",
                i + 1,
                list[i]
            ),
        ));
    }
    Ok(())
}
