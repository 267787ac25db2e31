//! Element types, named as Python tsercom (and torch, numpy) name them.

use super::TensorError;

/// The element type of a tensor. Names as Python tsercom writes them in
/// `TensorInitializer.dtype` (`str(torch.float32)` without `torch.`).
/// `float16` is refused as unsupported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DType {
    /// `bool`: one byte, 0 or 1.
    Bool,
    /// `uint8`.
    U8,
    /// `int8`.
    I8,
    /// `int16`.
    I16,
    /// `int32`.
    I32,
    /// `int64`.
    I64,
    /// `float32`.
    F32,
    /// `float64`.
    F64,
}

impl DType {
    /// Every supported dtype.
    pub const ALL: [DType; 8] = [
        DType::Bool,
        DType::U8,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::F32,
        DType::F64,
    ];

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::I16 => 2,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    /// The name Python tsercom uses (`"float32"`, `"int64"`, `"bool"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Parses a name, case-insensitively as Python tsercom does.
    ///
    /// # Errors
    /// [`TensorError::UnsupportedDType`] for any other name (`float16`
    /// included).
    pub fn from_name(name: &str) -> Result<DType, TensorError> {
        let lower = name.to_ascii_lowercase();
        DType::ALL
            .into_iter()
            .find(|d| d.name() == lower)
            .ok_or_else(|| TensorError::UnsupportedDType(name.chars().take(64).collect()))
    }

    /// Whether values of this type are floating point.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// Checks that `bytes` are whole elements of this type (and that `bool`
    /// bytes are 0 or 1).
    pub(crate) fn check(self, bytes: &[u8]) -> Result<(), TensorError> {
        if !bytes.len().is_multiple_of(self.size()) {
            return Err(TensorError::DTypeMismatch(format!(
                "{} byte(s) are not whole {} elements ({} bytes each)",
                bytes.len(),
                self.name(),
                self.size()
            )));
        }
        if self == DType::Bool
            && let Some(b) = bytes.iter().find(|b| **b > 1)
        {
            return Err(TensorError::DTypeMismatch(format!(
                "byte {b:#04x} is not a bool (0 or 1)"
            )));
        }
        Ok(())
    }

    /// The element in `bytes` (exactly [`size`](Self::size) long) as `f64`.
    pub(crate) fn read_f64(self, b: &[u8]) -> f64 {
        match self {
            DType::Bool | DType::U8 => f64::from(b[0]),
            DType::I8 => f64::from(i8::from_le_bytes([b[0]])),
            DType::I16 => f64::from(i16::from_le_bytes([b[0], b[1]])),
            DType::I32 => f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            #[allow(clippy::cast_precision_loss)] // reading as f64 is the point; exact up to 2^53
            DType::I64 => i64::from_le_bytes(arr8(b)) as f64,
            DType::F32 => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            DType::F64 => f64::from_le_bytes(arr8(b)),
        }
    }

    /// Writes `v` into `out` (exactly [`size`](Self::size) long), converted
    /// as torch converts a Python float: integers truncate toward zero and
    /// saturate, `bool` is `v != 0`.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // the conversion is the point
    pub(crate) fn write_f64(self, v: f64, out: &mut [u8]) {
        match self {
            DType::Bool => out[0] = u8::from(v != 0.0),
            DType::U8 => out[0] = v as u8,
            DType::I8 => out.copy_from_slice(&(v as i8).to_le_bytes()),
            DType::I16 => out.copy_from_slice(&(v as i16).to_le_bytes()),
            DType::I32 => out.copy_from_slice(&(v as i32).to_le_bytes()),
            DType::I64 => out.copy_from_slice(&(v as i64).to_le_bytes()),
            DType::F32 => out.copy_from_slice(&(v as f32).to_le_bytes()),
            DType::F64 => out.copy_from_slice(&v.to_le_bytes()),
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn arr8(b: &[u8]) -> [u8; 8] {
    let mut a = [0; 8];
    a.copy_from_slice(&b[..8]);
    a
}

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that is a tensor element: `bool`, `u8`, `i8`, `i16`, `i32`,
/// `i64`, `f32`, `f64`.
pub trait Element: Copy + sealed::Sealed + 'static {
    /// Its dtype.
    const DTYPE: DType;
    /// Appends its little-endian bytes.
    fn put(self, out: &mut Vec<u8>);
    /// Reads it from little-endian bytes ([`DType::size`] long).
    fn get(bytes: &[u8]) -> Self;
}

macro_rules! element {
    ($t:ty, $d:expr) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = $d;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Self {
                let mut a = [0; std::mem::size_of::<$t>()];
                a.copy_from_slice(&bytes[..std::mem::size_of::<$t>()]);
                <$t>::from_le_bytes(a)
            }
        }
    };
}

element!(u8, DType::U8);
element!(i8, DType::I8);
element!(i16, DType::I16);
element!(i32, DType::I32);
element!(i64, DType::I64);
element!(f32, DType::F32);
element!(f64, DType::F64);

impl sealed::Sealed for bool {}
impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn put(self, out: &mut Vec<u8>) {
        out.push(u8::from(self));
    }
    fn get(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_refused() {
        for d in DType::ALL {
            assert_eq!(DType::from_name(d.name()), Ok(d));
        }
        assert_eq!(DType::from_name("Float32"), Ok(DType::F32));
        assert!(matches!(
            DType::from_name("float16"),
            Err(TensorError::UnsupportedDType(_))
        ));
    }

    #[test]
    fn check_refuses_partial_elements_and_bad_bools() {
        assert!(DType::F32.check(&[0; 8]).is_ok());
        assert!(DType::F32.check(&[0; 6]).is_err());
        assert!(DType::Bool.check(&[0, 1]).is_ok());
        assert!(DType::Bool.check(&[2]).is_err());
    }

    #[test]
    fn fill_values_convert_like_torch() {
        let mut b = [0; 8];
        DType::I64.write_f64(-2.7, &mut b);
        assert_eq!(i64::from_le_bytes(b), -2);
        let mut one = [0; 1];
        DType::Bool.write_f64(0.5, &mut one);
        assert_eq!(one, [1]);
        let mut f = [0; 4];
        DType::F32.write_f64(1.5, &mut f);
        assert_eq!(DType::F32.read_f64(&f), 1.5);
    }
}
