//! Chunks: a contiguous run of elements of the flattened tensor at one
//! time, and their wire form (`tsercom.TensorChunk`, LZ4 frame format).

use std::io::{Read, Write};

use super::{DType, TensorError};
use crate::proto;
use crate::proto::tensor_chunk::CompressionType;
use crate::time::Timestamp;

/// How a chunk's bytes travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Raw little-endian element bytes.
    #[default]
    None,
    /// One LZ4 frame (the LZ4 frame format, as Python's `lz4.frame`), for
    /// every chunk.
    Lz4,
    /// An LZ4 frame where it makes the chunk smaller, raw bytes elsewhere
    /// (each chunk says which: receivers, Python's too, read that). Chunks
    /// under 64 bytes are not tried (a frame's own bytes would outweigh
    /// the gain).
    Auto,
}

/// A run of elements of the flattened (row-major) tensor at one time.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Chunk {
    /// The time of the tensor state this chunk belongs to.
    pub timestamp: Timestamp,
    /// Index, in elements, of the first element.
    pub starting_index: usize,
    /// The elements' dtype.
    pub dtype: DType,
    /// The elements, little-endian, uncompressed.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Chunk {{ t: {}, start: {}, {} x {} }}",
            self.timestamp,
            self.starting_index,
            self.len(),
            self.dtype
        )
    }
}

impl Chunk {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The wire message, its bytes compressed as asked.
    pub fn to_proto(&self, compression: Compression) -> proto::TensorChunk {
        let (data_bytes, kind) = match compression {
            Compression::None => (self.data.clone(), CompressionType::None),
            Compression::Lz4 => (lz4_compress(&self.data), CompressionType::Lz4),
            Compression::Auto if self.data.len() < 64 => (self.data.clone(), CompressionType::None),
            Compression::Auto => {
                let packed = lz4_compress(&self.data);
                if packed.len() < self.data.len() {
                    (packed, CompressionType::Lz4)
                } else {
                    (self.data.clone(), CompressionType::None)
                }
            }
        };
        proto::TensorChunk {
            timestamp: Some(self.timestamp.to_proto()),
            starting_index: i64::try_from(self.starting_index).unwrap_or(i64::MAX),
            data_bytes,
            compression: kind as i32,
        }
    }

    /// Reads a wire chunk of a stream of `dtype` whose tensor has
    /// `tensor_len` elements (which bounds both the index and what an LZ4
    /// frame may decompress to).
    ///
    /// # Errors
    /// [`TensorError::BadTimestamp`], [`TensorError::NegativeIndex`],
    /// [`TensorError::UnknownCompression`], [`TensorError::CorruptLz4`],
    /// [`TensorError::TooLarge`], [`TensorError::DTypeMismatch`],
    /// [`TensorError::IndexOutOfRange`].
    pub fn from_proto(
        msg: &proto::TensorChunk,
        dtype: DType,
        tensor_len: usize,
    ) -> Result<Chunk, TensorError> {
        let timestamp = msg
            .timestamp
            .as_ref()
            .ok_or_else(|| TensorError::BadTimestamp("missing".into()))
            .and_then(|t| {
                Timestamp::from_proto(t).map_err(|e| TensorError::BadTimestamp(e.to_string()))
            })?;
        let start = usize::try_from(msg.starting_index)
            .map_err(|_| TensorError::NegativeIndex(msg.starting_index))?;
        let limit = tensor_len.saturating_mul(dtype.size());
        let data = match CompressionType::try_from(msg.compression) {
            Ok(CompressionType::None) => msg.data_bytes.clone(),
            Ok(CompressionType::Lz4) => lz4_decompress(&msg.data_bytes, limit)?,
            Err(_) => return Err(TensorError::UnknownCompression(msg.compression)),
        };
        dtype.check(&data)?;
        let chunk = Chunk {
            timestamp,
            starting_index: start,
            dtype,
            data,
        };
        if start
            .checked_add(chunk.len())
            .is_none_or(|end| end > tensor_len)
        {
            return Err(TensorError::IndexOutOfRange {
                start: start as u64,
                len: chunk.len() as u64,
                tensor_len,
            });
        }
        Ok(chunk)
    }
}

/// `chunks` as one `tsercom.TensorUpdate`.
pub fn encode_update(chunks: &[Chunk], compression: Compression) -> proto::TensorUpdate {
    proto::TensorUpdate {
        chunks: chunks.iter().map(|c| c.to_proto(compression)).collect(),
    }
}

/// Compresses `data` into one LZ4 frame.
pub fn lz4_compress(data: &[u8]) -> Vec<u8> {
    let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 2 + 64));
    // Writing to a Vec cannot fail; an error here would be a bug in lz4_flex.
    match encoder.write_all(data).map(|()| encoder.finish()) {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => unreachable!("lz4 frame to memory: {e}"),
        Err(e) => unreachable!("lz4 frame to memory: {e}"),
    }
}

/// Decompresses one LZ4 frame of at most `limit` bytes.
///
/// # Errors
/// [`TensorError::CorruptLz4`] when it does not decode,
/// [`TensorError::TooLarge`] past `limit`.
pub fn lz4_decompress(frame: &[u8], limit: usize) -> Result<Vec<u8>, TensorError> {
    let mut out = Vec::new();
    let mut decoder = lz4_flex::frame::FrameDecoder::new(frame)
        .take(u64::try_from(limit).unwrap_or(u64::MAX) + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| TensorError::CorruptLz4(e.to_string()))?;
    if out.len() > limit {
        return Err(TensorError::TooLarge { limit });
    }
    // lz4_flex accepts a frame cut at a block boundary; a whole frame ends
    // with the EndMark (four zero bytes), then the content checksum when
    // the header's FLG byte (offset 4) says there is one.
    let checksum = frame.get(4).is_some_and(|flg| flg & 0x04 != 0);
    let tail = if checksum { 8 } else { 4 };
    let end_mark = frame
        .len()
        .checked_sub(tail)
        .and_then(|at| frame.get(at..at + 4));
    if frame.len() < 7 + tail || end_mark != Some(&[0, 0, 0, 0][..]) {
        return Err(TensorError::CorruptLz4(
            "incomplete frame (no EndMark)".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(start: usize, values: &[f32]) -> Chunk {
        Chunk {
            timestamp: Timestamp::new(1_700_000_000, 5).expect("time"),
            starting_index: start,
            dtype: DType::F32,
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    #[test]
    fn round_trips_with_and_without_lz4() {
        let c = chunk(3, &[1.0, 2.0, 2.0, 2.0]);
        for compression in [Compression::None, Compression::Lz4] {
            let wire = c.to_proto(compression);
            assert_eq!(Chunk::from_proto(&wire, DType::F32, 7), Ok(c.clone()));
        }
        assert_eq!(c.to_proto(Compression::None).data_bytes, c.data);
        // An LZ4 frame starts with the frame magic number 0x184D2204.
        assert_eq!(
            c.to_proto(Compression::Lz4).data_bytes[..4],
            [0x04, 0x22, 0x4d, 0x18]
        );
        // Auto: raw where LZ4 would not help, LZ4 where it does.
        assert_eq!(
            c.to_proto(Compression::Auto).compression,
            CompressionType::None as i32
        );
        let zeros = chunk(0, &[0.0; 100]);
        let auto = zeros.to_proto(Compression::Auto);
        assert_eq!(auto.compression, CompressionType::Lz4 as i32);
        assert!(auto.data_bytes.len() < 100);
        assert_eq!(Chunk::from_proto(&auto, DType::F32, 100), Ok(zeros));
    }

    #[test]
    fn bad_chunks_are_refused() {
        let c = chunk(3, &[1.0, 2.0]);
        let mut wire = c.to_proto(Compression::None);
        assert!(matches!(
            Chunk::from_proto(&wire, DType::F32, 4),
            Err(TensorError::IndexOutOfRange {
                start: 3,
                len: 2,
                tensor_len: 4
            })
        ));
        // 8 bytes are one f64: a dtype the bytes happen to fit passes.
        assert!(Chunk::from_proto(&wire, DType::F64, 100).is_ok());
        wire.data_bytes.pop();
        assert!(matches!(
            Chunk::from_proto(&wire, DType::F32, 100),
            Err(TensorError::DTypeMismatch(_))
        ));
        let mut neg = c.to_proto(Compression::None);
        neg.starting_index = -1;
        assert_eq!(
            Chunk::from_proto(&neg, DType::F32, 100),
            Err(TensorError::NegativeIndex(-1))
        );
        let good = c.to_proto(Compression::Lz4);
        let n = good.data_bytes.len();
        let mut corrupt = Vec::new();
        let mut magic = good.clone();
        magic.data_bytes[0] ^= 0xff;
        corrupt.push(magic);
        let mut truncated = good.clone();
        truncated.data_bytes.truncate(n - 2);
        corrupt.push(truncated);
        let mut no_end = good.clone();
        no_end.data_bytes.truncate(n - 4);
        corrupt.push(no_end);
        let mut garbage = good.clone();
        garbage.data_bytes = vec![0x04, 0x22, 0x4d, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff];
        corrupt.push(garbage);
        let mut empty = good;
        empty.data_bytes.clear();
        corrupt.push(empty);
        for lz in corrupt {
            assert!(
                matches!(
                    Chunk::from_proto(&lz, DType::F32, 100),
                    Err(TensorError::CorruptLz4(_))
                ),
                "{:?}",
                lz.data_bytes
            );
        }
        let mut unknown = c.to_proto(Compression::None);
        unknown.compression = 7;
        assert_eq!(
            Chunk::from_proto(&unknown, DType::F32, 100),
            Err(TensorError::UnknownCompression(7))
        );
        let mut untimed = c.to_proto(Compression::None);
        untimed.timestamp = None;
        assert!(matches!(
            Chunk::from_proto(&untimed, DType::F32, 100),
            Err(TensorError::BadTimestamp(_))
        ));
        let big = chunk(0, &[0.0; 64]).to_proto(Compression::Lz4);
        assert_eq!(
            Chunk::from_proto(&big, DType::F32, 8),
            Err(TensorError::TooLarge { limit: 32 })
        );
    }
}
