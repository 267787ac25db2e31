//! The rules for the text values a user writes in `#[tsercom::runtime(...)]`
//! and in a runtime's configuration — DNS-SD service types and mDNS
//! interface selections — in one place, so that the macro (at compile
//! time) and the runtime (at `register`) accept exactly the same inputs.
//!
//! Both `tsercom-macros` (which cannot depend on `tsercom`) and `tsercom`
//! depend on this crate; each words its own errors from the rule that
//! failed, which comes from here. Not a public API: use it through
//! `tsercom`.
//!
//! ```
//! use tsercom_validate::{ServiceTypeError, parse_service_type};
//!
//! let t = parse_service_type("_sensors._tcp.local.").expect("valid");
//! assert_eq!((t.name, t.protocol), ("sensors", "_tcp"));
//! assert_eq!(
//!     parse_service_type("_-sensors._tcp"),
//!     Err(ServiceTypeError::EdgeHyphen("-sensors"))
//! );
//! ```

/// A valid service type's parts: `_sensors._tcp` has the name `sensors`
/// (without its `_`) and the protocol `_tcp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceType<'a> {
    /// The service name, without its leading `_`: 1 to 15 letters, digits
    /// and inner `-` (RFC 6763 §7.2).
    pub name: &'a str,
    /// `_tcp` or `_udp`.
    pub protocol: &'a str,
}

/// The rule a service type breaks (the first, in the order listed).
/// Exhaustive on purpose: a new rule must be worded on both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceTypeError<'a> {
    /// Not two labels `_name._proto` (optionally followed by `.local` or
    /// `.local.`).
    Shape,
    /// The protocol label (given) is neither `_tcp` nor `_udp`.
    Protocol(&'a str),
    /// The name label (given) does not start with `_`.
    NoUnderscore(&'a str),
    /// The name (given, without its `_`) is empty or longer than 15
    /// characters.
    Length(&'a str),
    /// The name (given, without its `_`) holds something other than ASCII
    /// letters, digits and `-`.
    Character(&'a str),
    /// The name (given, without its `_`) starts or ends with `-`.
    EdgeHyphen(&'a str),
}

/// Splits `text` into its name label (with its `_`) and its protocol label,
/// after dropping trailing dots and a `.local` suffix; no rule on the
/// labels themselves is checked.
///
/// # Errors
/// [`ServiceTypeError::Shape`] when there are not exactly two labels.
pub fn split_service_type(text: &str) -> Result<(&str, &str), ServiceTypeError<'_>> {
    let trimmed = text.trim_end_matches('.');
    let trimmed = trimmed.strip_suffix(".local").unwrap_or(trimmed);
    let mut parts = trimmed.split('.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), Some(protocol), None) => Ok((name, protocol)),
        _ => Err(ServiceTypeError::Shape),
    }
}

/// Checks a protocol label: `_tcp` or `_udp`.
///
/// # Errors
/// [`ServiceTypeError::Protocol`].
pub fn check_protocol(protocol: &str) -> Result<(), ServiceTypeError<'_>> {
    match protocol {
        "_tcp" | "_udp" => Ok(()),
        other => Err(ServiceTypeError::Protocol(other)),
    }
}

/// Checks a name label (`_sensors`) and returns the name without its `_`.
///
/// # Errors
/// [`ServiceTypeError::NoUnderscore`], [`ServiceTypeError::Length`],
/// [`ServiceTypeError::Character`] or [`ServiceTypeError::EdgeHyphen`],
/// checked in that order.
pub fn check_service_name(label: &str) -> Result<&str, ServiceTypeError<'_>> {
    let Some(name) = label.strip_prefix('_') else {
        return Err(ServiceTypeError::NoUnderscore(label));
    };
    if name.is_empty() || name.len() > 15 {
        return Err(ServiceTypeError::Length(name));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ServiceTypeError::Character(name));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(ServiceTypeError::EdgeHyphen(name));
    }
    Ok(name)
}

/// Parses `_name._tcp` / `_name._udp`, optionally followed by `.local` or
/// `.local.`: the shape, then the protocol, then the name.
///
/// # Errors
/// The first rule broken, in that order.
pub fn parse_service_type(text: &str) -> Result<ServiceType<'_>, ServiceTypeError<'_>> {
    let (label, protocol) = split_service_type(text)?;
    check_protocol(protocol)?;
    let name = check_service_name(label)?;
    Ok(ServiceType { name, protocol })
}

/// Where mDNS runs, as a user writes it: `all`, `loopback`, `ipv4`, `ipv6`
/// or interface names separated by `,`. Exhaustive on purpose: a new
/// selection must be handled on both sides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterfaceSelection {
    /// `all`.
    All,
    /// `loopback`.
    Loopback,
    /// `ipv4`.
    Ipv4,
    /// `ipv6`.
    Ipv6,
    /// `eth0,eth1`: each name trimmed, none empty, none with inner
    /// whitespace.
    Named(Vec<String>),
}

/// Parses an interface selection (surrounding whitespace ignored); `None`
/// when it is none (an empty list, an empty name, a name with whitespace).
pub fn parse_interfaces(text: &str) -> Option<InterfaceSelection> {
    Some(match text.trim() {
        "all" => InterfaceSelection::All,
        "loopback" => InterfaceSelection::Loopback,
        "ipv4" => InterfaceSelection::Ipv4,
        "ipv6" => InterfaceSelection::Ipv6,
        names => {
            let names: Vec<String> = names.split(',').map(|n| n.trim().to_owned()).collect();
            if names
                .iter()
                .any(|n| n.is_empty() || n.contains(char::is_whitespace))
            {
                return None;
            }
            InterfaceSelection::Named(names)
        }
    })
}

/// The table both sides test against: each input and whether it is valid.
/// `tsercom`'s and `tsercom-macros`' unit tests check their own verdict on
/// every row, so the two agree on all of them.
#[doc(hidden)]
pub mod cases {
    /// Service types (as `publish` / mDNS `discover` take them).
    pub const SERVICE_TYPES: &[(&str, bool)] = &[
        ("_sensors._tcp", true),
        ("_sensors._tcp.local", true),
        ("_sensors._tcp.local.", true),
        ("_a-b1._udp", true),
        ("_a._tcp", true),
        ("_fifteen-chars15._tcp", true),
        ("_sixteen-chars-16._tcp", false),
        ("_._tcp", false),
        ("sensors._tcp", false),
        ("sensors.tcp", false),
        ("_sensors", false),
        ("_sensors._sctp", false),
        ("_sensors.tcp", false),
        ("_bad name._tcp", false),
        ("_bad_name._tcp", false),
        ("_-sensors._tcp", false),
        ("_sensors-._tcp", false),
        ("_-._tcp", false),
        ("_sensors._tcp.example.com.", false),
        ("", false),
    ];

    /// Interface selections (as `interfaces` takes them).
    pub const INTERFACE_LISTS: &[(&str, bool)] = &[
        ("all", true),
        ("loopback", true),
        ("ipv4", true),
        (" ipv6 ", true),
        ("eth0", true),
        ("eth0,eth1", true),
        ("eth0, eth1", true),
        ("eth 0", false),
        ("eth0,", false),
        (",eth0", false),
        ("eth0,,eth1", false),
        ("", false),
        ("   ", false),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_matches_the_rules() {
        for &(text, valid) in cases::SERVICE_TYPES {
            assert_eq!(parse_service_type(text).is_ok(), valid, "{text:?}");
        }
        for &(text, valid) in cases::INTERFACE_LISTS {
            assert_eq!(parse_interfaces(text).is_some(), valid, "{text:?}");
        }
    }

    #[test]
    fn rules_are_checked_in_order() {
        assert_eq!(
            parse_service_type("sensors.tcp"),
            Err(ServiceTypeError::Protocol("tcp"))
        );
        assert_eq!(
            parse_service_type("sensors._tcp"),
            Err(ServiceTypeError::NoUnderscore("sensors"))
        );
        assert_eq!(
            parse_service_type("_sensors-._tcp"),
            Err(ServiceTypeError::EdgeHyphen("sensors-"))
        );
        assert_eq!(
            parse_service_type("_bad name._tcp"),
            Err(ServiceTypeError::Character("bad name"))
        );
        assert_eq!(
            parse_interfaces("eth0, eth1"),
            Some(InterfaceSelection::Named(vec![
                "eth0".into(),
                "eth1".into()
            ]))
        );
    }
}
