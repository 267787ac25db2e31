//! The NTP packet: timestamps, the reasons a client rejects a reply, and
//! the checks of RFC 4330 §5 / RFC 5905 §8 that decide it.
//!
//! ```text
//!  0      1        2      3        4..8        8..12       12..16
//!  LI|VN|Mode  Stratum  Poll  Precision  Root Delay  Root Dispersion  Reference ID
//!  16..24 Reference   24..32 Originate   32..40 Receive   40..48 Transmit
//! ```

use super::super::Timestamp;
use super::super::clock::Exchange;
use crate::error::Result;

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
pub const NTP_UNIX_OFFSET: i128 = 2_208_988_800;
/// An NTP packet without extensions.
pub const PACKET_LEN: usize = 48;

/// RFC 5905 `MAXDISP`: a server whose root distance (root delay / 2 + root
/// dispersion) reaches 16 s is not a usable time source.
const MAX_ROOT_DISTANCE_NANOS: i128 = 16_000_000_000;

/// A Unix timestamp as a 64-bit NTP timestamp (era 0/1 wrap handled by
/// truncation to 32 bits of seconds, as RFC 5905 §6 specifies).
pub fn to_ntp(t: Timestamp) -> u64 {
    let secs = i128::from(t.seconds()) + NTP_UNIX_OFFSET;
    let secs = (secs.rem_euclid(1 << 32)) as u64;
    let frac = (u64::from(t.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// An NTP timestamp as a Unix timestamp, taking the era nearest to `near`
/// (RFC 5905 §6: timestamps are unambiguous within 68 years of a known
/// time).
///
/// # Errors
/// [`Error::TimestampOutOfRange`](crate::Error::TimestampOutOfRange) when
/// the nearest era puts it outside [`Timestamp`]'s range.
pub fn from_ntp(ntp: u64, near: Timestamp) -> Result<Timestamp> {
    let secs = i128::from(ntp >> 32);
    let frac = i128::from(ntp & 0xffff_ffff);
    let nanos = (frac * 1_000_000_000 + (1 << 31)) >> 32;
    let near_ntp_secs = i128::from(near.seconds()) + NTP_UNIX_OFFSET;
    let era = (near_ntp_secs - secs + (1 << 31)).div_euclid(1 << 32);
    let unix_secs = secs + era * (1 << 32) - NTP_UNIX_OFFSET;
    Timestamp::from_unix_nanos(unix_secs * 1_000_000_000 + nanos)
}

/// How a client reads a server's reply; chosen per call
/// ([`query_with`](super::query_with), [`SntpConfig`](super::SntpConfig)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SntpMode {
    /// RFC 4330 / RFC 5905: the reply's Originate Timestamp must be our
    /// request's Transmit Timestamp (T1); Receive (T2) and Transmit (T3) are
    /// the server's clock; every check of RFC 4330 §5 applies (Kiss-o'-Death,
    /// leap indicator 3, stratum, zero or inverted times, mode, version) plus
    /// RFC 5905's root distance limit (16 s).
    ///
    /// `offset = ((T2 - T1) + (T3 - T4)) / 2`,
    /// `delay = (T4 - T1) - (T3 - T2)`.
    #[default]
    Strict,
    /// Python tsercom 1.1.x's `TimeSyncServer`
    /// (`tsercom/timesync/server/time_sync_server.py`, read in 1.1.3). It
    /// answers with Originate = 0, **Receive = its clock** (T2, its only
    /// timestamp) and, as Transmit, bytes 28..36 of the request: it unpacks
    /// the request with `struct.unpack("!B B B b 11I")` and copies items 10
    /// and 11 (the second half of Originate and the first half of Receive),
    /// meaning the request's Transmit Timestamp (items 13 and 14). A
    /// standard request has zeros there, so standard clients read
    /// Transmit = 0 and measure `(T2 - T4) / 2`, about half the offset (the
    /// Python original's halved offsets). In this mode the request carries
    /// its T1 in those bytes as well as in Transmit, so the reply echoes T1
    /// in Transmit and is identified by it (a server that echoes the real
    /// Transmit field works the same). There is no T3, so the server's time
    /// is taken as the midpoint of the round trip on our own clock:
    ///
    /// `offset = T2 - (T1 + T4) / 2`, `delay = T4 - T1` (measured on the
    /// client's clock alone; the server's processing time is inside it).
    ///
    /// The true offset lies within `offset ± delay / 2`, as in strict mode.
    /// The [`Exchange`] returned has `t3 == t2`, which makes its
    /// [`offset_nanos`](Exchange::offset_nanos) and
    /// [`delay_nanos`](Exchange::delay_nanos) exactly these formulas, so the
    /// [`OffsetEstimator`](super::super::OffsetEstimator) works unchanged.
    /// The other checks of strict mode apply except the inverted-times
    /// check (there is no server transmit time to compare).
    PythonTsercom,
}

/// A timestamp field of an NTP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NtpField {
    /// Reference Timestamp (bytes 16..24).
    Reference,
    /// Originate Timestamp (bytes 24..32): the client's T1, echoed.
    Originate,
    /// Receive Timestamp (bytes 32..40): T2, server clock.
    Receive,
    /// Transmit Timestamp (bytes 40..48): T3, server clock (Python tsercom:
    /// request bytes 28..36, echoed).
    Transmit,
}

impl NtpField {
    fn name(self) -> &'static str {
        match self {
            NtpField::Reference => "reference",
            NtpField::Originate => "originate",
            NtpField::Receive => "receive",
            NtpField::Transmit => "transmit",
        }
    }
}

impl std::fmt::Display for NtpField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an SNTP client rejected a reply (carried by
/// [`Error::SntpRejected`](crate::Error::SntpRejected)).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SntpRejection {
    /// Shorter than the 48 bytes of an NTP header.
    #[error("{len}-byte datagram, shorter than the {PACKET_LEN}-byte NTP header")]
    Truncated {
        /// Its length.
        len: usize,
    },
    /// Not mode 4 (server).
    #[error("mode {mode}, not 4 (server)")]
    WrongMode {
        /// The mode field.
        mode: u8,
    },
    /// A version other than 3 or 4.
    #[error("version {version}, not 3 or 4")]
    UnsupportedVersion {
        /// The version field.
        version: u8,
    },
    /// Stratum 0: a Kiss-o'-Death message (RFC 4330 §8, RFC 5905 §7.4);
    /// the server asks the client to stop (`DENY`, `RSTR`) or slow down
    /// (`RATE`).
    #[error("Kiss-o'-Death, code {code:?}")]
    KissOfDeath {
        /// The kiss code: the Reference ID's four bytes as ASCII (others
        /// escaped as `\xNN`).
        code: String,
    },
    /// The field that must carry our request's Transmit Timestamp does not:
    /// a stale or foreign reply, or a server of the other [`SntpMode`].
    #[error(
        "{field} timestamp {received:#018x} is not our request's {expected:#018x}{}",
        match shape_of {
            Some(SntpMode::PythonTsercom) => " (the reply has Python tsercom's shape: originate 0, \
                                               our timestamp in transmit; use SntpMode::PythonTsercom)",
            Some(SntpMode::Strict) => " (the reply has the standard shape: our timestamp in \
                                        originate; use SntpMode::Strict)",
            None => "",
        }
    )]
    OriginMismatch {
        /// Which field was checked: [`NtpField::Originate`] in strict mode,
        /// [`NtpField::Transmit`] in Python tsercom mode.
        field: NtpField,
        /// Our request's Transmit Timestamp (raw NTP).
        expected: u64,
        /// What the field held (raw NTP).
        received: u64,
        /// The mode the reply would have been valid in, when it has the
        /// other mode's shape.
        shape_of: Option<SntpMode>,
    },
    /// Leap indicator 3: the server's clock is not synchronized.
    #[error("leap indicator 3: the server's clock is unsynchronized")]
    Unsynchronized,
    /// Stratum above 15 (16 is "unsynchronized", the rest reserved).
    #[error("stratum {stratum}, not 1..=15")]
    StratumOutOfRange {
        /// The stratum field.
        stratum: u8,
    },
    /// A timestamp that must be set is zero.
    #[error("{field} timestamp is zero")]
    ZeroTimestamp {
        /// Which one.
        field: NtpField,
    },
    /// The server sent its reply before it received the request.
    #[error("transmit time {transmit} is before receive time {receive}")]
    Inverted {
        /// Receive Timestamp (T2).
        receive: Timestamp,
        /// Transmit Timestamp (T3).
        transmit: Timestamp,
    },
    /// Root delay / 2 + root dispersion reaches RFC 5905's 16 s limit.
    #[error("root distance {nanos} ns reaches the 16 s limit")]
    RootDistance {
        /// The root distance, in nanoseconds.
        nanos: i128,
    },
    /// A timestamp does not fit [`Timestamp`]'s range in any NTP era near
    /// our clock.
    #[error("{field} timestamp is out of range")]
    OutOfRange {
        /// Which one.
        field: NtpField,
    },
}

/// A rejected datagram and whether it ends the query.
#[derive(Debug)]
pub(super) struct Rejected {
    pub(super) reason: SntpRejection,
    /// The datagram answers our request (it carries our T1) or is a
    /// Kiss-o'-Death: the query ends with `reason`. Otherwise it may be a
    /// stray and the client keeps waiting.
    pub(super) final_: bool,
}

fn field(packet: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(bytes) = packet.get(at..at + 8) {
        b.copy_from_slice(bytes);
    }
    u64::from_be_bytes(b)
}

fn short_format_nanos(packet: &[u8], at: usize) -> i128 {
    let mut b = [0u8; 4];
    if let Some(bytes) = packet.get(at..at + 4) {
        b.copy_from_slice(bytes);
    }
    // NTP short format: 16 bits of seconds, 16 of fraction (unsigned).
    (i128::from(u32::from_be_bytes(b)) * 1_000_000_000) >> 16
}

fn kiss_code(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

/// Checks `reply` against our request (sent at `t1`, as `t1_ntp` on the
/// wire) and `mode`; `t4` is its arrival on our clock.
pub(super) fn check_reply(
    reply: &[u8],
    mode: SntpMode,
    t1: Timestamp,
    t1_ntp: u64,
    t4: Timestamp,
) -> std::result::Result<Exchange, Rejected> {
    if reply.len() < PACKET_LEN {
        return Err(Rejected {
            reason: SntpRejection::Truncated { len: reply.len() },
            final_: false,
        });
    }
    let origin = field(reply, 24);
    let receive = field(reply, 32);
    let transmit = field(reply, 40);
    // Ours: it carries our T1 (in Originate, or in Transmit as Python
    // tsercom echoes it), or its Originate is zero — a server that does not
    // echo it at all; a stale reply to an earlier request would carry that
    // request's (non-zero) T1.
    let ours = origin == t1_ntp || transmit == t1_ntp || origin == 0;
    let reject = |reason| Rejected {
        reason,
        final_: ours,
    };
    let leap = reply[0] >> 6;
    let version = (reply[0] >> 3) & 0x7;
    let packet_mode = reply[0] & 0x7;
    let stratum = reply[1];
    if packet_mode != 4 {
        return Err(reject(SntpRejection::WrongMode { mode: packet_mode }));
    }
    if !(3..=4).contains(&version) {
        return Err(reject(SntpRejection::UnsupportedVersion { version }));
    }
    if stratum == 0 {
        // Final even without our timestamp: some servers zero every field
        // of a kiss, and the server asked us to back off either way.
        return Err(Rejected {
            reason: SntpRejection::KissOfDeath {
                code: kiss_code(&reply[12..16]),
            },
            final_: true,
        });
    }
    let (checked, received) = match mode {
        SntpMode::Strict => (NtpField::Originate, origin),
        SntpMode::PythonTsercom => (NtpField::Transmit, transmit),
    };
    if received != t1_ntp {
        let shape_of = match mode {
            // Python tsercom echoes request bytes 28..36, zero in a
            // strict request (or our T1, from a request of the other mode).
            SntpMode::Strict if origin == 0 && (transmit == 0 || transmit == t1_ntp) => {
                Some(SntpMode::PythonTsercom)
            }
            SntpMode::PythonTsercom if origin == t1_ntp => Some(SntpMode::Strict),
            _ => None,
        };
        return Err(reject(SntpRejection::OriginMismatch {
            field: checked,
            expected: t1_ntp,
            received,
            shape_of,
        }));
    }
    if leap == 3 {
        return Err(reject(SntpRejection::Unsynchronized));
    }
    if stratum > 15 {
        return Err(reject(SntpRejection::StratumOutOfRange { stratum }));
    }
    if receive == 0 {
        return Err(reject(SntpRejection::ZeroTimestamp {
            field: NtpField::Receive,
        }));
    }
    if transmit == 0 {
        return Err(reject(SntpRejection::ZeroTimestamp {
            field: NtpField::Transmit,
        }));
    }
    let root_distance = short_format_nanos(reply, 4) / 2 + short_format_nanos(reply, 8);
    if root_distance >= MAX_ROOT_DISTANCE_NANOS {
        return Err(reject(SntpRejection::RootDistance {
            nanos: root_distance,
        }));
    }
    let decode =
        |raw, field| from_ntp(raw, t1).map_err(|_| reject(SntpRejection::OutOfRange { field }));
    let t2 = decode(receive, NtpField::Receive)?;
    match mode {
        SntpMode::Strict => {
            let t3 = decode(transmit, NtpField::Transmit)?;
            if t3 < t2 {
                return Err(reject(SntpRejection::Inverted {
                    receive: t2,
                    transmit: t3,
                }));
            }
            Ok(Exchange { t1, t2, t3, t4 })
        }
        SntpMode::PythonTsercom => Ok(Exchange { t1, t2, t3: t2, t4 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1 << 32;

    fn t1() -> Timestamp {
        Timestamp::new(1_700_000_000, 0).expect("in range")
    }

    fn reply(first: u8, stratum: u8, origin: u64, receive: u64, transmit: u64) -> [u8; PACKET_LEN] {
        let mut r = [0u8; PACKET_LEN];
        r[0] = first;
        r[1] = stratum;
        r[24..32].copy_from_slice(&origin.to_be_bytes());
        r[32..40].copy_from_slice(&receive.to_be_bytes());
        r[40..48].copy_from_slice(&transmit.to_be_bytes());
        r
    }

    fn check(r: &[u8], mode: SntpMode) -> std::result::Result<Exchange, Rejected> {
        let t1 = t1();
        check_reply(r, mode, t1, to_ntp(t1), t1)
    }

    #[test]
    fn ntp_timestamps_round_trip_to_within_a_nanosecond() {
        for nanos in [0_i128, 1_700_000_000_123_456_789, 4_102_444_800_000_000_001] {
            let t = Timestamp::from_unix_nanos(nanos).expect("in range");
            let back = from_ntp(to_ntp(t), t).expect("in range");
            assert!((back.unix_nanos() - nanos).abs() <= 1, "{t} -> {back}");
        }
        // 2036 era rollover: a time just after it decodes next to `near`.
        let after = Timestamp::new(2_085_978_496 + 10, 0).expect("in range");
        assert_eq!(to_ntp(after) >> 32, 10);
        assert_eq!(from_ntp(to_ntp(after), after).expect("in range"), after);
    }

    #[test]
    fn each_defect_has_its_reason() {
        let t = to_ntp(t1());
        let good = reply(0b00_100_100, 2, t, t + SECOND, t + SECOND);
        let e = check(&good, SntpMode::Strict).expect("valid");
        assert_eq!(e.offset_nanos(), 1_000_000_000);

        let mut root = good;
        root[8..10].copy_from_slice(&16_u16.to_be_bytes()); // 16 s dispersion
        let cases: [(&[u8], SntpRejection); 10] = [
            (&good[..47], SntpRejection::Truncated { len: 47 }),
            (
                &reply(0b00_100_011, 2, t, t, t),
                SntpRejection::WrongMode { mode: 3 },
            ),
            (
                &reply(0b00_010_100, 2, t, t, t),
                SntpRejection::UnsupportedVersion { version: 2 },
            ),
            (
                &reply(0b11_100_100, 2, t, t, t),
                SntpRejection::Unsynchronized,
            ),
            (
                &reply(0b00_100_100, 16, t, t, t),
                SntpRejection::StratumOutOfRange { stratum: 16 },
            ),
            (
                &reply(0b00_100_100, 2, t, 0, t),
                SntpRejection::ZeroTimestamp {
                    field: NtpField::Receive,
                },
            ),
            (
                &reply(0b00_100_100, 2, t, t, 0),
                SntpRejection::ZeroTimestamp {
                    field: NtpField::Transmit,
                },
            ),
            (
                &reply(0b00_100_100, 2, t, t + SECOND, t),
                SntpRejection::Inverted {
                    receive: from_ntp(t + SECOND, t1()).expect("in range"),
                    transmit: t1(),
                },
            ),
            (
                &reply(0b00_100_100, 2, t + 1, t, t + 2),
                SntpRejection::OriginMismatch {
                    field: NtpField::Originate,
                    expected: t,
                    received: t + 1,
                    shape_of: None,
                },
            ),
            (
                &root,
                SntpRejection::RootDistance {
                    nanos: 16_000_000_000,
                },
            ),
        ];
        for (packet, reason) in cases {
            let rejected = check(packet, SntpMode::Strict).expect_err("rejected");
            assert_eq!(rejected.reason, reason);
        }
    }

    #[test]
    fn kiss_o_death_reports_its_code_even_with_zero_times() {
        let mut kiss = reply(0b11_100_100, 0, 0, 0, 0);
        kiss[12..16].copy_from_slice(b"RATE");
        let rejected = check(&kiss, SntpMode::Strict).expect_err("kiss");
        assert!(rejected.final_);
        assert_eq!(
            rejected.reason,
            SntpRejection::KissOfDeath {
                code: "RATE".into()
            }
        );
        kiss[12..16].copy_from_slice(&[b'X', 0, 1, b'Y']);
        let rejected = check(&kiss, SntpMode::Strict).expect_err("kiss");
        assert_eq!(
            rejected.reason.to_string(),
            r#"Kiss-o'-Death, code "X\\x00\\x01Y""#
        );
    }

    #[test]
    fn python_tsercom_shape_is_rejected_strictly_and_read_in_its_mode() {
        let t = to_ntp(t1());
        // Python: originate 0, receive = server time, transmit = our T1.
        let python = reply(0b00_100_100, 1, 0, t + 30 * SECOND, t);
        let rejected = check(&python, SntpMode::Strict).expect_err("strict");
        assert!(rejected.final_, "identified by the echoed T1");
        assert!(matches!(
            rejected.reason,
            SntpRejection::OriginMismatch {
                field: NtpField::Originate,
                received: 0,
                shape_of: Some(SntpMode::PythonTsercom),
                ..
            }
        ));
        assert!(rejected.reason.to_string().contains("PythonTsercom"));
        // What it sends a strict request (zeros at 28..36): transmit 0.
        let to_strict = reply(0b00_100_100, 1, 0, t + 30 * SECOND, 0);
        let rejected = check(&to_strict, SntpMode::Strict).expect_err("strict");
        assert!(rejected.final_, "a zero origin is never a stale reply");
        assert!(matches!(
            rejected.reason,
            SntpRejection::OriginMismatch {
                shape_of: Some(SntpMode::PythonTsercom),
                ..
            }
        ));
        let e = check(&python, SntpMode::PythonTsercom).expect("compat");
        assert_eq!((e.offset_nanos(), e.delay_nanos()), (30_000_000_000, 0));
        assert_eq!(e.t3, e.t2);

        // A standard reply read in Python mode says so.
        let standard = reply(0b00_100_100, 1, t, t + 5, t + 6);
        let rejected = check(&standard, SntpMode::PythonTsercom).expect_err("compat");
        assert!(matches!(
            rejected.reason,
            SntpRejection::OriginMismatch {
                field: NtpField::Transmit,
                shape_of: Some(SntpMode::Strict),
                ..
            }
        ));
    }

    #[test]
    fn strays_do_not_end_the_query() {
        let t = to_ntp(t1());
        let stray = reply(0b00_100_100, 2, t - SECOND, t + 1, t + 2);
        assert!(!check(&stray, SntpMode::Strict).expect_err("stray").final_);
        assert!(
            !check(&[0u8; 12], SntpMode::Strict)
                .expect_err("short")
                .final_
        );
        let ours_but_unsynchronized = reply(0b11_100_100, 2, t, t, t);
        assert!(
            check(&ours_but_unsynchronized, SntpMode::Strict)
                .expect_err("unsynchronized")
                .final_
        );
    }

    #[test]
    fn random_replies_with_our_origin_are_rejected() {
        // The issue measured 660 021 of 660 021 accepted; header checks
        // (LI, version, mode, stratum, root distance) now refuse them.
        let t = to_ntp(t1());
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut accepted = 0;
        let total = 200_000;
        for _ in 0..total {
            let mut r = [0u8; PACKET_LEN];
            for chunk in r.chunks_mut(8) {
                chunk.copy_from_slice(&next().to_be_bytes());
            }
            r[24..32].copy_from_slice(&t.to_be_bytes());
            if check(&r, SntpMode::Strict).is_ok() {
                accepted += 1;
            }
        }
        assert!(accepted * 10_000 <= total, "{accepted} of {total} accepted");
    }
}
