//! What a receiver starts from: shape, dtype, fill value and the chunks
//! that differ from it (`tsercom.TensorInitializer`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::value::element_count;
use super::{Chunk, Compression, DType, Tensor, TensorError};
use crate::proto;
use crate::time::Timestamp;

/// The shape, dtype and initial contents of a tensor stream: a receiver
/// (a late joiner too) starts from [`tensor`](Self::tensor).
#[derive(Clone, Debug, PartialEq)]
pub struct Initializer {
    /// The full shape.
    pub shape: Vec<usize>,
    /// The element type.
    pub dtype: DType,
    /// Every element not covered by `initial_state`.
    pub fill_value: f64,
    /// Chunks that differ from `fill_value`.
    pub initial_state: Vec<Chunk>,
}

impl Initializer {
    /// A tensor of `fill_value` everywhere.
    pub fn filled(shape: &[usize], dtype: DType, fill_value: f64) -> Initializer {
        Initializer {
            shape: shape.to_vec(),
            dtype,
            fill_value,
            initial_state: Vec::new(),
        }
    }

    /// Describes `tensor` as Python tsercom's `TensorStreamSource` does:
    /// the most frequent value is the fill (ties: the smallest), each run of
    /// other elements one chunk, stamped `at`.
    pub fn from_tensor(tensor: &Tensor, at: Timestamp) -> Initializer {
        let dtype = tensor.dtype();
        let size = dtype.size();
        let bytes = tensor.as_bytes();
        // Elements as u64 keys (at most 8 bytes each), hashed cheaply.
        let key = |e: &[u8]| {
            let mut k = [0u8; 8];
            k[..e.len()].copy_from_slice(e);
            u64::from_le_bytes(k)
        };
        let mut counts: HashMap<u64, usize, BuildHasherDefault<Mix>> = HashMap::default();
        for e in bytes.chunks_exact(size) {
            *counts.entry(key(e)).or_default() += 1;
        }
        let fill = counts
            .iter()
            .map(|(k, n)| (k.to_le_bytes()[..size].to_vec(), *n))
            .max_by(|(a, n), (b, m)| {
                n.cmp(m)
                    .then_with(|| dtype.read_f64(b).total_cmp(&dtype.read_f64(a)))
            })
            .map(|(e, _)| e);
        let fill_value = fill.as_deref().map_or(0.0, |e| dtype.read_f64(e));
        // Elements equal to the fill as the receiver writes it are left out.
        let mut fill_bytes = vec![0; size];
        dtype.write_f64(fill_value, &mut fill_bytes);
        let mut initial_state = Vec::new();
        let mut run: Option<usize> = None;
        let elements = bytes.chunks_exact(size).enumerate();
        for (i, e) in elements.chain(std::iter::once((tensor.len(), &fill_bytes[..]))) {
            match (run, e == fill_bytes.as_slice()) {
                (None, false) => run = Some(i),
                (Some(start), true) => {
                    initial_state.push(Chunk {
                        timestamp: at,
                        starting_index: start,
                        dtype,
                        data: bytes[start * size..i * size].to_vec(),
                    });
                    run = None;
                }
                _ => {}
            }
        }
        Initializer {
            shape: tensor.shape().to_vec(),
            dtype,
            fill_value,
            initial_state,
        }
    }

    /// The number of elements.
    ///
    /// # Errors
    /// [`TensorError::InvalidShape`] when too large.
    pub fn element_count(&self) -> Result<usize, TensorError> {
        element_count(&self.shape)
    }

    /// The tensor it describes: the fill, then the chunks in order.
    ///
    /// # Errors
    /// [`TensorError::IndexOutOfRange`] or [`TensorError::DTypeMismatch`]
    /// for a chunk that does not fit.
    pub fn tensor(&self) -> Result<Tensor, TensorError> {
        let mut t = Tensor::full(&self.shape, self.dtype, self.fill_value)?;
        for c in &self.initial_state {
            if c.dtype != self.dtype {
                return Err(TensorError::DTypeMismatch(format!(
                    "initial chunk of {} in a {} tensor",
                    c.dtype, self.dtype
                )));
            }
            t.write(c.starting_index, &c.data)?;
        }
        Ok(t)
    }

    /// The wire message (`initial_state` set only when it has chunks).
    pub fn to_proto(&self, compression: Compression) -> proto::TensorInitializer {
        proto::TensorInitializer {
            shape: self
                .shape
                .iter()
                .map(|d| i64::try_from(*d).unwrap_or(i64::MAX))
                .collect(),
            dtype: self.dtype.name().into(),
            fill_value: self.fill_value,
            initial_state: (!self.initial_state.is_empty())
                .then(|| super::encode_update(&self.initial_state, compression)),
        }
    }

    /// Reads the wire message.
    ///
    /// # Errors
    /// [`TensorError::UnsupportedDType`], [`TensorError::InvalidShape`], or
    /// the first initial chunk's error.
    pub fn from_proto(msg: &proto::TensorInitializer) -> Result<Initializer, TensorError> {
        let dtype = DType::from_name(&msg.dtype)?;
        let shape = msg
            .shape
            .iter()
            .map(|d| usize::try_from(*d))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| TensorError::InvalidShape(msg.shape.clone()))?;
        let len =
            element_count(&shape).map_err(|_| TensorError::InvalidShape(msg.shape.clone()))?;
        let initial_state = msg
            .initial_state
            .iter()
            .flat_map(|u| &u.chunks)
            .map(|c| Chunk::from_proto(c, dtype, len))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Initializer {
            shape,
            dtype,
            fill_value: msg.fill_value,
            initial_state,
        })
    }
}

/// A multiplicative hash for u64 keys (FxHash's): element counts need
/// speed, not DoS resistance (a tensor is the producer's own data).
#[derive(Default)]
struct Mix(u64);

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_tensor_keeps_the_mode_as_fill_and_runs_as_chunks() {
        let t = Tensor::from_slice(&[2, 4], &[5.0f32, 5.0, 1.0, 2.0, 5.0, 5.0, 5.0, 3.0])
            .expect("tensor");
        let at = Timestamp::new(10, 0).expect("time");
        let init = Initializer::from_tensor(&t, at);
        assert_eq!(init.fill_value, 5.0);
        let runs: Vec<(usize, usize)> = init
            .initial_state
            .iter()
            .map(|c| (c.starting_index, c.len()))
            .collect();
        assert_eq!(runs, vec![(2, 2), (7, 1)]);
        assert_eq!(init.tensor(), Ok(t.clone()));
        for compression in [Compression::None, Compression::Lz4] {
            let back = Initializer::from_proto(&init.to_proto(compression)).expect("parses");
            assert_eq!(back.tensor(), Ok(t.clone()));
        }
    }

    #[test]
    fn bad_initializers_are_refused() {
        let mut msg = Initializer::filled(&[3], DType::F32, 0.0).to_proto(Compression::None);
        msg.dtype = "complex64".into();
        assert!(matches!(
            Initializer::from_proto(&msg),
            Err(TensorError::UnsupportedDType(_))
        ));
        msg.dtype = "float32".into();
        msg.shape = vec![-1];
        assert!(matches!(
            Initializer::from_proto(&msg),
            Err(TensorError::InvalidShape(_))
        ));
        msg.shape = vec![i64::MAX, i64::MAX];
        assert!(matches!(
            Initializer::from_proto(&msg),
            Err(TensorError::InvalidShape(_))
        ));
    }
}
