//! The tensor value: shape, dtype and contiguous little-endian data.

use super::{DType, Element, TensorError};

/// Most elements a tensor may have (2^31): a guard against shapes read
/// from the wire that would allocate without bound.
pub const MAX_ELEMENTS: usize = 1 << 31;

/// A dense tensor: its shape, its dtype and its elements, row-major,
/// little-endian (the bytes Python tsercom puts in a chunk).
#[derive(PartialEq, Eq, Hash)]
pub struct Tensor {
    shape: Vec<usize>,
    dtype: DType,
    data: Vec<u8>,
}

impl Clone for Tensor {
    fn clone(&self) -> Self {
        Tensor {
            shape: self.shape.clone(),
            dtype: self.dtype,
            data: self.data.clone(),
        }
    }

    /// Reuses `self`'s buffers (no allocation when the sizes match): the
    /// multiplexers and demultiplexer recycle evicted states this way.
    fn clone_from(&mut self, source: &Self) {
        self.shape.clone_from(&source.shape);
        self.dtype = source.dtype;
        self.data.clone_from(&source.data);
    }
}

/// The number of elements of `shape` (1 for `[]`, a scalar).
///
/// # Errors
/// [`TensorError::InvalidShape`] past [`MAX_ELEMENTS`].
pub(crate) fn element_count(shape: &[usize]) -> Result<usize, TensorError> {
    shape
        .iter()
        .try_fold(1usize, |n, d| n.checked_mul(*d))
        .filter(|n| *n <= MAX_ELEMENTS)
        .ok_or_else(|| {
            TensorError::InvalidShape(
                shape
                    .iter()
                    .map(|d| i64::try_from(*d).unwrap_or(i64::MAX))
                    .collect(),
            )
        })
}

impl Tensor {
    /// A tensor of `shape` holding `values` (row-major).
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when `values` has another length.
    pub fn from_slice<T: Element>(shape: &[usize], values: &[T]) -> Result<Tensor, TensorError> {
        let n = element_count(shape)?;
        if n != values.len() {
            return Err(TensorError::ShapeMismatch {
                expected: shape.to_vec(),
                got: vec![values.len()],
            });
        }
        let mut data = Vec::with_capacity(n * T::DTYPE.size());
        for v in values {
            v.put(&mut data);
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            dtype: T::DTYPE,
            data,
        })
    }

    /// A 1-D tensor of `values`.
    pub fn from_vec<T: Element>(values: &[T]) -> Tensor {
        let mut data = Vec::with_capacity(values.len() * T::DTYPE.size());
        for v in values {
            v.put(&mut data);
        }
        Tensor {
            shape: vec![values.len()],
            dtype: T::DTYPE,
            data,
        }
    }

    /// A tensor of `shape` with every element `fill` (converted as torch
    /// converts a float: integers truncate, `bool` is `fill != 0`).
    ///
    /// # Errors
    /// [`TensorError::InvalidShape`] past [`MAX_ELEMENTS`].
    pub fn full(shape: &[usize], dtype: DType, fill: f64) -> Result<Tensor, TensorError> {
        let n = element_count(shape)?;
        let mut one = [0u8; 8];
        dtype.write_f64(fill, &mut one[..dtype.size()]);
        let data = if one.iter().all(|b| *b == 0) {
            vec![0; n * dtype.size()]
        } else {
            one[..dtype.size()].repeat(n)
        };
        Ok(Tensor {
            shape: shape.to_vec(),
            dtype,
            data,
        })
    }

    /// A tensor of zeros.
    ///
    /// # Errors
    /// As [`full`](Self::full).
    pub fn zeros(shape: &[usize], dtype: DType) -> Result<Tensor, TensorError> {
        Tensor::full(shape, dtype, 0.0)
    }

    /// A tensor from its little-endian element bytes.
    ///
    /// # Errors
    /// [`TensorError::DTypeMismatch`] when the bytes are not whole elements
    /// (or not valid `bool`s), [`TensorError::ShapeMismatch`] when their
    /// count is not the shape's.
    pub fn from_bytes(shape: &[usize], dtype: DType, data: Vec<u8>) -> Result<Tensor, TensorError> {
        dtype.check(&data)?;
        let n = element_count(shape)?;
        if data.len() != n * dtype.size() {
            return Err(TensorError::ShapeMismatch {
                expected: shape.to_vec(),
                got: vec![data.len() / dtype.size()],
            });
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            dtype,
            data,
        })
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements' little-endian bytes, row-major.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The elements' bytes, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }

    /// The elements as `T` (row-major).
    ///
    /// # Errors
    /// [`TensorError::DTypeMismatch`] when `T` is not the tensor's dtype.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>, TensorError> {
        if T::DTYPE != self.dtype {
            return Err(TensorError::DTypeMismatch(format!(
                "the tensor is {}, not {}",
                self.dtype,
                T::DTYPE
            )));
        }
        Ok(self
            .data
            .chunks_exact(self.dtype.size())
            .map(T::get)
            .collect())
    }

    /// Element `i` (row-major) as `f64`.
    pub fn get_f64(&self, i: usize) -> Option<f64> {
        let size = self.dtype.size();
        let bytes = self.data.get(i * size..(i + 1) * size)?;
        Some(self.dtype.read_f64(bytes))
    }

    /// The same elements under another shape of as many elements.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when the counts differ.
    pub fn reshape(mut self, shape: &[usize]) -> Result<Tensor, TensorError> {
        if element_count(shape)? != self.len() {
            return Err(TensorError::ShapeMismatch {
                expected: self.shape,
                got: shape.to_vec(),
            });
        }
        self.shape = shape.to_vec();
        Ok(self)
    }

    /// Overwrites elements from `start` with `bytes` (whole elements,
    /// checked), bounds-checked.
    pub(crate) fn write(&mut self, start: usize, bytes: &[u8]) -> Result<(), TensorError> {
        let size = self.dtype.size();
        self.dtype.check(bytes)?;
        let range = start
            .checked_mul(size)
            .and_then(|s| Some(s..s.checked_add(bytes.len())?))
            .filter(|r| r.end <= self.data.len())
            .ok_or(TensorError::IndexOutOfRange {
                start: start as u64,
                len: (bytes.len() / size) as u64,
                tensor_len: self.len(),
            })?;
        self.data[range].copy_from_slice(bytes);
        Ok(())
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<f64> = (0..self.len().min(8))
            .filter_map(|i| self.get_f64(i))
            .collect();
        write!(
            f,
            "Tensor {{ shape: {:?}, dtype: {}, first: {shown:?}{} }}",
            self.shape,
            self.dtype,
            if self.len() > 8 { ", ..." } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_round_trip_in_every_dtype() {
        let t = Tensor::from_slice(&[2, 2], &[1.5f32, -2.0, 3.25, 0.0]).expect("tensor");
        assert_eq!(t.len(), 4);
        assert_eq!(t.as_bytes()[..4], 1.5f32.to_le_bytes());
        assert_eq!(t.to_vec::<f32>(), Ok(vec![1.5, -2.0, 3.25, 0.0]));
        assert!(t.to_vec::<f64>().is_err());
        assert_eq!(
            Tensor::from_vec(&[true, false]).to_vec::<bool>(),
            Ok(vec![true, false])
        );
        assert_eq!(Tensor::from_vec(&[-3i64]).get_f64(0), Some(-3.0));
        assert_eq!(Tensor::from_vec(&[7u8, 9]).to_vec::<u8>(), Ok(vec![7, 9]));
        assert_eq!(Tensor::from_vec(&[-7i8]).to_vec::<i8>(), Ok(vec![-7]));
        assert_eq!(Tensor::from_vec(&[-7i16]).to_vec::<i16>(), Ok(vec![-7]));
        assert_eq!(Tensor::from_vec(&[-7i32]).to_vec::<i32>(), Ok(vec![-7]));
        assert_eq!(Tensor::from_vec(&[0.1f64]).to_vec::<f64>(), Ok(vec![0.1]));
    }

    #[test]
    fn shapes_are_checked() {
        assert!(Tensor::from_slice(&[3], &[1.0f32]).is_err());
        assert!(Tensor::full(&[usize::MAX, 2], DType::U8, 0.0).is_err());
        let t = Tensor::full(&[2, 3], DType::I32, 4.0).expect("full");
        assert_eq!(t.to_vec::<i32>(), Ok(vec![4; 6]));
        assert!(t.clone().reshape(&[6]).is_ok());
        assert!(t.reshape(&[5]).is_err());
        assert!(Tensor::from_bytes(&[1], DType::F32, vec![0; 3]).is_err());
        assert!(Tensor::from_bytes(&[2], DType::F32, vec![0; 4]).is_err());
    }

    #[test]
    fn writes_are_bounds_checked() {
        let mut t = Tensor::zeros(&[4], DType::F32).expect("zeros");
        t.write(2, &[0; 8]).expect("fits");
        assert!(matches!(
            t.write(3, &[0; 8]),
            Err(TensorError::IndexOutOfRange {
                start: 3,
                len: 2,
                tensor_len: 4
            })
        ));
        assert!(t.write(usize::MAX, &[0; 4]).is_err());
    }
}
