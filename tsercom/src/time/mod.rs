//! Time: the [`Timestamp`] type (UTC, nanosecond precision) and the
//! [`Timestamped`] trait that generated code implements.
//!
//! Nothing here reads the local time zone: every conversion is arithmetic on
//! seconds since the Unix epoch, UTC, so the `TZ` variable changes nothing.

pub mod clock;
pub mod sntp;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use clock::{
    Clock, Estimate, Exchange, OffsetClock, OffsetEstimator, SyncState, SynchronizedClock,
    SystemClock,
};

use crate::error::{Error, Result};
use crate::proto;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// A point in time, UTC, with nanosecond precision, restricted to the range
/// protobuf's `google.protobuf.Timestamp` can carry:
/// 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999999999Z.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    // Invariant: MIN_SECONDS <= seconds <= MAX_SECONDS, nanos < 1e9.
    seconds: i64,
    nanos: u32,
}

impl Timestamp {
    /// Seconds of 0001-01-01T00:00:00Z.
    pub const MIN_SECONDS: i64 = -62_135_596_800;
    /// Seconds of 9999-12-31T23:59:59Z.
    pub const MAX_SECONDS: i64 = 253_402_300_799;
    /// The earliest representable time.
    pub const MIN: Timestamp = Timestamp {
        seconds: Self::MIN_SECONDS,
        nanos: 0,
    };
    /// The latest representable time.
    pub const MAX: Timestamp = Timestamp {
        seconds: Self::MAX_SECONDS,
        nanos: 999_999_999,
    };
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp {
        seconds: 0,
        nanos: 0,
    };

    /// A timestamp from seconds since the Unix epoch and nanoseconds.
    ///
    /// # Errors
    /// [`Error::TimestampOutOfRange`] outside the protobuf range or with
    /// `nanos >= 1_000_000_000`.
    pub fn new(seconds: i64, nanos: u32) -> Result<Self> {
        if !(Self::MIN_SECONDS..=Self::MAX_SECONDS).contains(&seconds) || nanos >= 1_000_000_000 {
            return Err(Error::TimestampOutOfRange {
                seconds: i128::from(seconds),
                nanos: i64::from(nanos),
            });
        }
        Ok(Timestamp { seconds, nanos })
    }

    /// The current wall-clock time of this machine (not synchronized).
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now()).unwrap_or(Self::UNIX_EPOCH)
    }

    /// Converts a `SystemTime`.
    ///
    /// # Errors
    /// [`Error::TimestampOutOfRange`] outside the protobuf range.
    pub fn from_system_time(time: SystemTime) -> Result<Self> {
        let nanos = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
            Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
        };
        Self::from_unix_nanos(nanos)
    }

    /// The equivalent `SystemTime`, or `None` where the platform cannot
    /// represent it.
    pub fn to_system_time(&self) -> Option<SystemTime> {
        let nanos = self.unix_nanos();
        let magnitude = Duration::from_nanos(u64::try_from(nanos.unsigned_abs()).ok()?);
        if nanos >= 0 {
            UNIX_EPOCH.checked_add(magnitude)
        } else {
            UNIX_EPOCH.checked_sub(magnitude)
        }
    }

    /// A timestamp from nanoseconds since the Unix epoch.
    ///
    /// # Errors
    /// [`Error::TimestampOutOfRange`] outside the protobuf range.
    pub fn from_unix_nanos(nanos: i128) -> Result<Self> {
        let seconds = nanos.div_euclid(NANOS_PER_SEC);
        let subsec = nanos.rem_euclid(NANOS_PER_SEC);
        let out_of_range = || Error::TimestampOutOfRange {
            seconds,
            nanos: i64::try_from(subsec).unwrap_or(i64::MAX),
        };
        let seconds_i64 = i64::try_from(seconds).map_err(|_| out_of_range())?;
        let subsec_u32 = u32::try_from(subsec).map_err(|_| out_of_range())?;
        Self::new(seconds_i64, subsec_u32)
    }

    /// Nanoseconds since the Unix epoch (negative before 1970).
    pub fn unix_nanos(&self) -> i128 {
        i128::from(self.seconds) * NANOS_PER_SEC + i128::from(self.nanos)
    }

    /// Whole seconds since the Unix epoch.
    pub fn seconds(&self) -> i64 {
        self.seconds
    }

    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// This time shifted by `delta_nanos` (negative: earlier).
    ///
    /// # Errors
    /// [`Error::TimestampOutOfRange`] when the result leaves the range.
    pub fn offset_by_nanos(&self, delta_nanos: i128) -> Result<Self> {
        // Offsets that fit 64 bits (± 292 years; clock offsets, stamps of a
        // batch) in 64-bit arithmetic: a 128-bit division per sample cost
        // about 2 % of the receive path (perf).
        if let Ok(delta) = i64::try_from(delta_nanos) {
            const PER_SEC: i64 = 1_000_000_000;
            let mut seconds = self.seconds.checked_add(delta.div_euclid(PER_SEC));
            // Both below 1e9: the sum fits a u32 with room.
            let mut nanos = self.nanos + delta.rem_euclid(PER_SEC) as u32;
            if nanos >= PER_SEC as u32 {
                nanos -= PER_SEC as u32;
                seconds = seconds.and_then(|s| s.checked_add(1));
            }
            if let Some(seconds) = seconds {
                return Self::new(seconds, nanos);
            }
        }
        let total =
            self.unix_nanos()
                .checked_add(delta_nanos)
                .ok_or(Error::TimestampOutOfRange {
                    seconds: i128::MAX,
                    nanos: 0,
                })?;
        Self::from_unix_nanos(total)
    }

    /// `self - earlier` in nanoseconds (negative when `self` is earlier).
    pub fn nanos_since(&self, earlier: &Timestamp) -> i128 {
        self.unix_nanos() - earlier.unix_nanos()
    }

    /// The `google.protobuf.Timestamp` for this time.
    pub fn to_prost(&self) -> prost_types::Timestamp {
        prost_types::Timestamp {
            seconds: self.seconds,
            // nanos < 1e9 always fits.
            nanos: i32::try_from(self.nanos).unwrap_or(999_999_999),
        }
    }

    /// Reads a `google.protobuf.Timestamp`, range-checked (no clamping).
    ///
    /// # Errors
    /// [`Error::TimestampOutOfRange`] for out-of-range seconds or nanos.
    pub fn from_prost(ts: &prost_types::Timestamp) -> Result<Self> {
        let nanos = u32::try_from(ts.nanos).map_err(|_| Error::TimestampOutOfRange {
            seconds: i128::from(ts.seconds),
            nanos: i64::from(ts.nanos),
        })?;
        Self::new(ts.seconds, nanos)
    }

    /// The `tsercom.ServerTimestamp` for this time.
    pub fn to_proto(&self) -> proto::ServerTimestamp {
        proto::ServerTimestamp {
            timestamp: Some(self.to_prost()),
        }
    }

    /// Reads a `tsercom.ServerTimestamp`.
    ///
    /// # Errors
    /// [`Error::MissingField`] when its `timestamp` is unset,
    /// [`Error::TimestampOutOfRange`] when it is out of range.
    pub fn from_proto(ts: &proto::ServerTimestamp) -> Result<Self> {
        let inner = ts.timestamp.as_ref().ok_or(Error::MissingField {
            message: "tsercom.ServerTimestamp",
            field: "timestamp",
        })?;
        Self::from_prost(inner)
    }
}

impl From<Timestamp> for proto::ServerTimestamp {
    fn from(t: Timestamp) -> Self {
        t.to_proto()
    }
}

impl TryFrom<&proto::ServerTimestamp> for Timestamp {
    type Error = Error;
    fn try_from(ts: &proto::ServerTimestamp) -> Result<Self> {
        Timestamp::from_proto(ts)
    }
}

impl TryFrom<proto::ServerTimestamp> for Timestamp {
    type Error = Error;
    fn try_from(ts: proto::ServerTimestamp) -> Result<Self> {
        Timestamp::from_proto(&ts)
    }
}

/// Civil date from days since 1970-01-01 (proleptic Gregorian, UTC), after
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    // d in 1..=31 and m in 1..=12 by construction.
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with nanoseconds, e.g. `2026-11-24T17:00:00.000000001Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.seconds.div_euclid(86_400);
        let secs_of_day = self.seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
            secs_of_day / 3600,
            (secs_of_day / 60) % 60,
            secs_of_day % 60,
            self.nanos
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

/// A message with a `tsercom.ServerTimestamp` field. `tsercom-build`
/// implements it for every message that has one, whatever the field is
/// called, so the runtime can stamp and read any such message generically.
pub trait Timestamped {
    /// The proto name of the wired field.
    const TIMESTAMP_FIELD: &'static str;

    /// The raw field.
    fn timestamp_field(&self) -> Option<&proto::ServerTimestamp>;

    /// The raw field, mutable.
    fn timestamp_field_mut(&mut self) -> &mut Option<proto::ServerTimestamp>;

    /// The time, range-checked: `Ok(None)` when the field is unset.
    ///
    /// # Errors
    /// [`Error::TimestampOutOfRange`] or [`Error::MissingField`] when the
    /// field is set but does not hold a valid time.
    fn timestamp(&self) -> Result<Option<Timestamp>> {
        self.timestamp_field()
            .map(Timestamp::from_proto)
            .transpose()
    }

    /// Sets the field to `time`.
    fn set_timestamp(&mut self, time: Timestamp) {
        *self.timestamp_field_mut() = Some(time.to_proto());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_is_checked_not_clamped() {
        assert!(Timestamp::new(Timestamp::MIN_SECONDS, 0).is_ok());
        assert!(Timestamp::new(Timestamp::MAX_SECONDS, 999_999_999).is_ok());
        assert!(matches!(
            Timestamp::new(Timestamp::MAX_SECONDS + 1, 0),
            Err(Error::TimestampOutOfRange { .. })
        ));
        assert!(Timestamp::new(Timestamp::MIN_SECONDS - 1, 0).is_err());
        assert!(Timestamp::new(0, 1_000_000_000).is_err());
        let negative_nanos = prost_types::Timestamp {
            seconds: 5,
            nanos: -1,
        };
        assert!(Timestamp::from_prost(&negative_nanos).is_err());
        let huge = prost_types::Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        };
        assert!(Timestamp::from_prost(&huge).is_err());
        assert!(Timestamp::MAX.offset_by_nanos(1).is_err());
        assert!(Timestamp::MIN.offset_by_nanos(-1).is_err());
        assert!(Timestamp::MAX.offset_by_nanos(i128::MAX).is_err());
    }

    #[test]
    fn offsets_in_64_bits_agree_with_the_128_bit_sum() {
        let bases = [
            Timestamp::new(1_700_000_000, 999_999_999).expect("base"),
            Timestamp::new(-5, 1).expect("base"),
            Timestamp::UNIX_EPOCH,
            Timestamp::MAX,
            Timestamp::MIN,
        ];
        let deltas: [i128; 9] = [
            0,
            1,
            -1,
            999_999_999,
            -1_000_000_001,
            2_500_000_000,
            i128::from(i64::MAX),
            i128::from(i64::MIN),
            -7_300_000_000_123,
        ];
        for base in bases {
            for delta in deltas {
                let slow = Timestamp::from_unix_nanos(base.unix_nanos() + delta);
                let fast = base.offset_by_nanos(delta);
                assert_eq!(fast.ok(), slow.ok(), "{base:?} + {delta}");
            }
        }
    }

    #[test]
    fn missing_inner_timestamp_is_an_error() {
        let empty = proto::ServerTimestamp { timestamp: None };
        assert!(matches!(
            Timestamp::from_proto(&empty),
            Err(Error::MissingField {
                field: "timestamp",
                ..
            })
        ));
    }

    #[test]
    fn nanos_round_trip_before_and_after_epoch() {
        for nanos in [
            0_i128,
            1,
            -1,
            1_764_000_000_123_456_789,
            -62_135_596_800_000_000_000,
        ] {
            let t = Timestamp::from_unix_nanos(nanos).expect("in range");
            assert_eq!(t.unix_nanos(), nanos);
            assert_eq!(Timestamp::from_proto(&t.to_proto()).expect("valid"), t);
        }
        let before = Timestamp::from_unix_nanos(-1).expect("in range");
        assert_eq!((before.seconds(), before.subsec_nanos()), (-1, 999_999_999));
    }

    #[test]
    fn display_is_rfc3339_utc() {
        assert_eq!(
            Timestamp::UNIX_EPOCH.to_string(),
            "1970-01-01T00:00:00.000000000Z"
        );
        assert_eq!(Timestamp::MIN.to_string(), "0001-01-01T00:00:00.000000000Z");
        assert_eq!(Timestamp::MAX.to_string(), "9999-12-31T23:59:59.999999999Z");
        let leap = Timestamp::new(951_782_400, 5).expect("in range"); // 2000-02-29
        assert_eq!(leap.to_string(), "2000-02-29T00:00:00.000000005Z");
        let before = Timestamp::from_unix_nanos(-1).expect("in range");
        assert_eq!(before.to_string(), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn system_time_round_trip() {
        let now = Timestamp::now();
        let sys = now.to_system_time().expect("representable");
        assert_eq!(Timestamp::from_system_time(sys).expect("in range"), now);
    }
}
