#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    unused_qualifications,
    non_camel_case_types,
    clippy::all,
    clippy::pedantic,
    clippy::nursery
)]
/// A unit of measure, imported by `golden.full`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    ::tsercom::__private::prost::Enumeration
)]
#[prost(prost_path = "::tsercom::__private::prost")]
#[repr(i32)]
pub enum Unit {
    Unspecified = 0,
    Celsius = 1,
}
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    unused_qualifications,
    non_camel_case_types,
    clippy::all,
    clippy::pedantic,
    clippy::nursery
)]
impl Unit {
    /// String value of the enum field names used in the ProtoBuf definition.
    ///
    /// The values are not transformed in any way and thus are considered stable
    /// (if the ProtoBuf definition does not change) and safe for programmatic use.
    pub fn as_str_name(&self) -> &'static str {
        match self {
            Self::Unspecified => "UNIT_UNSPECIFIED",
            Self::Celsius => "UNIT_CELSIUS",
        }
    }
    /// Creates an enum from field names used in the ProtoBuf definition.
    pub fn from_str_name(value: &str) -> ::core::option::Option<Self> {
        match value {
            "UNIT_UNSPECIFIED" => ::core::option::Option::Some(Self::Unspecified),
            "UNIT_CELSIUS" => ::core::option::Option::Some(Self::Celsius),
            _ => ::core::option::Option::None,
        }
    }
}
